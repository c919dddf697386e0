import { existsSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { run } from '@calico/libcalico/exec';

/**
 * One output file with confd's check/reload contract:
 *   stage in the destination directory (so the rename is atomic) →
 *   check the staged file (`bird -p -c STAGE`) → rename over the destination →
 *   reload (`birdc -s SOCK configure`).
 * Nothing happens when the content is unchanged. A failed check leaves the
 * live file untouched; a reload BIRD rejects puts the previous file back.
 */
export interface OutputTarget {
  dest: string;
  /** the check command; the staged file's path is appended */
  check: string[];
  /** the reload command, or null for --no-reload */
  reload: string[] | null;
  /**
   * BIRD's control socket, which the reload talks to. When it does not exist
   * BIRD is not running: the reload is skipped (one process fewer per render
   * while a node starts).
   */
  socket?: string;
}

export type ApplyResult =
  /** same content as the live file: nothing done */
  | 'unchanged'
  /** written and BIRD reconfigured */
  | 'reloaded'
  /** written; BIRD is not running (it reads the file when it starts) or reload is off */
  | 'written';

/** The check or the reload failed; `detail` is the program's own message. */
export class ConfigRejected extends Error {
  constructor(
    readonly stage: 'check' | 'reload',
    readonly detail: string,
    /** the line of the rendered config the message points at, if any */
    readonly line?: string,
  ) {
    super(`BIRD ${stage === 'check' ? 'rejected the new config' : 'failed to reload'}: ${detail}${line ? ` (line: ${line.trim()})` : ''}`);
    this.name = 'ConfigRejected';
  }
}

let stageCounter = 0;

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** BIRD messages point at FILE:LINE:COL; return that line of `content`. */
function offendingLine(message: string, content: string): string | undefined {
  const m = /:(\d+):\d+/.exec(message);
  return m ? content.split('\n')[Number(m[1]) - 1] : undefined;
}

/**
 * birdc -v prefixes each reply with a 4-digit code: 0003 Reconfigured,
 * 0004 in progress, 0005 queued; 8xxx/9xxx are errors (birdc itself exits
 * 0 either way). Returns BIRD's error text, or undefined on success.
 */
export function reloadError(output: string): string | undefined {
  const errors = output.split('\n').filter((l) => /^[89]\d{3}[ -]/.test(l));
  if (errors.length) return errors.map((l) => l.slice(5)).join('; ');
  if (/^000[345][ -]/m.test(output)) return undefined;
  return output.trim() || 'no reply from BIRD';
}

export class ConfigWriter {
  constructor(readonly target: OutputTarget) {}

  async apply(content: string): Promise<ApplyResult> {
    const { dest } = this.target;
    const previous = await readIfExists(dest);
    if (previous === content) return 'unchanged';

    const stage = join(dirname(dest), `.${basename(dest)}.${process.pid}.${++stageCounter}`);
    await writeFile(stage, content, { mode: 0o644 });
    try {
      const res = await run([...this.target.check, stage], { allowFail: true, timeoutMs: 10_000 });
      if (res.code !== 0) {
        const msg = (res.stderr.trim() || res.stdout.trim() || `exit code ${res.code}`).replaceAll(stage, dest + ' (staged)');
        throw new ConfigRejected('check', msg, offendingLine(msg, content));
      }
      await rename(stage, dest);
    } finally {
      await unlink(stage).catch(() => {});
    }

    if (!this.target.reload || (this.target.socket && !existsSync(this.target.socket))) return 'written';
    const res = await run([...this.target.reload], { allowFail: true, timeoutMs: 10_000 });
    const out = `${res.stdout}\n${res.stderr}`;
    if (res.code !== 0 && /Unable to connect to server control socket/.test(out)) return 'written';
    const err = res.code !== 0 ? out.trim() || `exit code ${res.code}` : reloadError(res.stdout);
    if (err === undefined) return 'reloaded';
    // BIRD kept its old config; put the old file back so file and daemon agree
    // and the next change tries again.
    if (previous !== null) await this.restore(previous);
    throw new ConfigRejected('reload', err, offendingLine(err, content));
  }

  private async restore(previous: string): Promise<void> {
    const { dest } = this.target;
    const stage = join(dirname(dest), `.${basename(dest)}.${process.pid}.${++stageCounter}`);
    await writeFile(stage, previous, { mode: 0o644 });
    await rename(stage, dest);
  }
}
