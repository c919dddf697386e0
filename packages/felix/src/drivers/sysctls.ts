import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface SysctlCounters {
  written(n: number): void;
}

/** A file under /proc/sys, the value wanted, and the value known to be there (null: read it). */
type Item = [path: string, want: string, known: string | null];

/**
 * For each item: read the file unless its value is known (open+read+close,
 * no stat), write it if different; answer 0 (already so), 1 (written) or 2
 * (failed: no such interface yet). It uses nothing but its arguments and
 * globals, because the worker thread runs its source text (see WORKER).
 */
function writeSysctls(items: Item[], files: typeof fs): Uint8Array {
  const buf = Buffer.alloc(64);
  const out = new Uint8Array(items.length);
  items.forEach(([path, want, known], i) => {
    let fd = -1;
    try {
      if (known === null) {
        fd = files.openSync(path, 'r');
        known = buf.toString('utf8', 0, files.readSync(fd, buf, 0, buf.length, 0)).trim();
        files.closeSync(fd);
        fd = -1;
      }
      if (known === want) return;
      fd = files.openSync(path, 'w');
      files.writeSync(fd, want);
      out[i] = 1;
    } catch {
      out[i] = 2;
    } finally {
      if (fd >= 0) files.closeSync(fd);
    }
  });
  return out;
}

/** Above this many files, apply() hands the writes to a worker thread. */
const WORKER_MIN = 1000;

/** The worker: writeSysctls itself, evaluated (so that it needs no file of its own beside the bundle). */
const WORKER = `const { workerData, parentPort } = require('node:worker_threads');
parentPort.postMessage((${writeSysctls.toString()})(workerData, require('node:fs')));`;

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
    const items: Item[] = keys.map((k) => [`${this.root}/${k}`, this.desired.get(k)!, this.known.get(k) ?? null]);
    const results = items.length >= WORKER_MIN ? await inWorker(items) : writeSysctls(items, fs);
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
}

function inWorker(items: Item[]): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: items });
    w.once('message', (m: Uint8Array) => resolve(m));
    w.once('error', reject);
    w.once('exit', (code) => code !== 0 && reject(new Error(`sysctl worker exited ${code}`)));
  });
}
