import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ExecError, run, type ExecResult } from '@calico/libcalico';
import { Coprocess } from './coprocess.js';

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

async function runStreaming(cmd: string[], input: Iterable<string>, allowFail = false, onLine?: (line: string) => void): Promise<ExecResult> {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
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
  for (const chunk of coalesce(input)) {
    if (child.stdin!.destroyed) break;
    if (!child.stdin!.write(chunk)) await Promise.race([once(child.stdin!, 'drain'), closed]);
  }
  child.stdin!.end();
  const result = { code: await closed, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
  if (result.code !== 0 && !allowFail) throw new ExecError(cmd, result);
  return result;
}

/**
 * Input chunks joined into pieces of at least WRITE_SIZE characters: a
 * restore's input comes a chain at a time (10k+ chunks of a few hundred
 * bytes on a cold start), and each pipe write costs felix's thread ~20 µs.
 */
const WRITE_SIZE = 1 << 16;
function* coalesce(chunks: Iterable<string>): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  for (const c of chunks) {
    parts.push(c);
    size += c.length;
    if (size >= WRITE_SIZE) {
      yield parts.join('');
      parts = [];
      size = 0;
    }
  }
  if (size) yield parts.join('');
}

const HEREDOC_END = 'CALICO_INPUT_END';
const DONE = /(?:^|\n)calico-done (\d+)\n/;
const quote = (w: string): string => `'${w.replace(/'/g, `'\\''`)}'`;

/**
 * Runs commands like execRunner, but `--noflush` restores go through a
 * long-running `sh`, one per command (so IPv4 and IPv6 still run side by
 * side), their input passed as a here-document on the shell's stdin. The
 * point is who forks: a fork from felix blocks its thread while the kernel
 * copies felix's page tables (5-13 ms on the lab machines at 100-200 MB of
 * RSS, on every change), a fork from sh well under a millisecond. Whole-table
 * loads (a cold start: large, once) and commands whose output is read run
 * directly.
 */
export class ShellRunner {
  private readonly shells = new Map<string, Coprocess>();

  readonly run: Runner = async (cmd, input, allowFail, onLine) => {
    if (input === undefined || onLine || !cmd.includes('--noflush')) return execRunner(cmd, input, allowFail, onLine);
    const key = cmd.join(' ');
    let sh = this.shells.get(key);
    if (!sh) this.shells.set(key, (sh = new Coprocess(['sh'])));
    const body = (typeof input === 'string' ? input : [...input].join('')).replace(/\n$/, '');
    const lines = [`${cmd.map(quote).join(' ')} 2>&1 <<'${HEREDOC_END}'`, ...(body ? [body] : []), HEREDOC_END];
    const { out } = await sh.send(lines, (o) => DONE.test(o), 'echo "calico-done $?"');
    const m = DONE.exec(out)!;
    const result = { code: Number(m[1]), stdout: '', stderr: out.slice(0, m.index).trim() };
    if (result.code !== 0 && !allowFail) throw new ExecError(cmd, result);
    return result;
  };

  close(): void {
    for (const sh of this.shells.values()) sh.close();
    this.shells.clear();
  }
}
