import { pino, type Logger } from 'pino';

export type { Logger };

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** Normalise Calico-style severities ("Info", "WARNING", "none") to pino levels. */
export function normaliseLevel(level: string | undefined, fallback = 'info'): string {
  if (!level) return fallback;
  const l = level.toLowerCase();
  if (l === 'warning') return 'warn';
  if (l === 'none') return 'silent';
  if (l === 'critical') return 'fatal';
  return LEVELS.has(l) ? l : fallback;
}

/**
 * JSON logs on stderr (stdout belongs to CLI output and CNI results).
 * `component` becomes a field on every line of the child logger.
 */
export function createLogger(component: string, level?: string, dest: number | string = 2): Logger {
  const root = pino(
    { level: normaliseLevel(level ?? process.env.LOG_LEVEL), base: { pid: process.pid } },
    pino.destination({ dest, sync: true }),
  );
  return root.child({ component });
}
