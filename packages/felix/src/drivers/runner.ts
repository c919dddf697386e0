import type { Socket } from 'node:net';
import { ExecError, type ExecResult } from '@calico/libcalico';
import { Coprocess, type CoprocessExit } from './coprocess.js';
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

/** The marker block: `-S OUTPUT` prints `-P OUTPUT <policy>` first, once every block before it is committed. */
const MARKER = ['*filter', '-S OUTPUT', 'COMMIT'];
const MARKED = /^-P OUTPUT \S+$/m;
/** Inputs above this many lines (a cold start's, a big policy's) go to a restore of their own. */
const SESSION_MAX_LINES = 1000;
/** A session that has not answered a change by then is taken for stuck (a small change takes milliseconds). */
const SESSION_TIMEOUT_MS = 5000;

/**
 * Runs commands like `run`, but each small `--noflush` restore (the changes
 * after the cold start) is written to a long-running `iptables-nft-restore
 * --noflush` of its command line (one per family). It commits each block as
 * its COMMIT line arrives, and the marker block after the change answers
 * once the change is in; a block that fails makes it exit with the error,
 * and the next change starts a new one. This saves
 * a process start and the read of the ruleset into a new cache per change:
 * a 10-rule chain in both families at once took 9.4 ms against 32 ms at
 * 1,000 endpoints and 31 against 53 ms at 5,000 (2026-12-03).
 *
 * A session's cache follows its own commits, and iptables-nft rebuilds it
 * when the kernel refuses a batch built on an older generation (another
 * writer committed in between: the other family, an operator). Big inputs
 * run as processes of their own, and any restore run that way retires the
 * sessions, as does every iptables refresh (close()).
 *
 * The sessions take turns, one change at a time: the kernel commits one at a
 * time anyway. Side by side, under the load of the whole test suite, a
 * session now and then never answered (not pinned down; a rebuild of its
 * cache racing the other family's commits is the suspect), so a session that
 * does not answer within SESSION_TIMEOUT_MS is killed, and the change fails
 * and is retried after a fresh read, like any failed restore.
 */
export class RestoreSessions {
  private readonly sessions = new Map<string, Coprocess>();
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly spawner: Spawner,
    private readonly other: Runner,
  ) {}

  readonly run: Runner = async (cmd, input, allowFail, onLine) => {
    const direct = (input?: string | Iterable<string>) => {
      // Another restore makes the sessions' caches older than the kernel: start afresh after it.
      if (cmd[0]!.endsWith('-restore')) this.close();
      return this.other(cmd, input, allowFail, onLine);
    };
    // (a whole load's input stays a stream of chunks)
    if (input === undefined || onLine || !cmd.includes('--noflush')) return direct(input);
    const text = typeof input === 'string' ? input : [...input].join('');
    const lines = text.replace(/\n$/, '').split('\n');
    if (lines.length > SESSION_MAX_LINES) return direct(text);
    const key = cmd.join(' ');
    let session = this.sessions.get(key);
    if (!session) this.sessions.set(key, (session = new Coprocess(this.spawner, cmd, '', SESSION_TIMEOUT_MS)));
    const exchange = this.turn.then(() => session.send([...lines, ...MARKER], (o) => MARKED.test(o)));
    this.turn = exchange.catch(() => {});
    try {
      await exchange;
      return { code: 0, stdout: '', stderr: '' };
    } catch (e) {
      // iptables-restore numbers the failing line from the session's start: from this input's here.
      const { output = (e as Error).message, firstLine = 0 } = e as CoprocessExit;
      const stderr = output.replace(/line (\d+) failed/g, (_, n: string) => `line ${Number(n) - firstLine} failed`);
      const result = { code: 1, stdout: '', stderr };
      if (!allowFail) throw new ExecError(cmd, result);
      return result;
    }
  };

  /**
   * Retire the sessions: later changes start new ones. A change already
   * written to one (the other family's, while a refresh or a big restore comes
   * in) is let finish first, not failed by a kill.
   */
  close(): void {
    const retired = [...this.sessions.values()];
    this.sessions.clear();
    if (retired.length) void this.turn.then(() => retired.forEach((s) => s.close()));
  }
}
