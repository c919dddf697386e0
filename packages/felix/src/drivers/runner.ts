import type { Socket } from 'node:net';
import { ExecError, type ExecResult } from '@calico/libcalico';
import { Coprocess } from './coprocess.js';
import { readLines, type Spawner } from './spawner.js';

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

/** A Runner whose programs the helper process starts (see Spawner); each is killed after `timeoutMs`. */
export function helperRunner(spawner: Spawner, timeoutMs = 60_000): Runner {
  return async (cmd, input, allowFail = false, onLine) => {
    const child = spawner.spawn(cmd, { stderr: true });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      const io = await child.io;
      const stdout = readOutput(io, onLine);
      // (not events.once: an EPIPE would reject it; the exit status says what went wrong)
      const event = (name: string) => new Promise<void>((r) => io.once(name, () => r()));
      const closed = event('close');
      for (const chunk of coalesce(typeof input === 'string' ? [input] : (input ?? []))) {
        if (io.destroyed) break;
        if (!io.write(chunk)) await Promise.race([event('drain'), closed]);
      }
      io.end();
      const [out, end] = await Promise.all([stdout, child.ended]);
      const result = { code: end.code, stdout: out, stderr: end.stderr };
      if (result.code !== 0 && !allowFail) throw new ExecError(cmd, result);
      return result;
    } finally {
      clearTimeout(timer);
    }
  };
}

/** A program's stdout, collected or handed over a line at a time, until its connection closes. */
function readOutput(io: Socket, onLine?: (line: string) => void): Promise<string> {
  return new Promise((resolve) => {
    const out: string[] = [];
    if (onLine) readLines(io, onLine);
    else {
      io.setEncoding('utf8');
      io.on('data', (d: string) => out.push(d));
      io.resume();
    }
    io.on('close', () => resolve(out.join('')));
  });
}

/**
 * Input chunks joined into pieces of at least WRITE_SIZE characters: a
 * restore's input comes a chain at a time (10k+ chunks of a few hundred
 * bytes on a cold start), and each socket write costs felix's thread ~20 µs.
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
 * Runs commands like `run`, but `--noflush` restores (each change after the
 * cold start) go through a long-running `sh`, one per command line (so IPv4
 * and IPv6 still run side by side), their input passed as a here-document
 * on the shell's stdin: felix writes the input at once and the shell's fork
 * starts right away, where a program started by the helper waits for a
 * round trip with it and for its other starts (~10 ms more per change,
 * measured). The shells themselves are started by the helper.
 */
export class ShellRunner {
  private readonly shells = new Map<string, Coprocess>();

  constructor(
    private readonly spawner: Spawner,
    private readonly other: Runner,
  ) {}

  readonly run: Runner = async (cmd, input, allowFail, onLine) => {
    if (input === undefined || onLine || !cmd.includes('--noflush')) return this.other(cmd, input, allowFail, onLine);
    const key = cmd.join(' ');
    let sh = this.shells.get(key);
    if (!sh) this.shells.set(key, (sh = new Coprocess(this.spawner, ['sh'])));
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
