import type { Socket } from 'node:net';
import type { Spawned, Spawner } from './spawner.js';

/** The tool exited during a batch: what it printed for that batch, and the number of lines it had read before. */
export interface CoprocessExit extends Error {
  output?: string;
  firstLine?: number;
}

/**
 * A long-running tool that reads commands on stdin and runs each as soon as
 * its line arrives (`ip -batch -`, `ipset -`, `iptables-nft-restore --noflush`). A small batch then costs a pipe
 * write instead of a process start (~5 ms on the lab machines, most of a
 * one-route change). felix's helper starts it (see Spawner). stdout and
 * stderr come back merged, in order, unbuffered (`stdbuf -o0`); batches are
 * serialised. If the tool dies, the batch in
 * flight fails and the next one starts a new process.
 */
export class Coprocess {
  private child?: Pick<Spawned, 'io' | 'kill'>;
  private out = '';
  /** lines written to the current process (ip numbers its errors by line) */
  private lines = 0;
  private waiter?: { done: (out: string) => boolean; resolve: (out: string) => void; reject: (e: Error) => void; firstLine: number };
  private queue: Promise<unknown> = Promise.resolve();

  /** `greeting`: what the tool prints once at start (ipset's first prompt), skipped. */
  constructor(
    private readonly spawner: Spawner,
    private readonly argv: string[],
    private readonly greeting = '',
    private readonly timeoutMs = 30_000,
  ) {}

  /**
   * Writes `lines` (and `marker`, a command whose output shows that
   * everything before it has run); resolves with the output once `done`
   * accepts it, and the number of lines the process had read before.
   */
  send(lines: string[], done: (out: string) => boolean, marker?: string): Promise<{ out: string; firstLine: number }> {
    const next = this.queue.then(() => this.exchange(lines, done, marker));
    this.queue = next.catch(() => {});
    return next;
  }

  private async exchange(lines: string[], done: (out: string) => boolean, marker?: string): Promise<{ out: string; firstLine: number }> {
    const io = await this.start();
    // Output that arrived between batches answers none of them (the tail of a listing).
    this.out = '';
    const firstLine = this.lines;
    const input = [...lines, ...(marker ? [marker] : [])];
    this.lines += input.length;
    const out = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.argv.join(' ')}: no answer within ${this.timeoutMs} ms`));
        this.close();
      }, this.timeoutMs);
      this.waiter = {
        done,
        firstLine,
        resolve: (o) => (clearTimeout(timer), resolve(o)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
      io.write(input.join('\n') + '\n');
      this.check();
    });
    return { out, firstLine };
  }

  private start(): Promise<Socket> {
    if (this.child) return this.child.io;
    const child = this.spawner.spawn(['sh', '-c', 'exec stdbuf -o0 "$@" 2>&1', 'sh', ...this.argv], { stderr: false });
    const current = (this.child = { kill: child.kill, io: child.io.then((io) => this.listen(io)) });
    this.lines = 0;
    const gone = (why: string) => {
      if (this.child !== current) return;
      this.child = undefined;
      const w = this.waiter;
      this.waiter = undefined;
      const output = this.out.trim();
      this.out = '';
      const e: CoprocessExit = new Error(`${this.argv.join(' ')} exited (${why})${output ? `: ${output}` : ''}`);
      w?.reject(Object.assign(e, { output, firstLine: w.firstLine }));
    };
    child.ended.then(
      (e) => gone(String(e.code)),
      (e: Error) => gone(e.message),
    );
    return current.io;
  }

  private listen(io: Socket): Socket {
    let greeting = this.greeting;
    io.setEncoding('utf8');
    io.on('data', (d: string) => {
      if (greeting) {
        const skip = Math.min(greeting.length, d.length);
        greeting = greeting.slice(skip);
        d = d.slice(skip);
      }
      this.out += d;
      this.check();
    });
    io.resume();
    return io;
  }

  private check(): void {
    const w = this.waiter;
    if (!w || !w.done(this.out)) return;
    this.waiter = undefined;
    const out = this.out;
    this.out = '';
    w.resolve(out);
  }

  close(): void {
    this.child?.kill();
    this.child = undefined;
  }
}

/** `ip -o -force -batch -`: routes. Resolves with the indexes of the lines that failed. */
export class IpBatch {
  private readonly co: Coprocess;

  constructor(spawner: Spawner) {
    this.co = new Coprocess(spawner, ['ip', '-o', '-force', '-batch', '-']);
  }

  async run(lines: string[]): Promise<{ failed: Set<number>; output: string }> {
    // `link show lo` prints one line (-o) once every line before it has run.
    const { out, firstLine } = await this.co.send(lines, (o) => /^\d+: lo: .*$/m.test(o), 'link show lo');
    const failed = new Set<number>();
    // `ip -batch` reports "Command failed -:N", N counting from the process's first line.
    for (const m of out.matchAll(/Command failed -:(\d+)/g)) failed.add(Number(m[1]) - 1 - firstLine);
    return { failed, output: out };
  }

  close(): void {
    this.co.close();
  }
}

const PROMPT = 'ipset> ';

/** `ipset -exist -`: sets. Resolves with what ipset printed besides its prompts: empty if every line worked. */
export class IpsetBatch {
  private readonly co: Coprocess;

  constructor(spawner: Spawner) {
    this.co = new Coprocess(spawner, ['ipset', '-exist', '-'], PROMPT);
  }

  async run(lines: string[]): Promise<string> {
    // ipset prints its prompt again after each line it has run. Counted as the
    // output grows: it arrives in many small pieces, and rescanning all of it
    // each time cost time in proportion to the square of the lines.
    let prompts = 0;
    let from = 0;
    const done = (o: string) => {
      for (let i; (i = o.indexOf(PROMPT, from)) >= 0; from = i + PROMPT.length) prompts++;
      from = Math.max(from, o.length - PROMPT.length + 1);
      return prompts >= lines.length;
    };
    const { out } = await this.co.send(lines, done);
    return out.split(PROMPT).join('').trim();
  }

  close(): void {
    this.co.close();
  }
}
