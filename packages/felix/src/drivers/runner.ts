import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ExecError, run, type ExecResult } from '@calico/libcalico';

/**
 * Runs a program (argument array) with optional stdin; the seam tests can
 * replace. Input may be an iterable of chunks, written with backpressure, and
 * with `onLine` stdout is handed over line by line instead of collected, so
 * that neither a restore nor a save of 100k+ rules is held as one string.
 */
export type Runner = (
  cmd: string[],
  input?: string | Iterable<string>,
  allowFail?: boolean,
  onLine?: (line: string) => void,
) => Promise<ExecResult>;

export const execRunner: Runner = (cmd, input, allowFail, onLine) =>
  (input === undefined || typeof input === 'string') && !onLine
    ? run(cmd, { input, allowFail, timeoutMs: 60_000 })
    : runStreaming(cmd, typeof input === 'string' ? [input] : (input ?? []), allowFail, onLine);

const start = (cmd: string[]): ChildProcess => spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });

async function runStreaming(
  cmd: string[],
  input: Iterable<string>,
  allowFail = false,
  onLine?: (line: string) => void,
  child: ChildProcess = start(cmd),
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let partial = '';
  child.stdout!.on('data', (d: Buffer) => {
    if (!onLine) return void out.push(d);
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  });
  child.stdout!.on('end', () => partial && onLine?.(partial));
  child.stderr!.on('data', (d: Buffer) => err.push(d));
  const closed = new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new Error(`cannot run ${cmd[0]}: ${e.message}`)));
    child.on('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  child.stdin!.on('error', () => {}); // an early exit shows in the exit code
  for (const chunk of input) {
    if (child.stdin!.destroyed) break;
    if (!child.stdin!.write(chunk)) await Promise.race([once(child.stdin!, 'drain'), closed]);
  }
  child.stdin!.end();
  const result = { code: await closed, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
  if (result.code !== 0 && !allowFail) throw new ExecError(cmd, result);
  return result;
}

/**
 * Runs commands like execRunner, but a command fed on stdin (a restore) gets
 * its next process started as soon as this one is done, waiting for its
 * input, so that the next run skips the process start (~5 ms on the lab
 * machines, a third of a one-chain change). iptables-nft-restore reads the
 * kernel only once its input arrives and takes no lock while it waits, which
 * is what makes this safe; iptables-legacy-restore is not run this way.
 */
export class WarmRunner {
  private readonly ready = new Map<string, ChildProcess>();
  private closed = false;

  readonly run: Runner = async (cmd, input, allowFail, onLine) => {
    if (input === undefined) return execRunner(cmd, input, allowFail, onLine);
    const key = cmd.join('\0');
    const child = this.ready.get(key);
    this.ready.delete(key);
    try {
      return await runStreaming(cmd, typeof input === 'string' ? [input] : input, allowFail, onLine, child && child.exitCode === null ? child : undefined);
    } finally {
      // A whole-table load (no --noflush) happens once, at the first start: no next one to wait for.
      if (!this.closed && cmd.includes('--noflush') && !this.ready.has(key)) {
        const next = start(cmd);
        next.on('error', () => this.ready.get(key) === next && this.ready.delete(key));
        next.stdin!.on('error', () => {});
        this.ready.set(key, next);
      }
    }
  };

  close(): void {
    this.closed = true;
    for (const c of this.ready.values()) c.kill();
    this.ready.clear();
  }
}
