import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';

/** From felix to the helper: start a program, or signal one. */
type Request = { id: string; argv: string[]; stderr: boolean } | { id: string; kill: NodeJS.Signals };

/** From the helper to felix, once per request: the program ended, or could not be started. */
interface Ended {
  id: string;
  code: number | null;
  signal: string | null;
  stderr: string;
  /** why it could not be started; `connected` says whether its connection was made first */
  error?: string;
  connected?: boolean;
}

/**
 * The helper process's program, passed to `node -e` as source text (so it
 * must use nothing but its arguments and globals). For each request it
 * connects to felix's socket, writes the request's id as the first line, and
 * starts the program with that connection as its stdin and stdout; stderr is
 * collected and sent with the exit status. When felix goes, so do the
 * programs it started.
 */
function helperMain(require: NodeJS.Require, path: string): void {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const { connect } = require('node:net') as typeof import('node:net');
  const children = new Map<string, import('node:child_process').ChildProcess>();
  const send = (m: Ended) => process.connected && process.send!(m);
  process.on('disconnect', () => {
    for (const c of children.values()) c.kill();
    process.exit(0);
  });
  process.on('message', (m: Request) => {
    if ('kill' in m) return void children.get(m.id)?.kill(m.kill);
    const sock = connect(path);
    sock.pause(); // what felix writes is for the program, not for this process
    sock.on('error', (e) => send({ id: m.id, code: null, signal: null, stderr: '', error: e.message, connected: false }));
    sock.write(`${m.id}\n`, (failed) => {
      if (failed) return; // reported by the 'error' handler
      let ended = false;
      const end = (e: Omit<Ended, 'id'>) => {
        if (ended) return;
        ended = true;
        children.delete(m.id);
        send({ id: m.id, ...e });
      };
      const child = spawn(m.argv[0]!, m.argv.slice(1), { stdio: [sock, sock, m.stderr ? 'pipe' : 'ignore'] });
      sock.destroy(); // the program has its own copy
      children.set(m.id, child);
      const stderr: Buffer[] = [];
      child.stderr?.on('data', (d: Buffer) => stderr.push(d));
      child.on('error', (e) => end({ code: null, signal: null, stderr: '', error: e.message, connected: true }));
      child.on('close', (code, signal) => end({ code, signal, stderr: Buffer.concat(stderr).toString() }));
    });
  });
}

/** A program started by the helper. */
export interface Spawned {
  /**
   * Its stdin (write, end) and stdout (read) in one socket, paused: attach
   * the listeners, then resume(). Rejects if the helper could not connect.
   */
  io: Promise<Socket>;
  /** How it ended: exit code (128 if killed by a signal), stderr if asked for. Rejects if it could not be started. */
  ended: Promise<{ code: number; stderr: string }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Hands a program's output over a line at a time (the unterminated last one when it closes), and resumes its socket. */
export function readLines(io: Socket, onLine: (line: string) => void): void {
  let partial = '';
  io.setEncoding('utf8');
  io.on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const l of lines) onLine(l);
  });
  io.on('close', () => partial && onLine(partial));
  io.resume();
}

/** A request until both its connection and its end have arrived (in either order). */
interface Pending {
  connection: boolean;
  end: boolean;
  connected: (s: Socket) => void;
  ended: (e: Ended) => void;
  failed: (err: Error) => void;
}

/**
 * Starts felix's programs (iptables-restore, ipset, ip…) from a small helper
 * process instead of from felix itself. A fork blocks the forking thread
 * while the kernel copies the process's page tables, and node's spawn waits
 * for the exec too: 10-15 ms of felix's only thread per program at 150 MB of
 * heap, ~25 programs on a cold start, one per change after. The helper is
 * forked once, first thing, while felix is still small; it starts what felix
 * asks for and connects each program's stdin and stdout straight to felix
 * over a unix socket, so the data does not pass through it. If it dies, the
 * programs in flight fail (felix retries) and the next request starts a new one.
 */
export class Spawner {
  private helper?: ChildProcess;
  private server?: Server;
  /**
   * An abstract unix socket, scoped to felix's network namespace. Anyone
   * there can connect to it, so a connection counts only if its first line
   * is the id of a request in flight: 128 random bits, which felix told the
   * helper over its private IPC channel.
   */
  private readonly path = `\0calico-felix-spawn-${process.pid}-${randomBytes(6).toString('hex')}`;
  private readonly pending = new Map<string, Pending>();
  private closed = false;

  /** Starts the helper now (felix calls this first thing, while its heap is small). */
  warm(): void {
    this.start();
  }

  spawn(argv: string[], opts: { stderr: boolean }): Spawned {
    const id = randomBytes(16).toString('hex');
    let connected!: (s: Socket) => void;
    let failedIo!: (e: Error) => void;
    const io = new Promise<Socket>((res, rej) => ((connected = res), (failedIo = rej)));
    let done!: (e: { code: number; stderr: string }) => void;
    let failed!: (e: Error) => void;
    const ended = new Promise<{ code: number; stderr: string }>((res, rej) => ((done = res), (failed = rej)));
    io.catch(() => {});
    ended.catch(() => {});
    if (this.closed) {
      failedIo(new Error('felix is stopping'));
      failed(new Error('felix is stopping'));
      return { io, ended, kill: () => {} };
    }
    const helper = this.start();
    this.pending.set(id, {
      connection: false,
      end: false,
      connected,
      ended: (e) => {
        if (e.error) {
          const err = new Error(`cannot run ${argv[0]}: ${e.error}`);
          if (!e.connected) failedIo(err);
          return failed(err);
        }
        done({ code: e.code ?? (e.signal ? 128 : 1), stderr: e.stderr });
      },
      failed: (err) => (failedIo(err), failed(err)),
    });
    this.refs();
    helper.send({ id, argv, stderr: opts.stderr } satisfies Request);
    return { io, ended, kill: (signal = 'SIGTERM') => this.helper === helper && this.pending.has(id) && helper.send({ id, kill: signal } satisfies Request) };
  }

  /** Stops the helper, and with it the programs still running. */
  close(): void {
    this.closed = true;
    this.helper?.disconnect();
    this.helper = undefined;
    this.server?.close();
    this.server = undefined;
    this.fail(new Error('felix is stopping'));
  }

  private start(): ChildProcess {
    if (this.helper) return this.helper;
    if (!this.server) {
      this.server = createServer((s) => this.accept(s)).listen(this.path);
      this.server.unref();
    }
    // A small heap; its flags put back to their defaults before anything loads, so that node's
    // built-in modules keep their code cache (see felix's main.ts).
    const src = `require('node:v8').setFlagsFromString('--max-old-space-size=0 --max-semi-space-size=0');(${helperMain.toString()})(require, ${JSON.stringify(this.path)})`;
    const helper = spawn(process.execPath, ['--max-old-space-size=16', '--max-semi-space-size=1', '-e', src], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    this.helper = helper;
    helper.on('message', (m: Ended) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      p.end = true;
      if (p.connection || (m.error && !m.connected)) this.forget(m.id);
      p.ended(m);
    });
    helper.on('error', () => {}); // shows as 'exit'
    helper.on('exit', (code, signal) => {
      if (this.helper !== helper) return;
      this.helper = undefined;
      this.fail(new Error(`felix's process helper exited (${signal ?? code})`));
    });
    helper.unref();
    this.refs();
    return helper;
  }

  /** A program's connection: its first line is the request id; the rest is the program's output. */
  private accept(s: Socket): void {
    let head = '';
    const onData = (d: Buffer) => {
      const nl = d.indexOf(10);
      if (nl < 0) return void ((head += d.toString()).length > 64 && s.destroy());
      s.off('data', onData);
      s.pause();
      if (nl + 1 < d.length) s.unshift(d.subarray(nl + 1));
      const id = head + d.subarray(0, nl).toString();
      const p = this.pending.get(id);
      if (!p) return void s.destroy();
      p.connection = true;
      if (p.end) this.forget(id);
      p.connected(s);
    };
    s.on('data', onData);
    s.on('error', () => {}); // a program that exits early resets its connection: its exit status says what happened
  }

  private forget(id: string): void {
    this.pending.delete(id);
    this.refs();
  }

  private fail(err: Error): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.failed(err);
    this.refs();
  }

  /** The helper keeps felix's event loop alive only while a program is running. */
  private refs(): void {
    const ch = this.helper?.channel;
    if (ch) this.pending.size ? ch.ref() : ch.unref();
  }
}
