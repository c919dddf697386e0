/** A failure the user caused (bad arguments, a state that forbids the action): reported as is. */
export class CliError extends Error {
  override name = 'CliError';
}

/**
 * Print one line on stderr for any failure: the field or resource and the
 * reason. Multi-line messages (e.g. from a library) are folded onto one line.
 */
export function reportError(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  process.stderr.write(`Error: ${msg.replace(/\s*\n\s*/g, '; ')}\n`);
}

/** For listings: a malformed stored resource is reported on stderr and skipped. */
export function warnInvalid(key: string, err: Error): void {
  process.stderr.write(`Warning: skipping ${key}: ${err.message}\n`);
}
