import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface SysctlCounters {
  written(n: number): void;
}

const buf = Buffer.alloc(64);

/** Read a small /proc/sys file (open+read+close: no stat, far cheaper than readFile). */
function readValue(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    return buf.toString('utf8', 0, readSync(fd, buf, 0, buf.length, 0)).trim();
  } finally {
    closeSync(fd);
  }
}

function writeValue(path: string, value: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch {
    return false;
  }
  try {
    writeSync(fd, value);
    return true;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** Above this many files, apply() hands the writes to a worker thread. */
const WORKER_MIN = 1000;

/**
 * The worker's code (evaluated, so that it needs no file of its own beside
 * the bundle): for each [path, value, known] it reads the file unless the
 * value is known, writes it if different, and answers 0 (already so),
 * 1 (written) or 2 (failed: no such interface yet) per file.
 */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const buf = Buffer.alloc(64);
const out = new Uint8Array(workerData.length);
workerData.forEach(([path, want, known], i) => {
  let fd;
  try {
    if (known === null) {
      fd = fs.openSync(path, 'r');
      known = buf.toString('utf8', 0, fs.readSync(fd, buf, 0, buf.length, 0)).trim();
      fs.closeSync(fd);
    }
    if (known === want) return;
    fd = fs.openSync(path, 'w');
    try { fs.writeSync(fd, want); out[i] = 1; } finally { fs.closeSync(fd); }
  } catch { out[i] = 2; }
});
parentPort.postMessage(out);
`;

/**
 * Kernel parameters under /proc/sys. A file is written only when its value
 * differs; a file that does not exist yet (interface not there yet) stays
 * pending and is retried. /proc/sys files are tiny and served from memory, so
 * plain synchronous calls are the cheapest way (~10 µs each); but a cold start
 * with thousands of interfaces writes tens of thousands (~1 s at 5,000), which
 * a worker thread does so that they do not hold up the main thread meanwhile.
 */
export class Sysctls {
  private readonly desired = new Map<string, string>();
  private readonly dirty = new Set<string>();
  /** last value we read or wrote */
  private readonly known = new Map<string, string>();

  constructor(
    private readonly counters: SysctlCounters,
    private readonly root = '/proc/sys',
  ) {}

  /** key like `net/ipv4/conf/cali123/proxy_arp` */
  set(key: string, value: string): void {
    if (this.desired.get(key) === value) return;
    this.desired.set(key, value);
    this.dirty.add(key);
  }

  remove(key: string): void {
    this.desired.delete(key);
    this.known.delete(key);
    this.dirty.delete(key);
  }

  /** re-read everything on the next apply */
  invalidate(): void {
    this.known.clear();
    for (const k of this.desired.keys()) this.dirty.add(k);
  }

  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** Returns how many could not be written (missing interface); they stay pending. */
  async apply(): Promise<number> {
    const keys = [...this.dirty].filter((k) => this.desired.has(k));
    this.dirty.clear();
    const results = keys.length >= WORKER_MIN ? await this.inWorker(keys) : keys.map((k) => this.writeOne(k));
    let written = 0;
    let failed = 0;
    keys.forEach((key, i) => {
      if (results[i] === 2) {
        this.dirty.add(key);
        failed++;
        return;
      }
      this.known.set(key, this.desired.get(key)!);
      if (results[i] === 1) written++;
    });
    if (written) this.counters.written(written);
    return failed;
  }

  /** 0: already so, 1: written, 2: failed (as the worker answers). */
  private writeOne(key: string): number {
    const want = this.desired.get(key)!;
    const path = `${this.root}/${key}`;
    if ((this.known.get(key) ?? readValue(path)) === want) return 0;
    return writeValue(path, want) ? 1 : 2;
  }

  private inWorker(keys: string[]): Promise<Uint8Array> {
    const items = keys.map((k) => [`${this.root}/${k}`, this.desired.get(k)!, this.known.get(k) ?? null]);
    return new Promise((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: items });
      w.once('message', (m: Uint8Array) => resolve(m));
      w.once('error', reject);
      w.once('exit', (code) => code !== 0 && reject(new Error(`sysctl worker exited ${code}`)));
    });
  }
}
