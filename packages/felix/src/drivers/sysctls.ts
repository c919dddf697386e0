import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';

export interface SysctlCounters {
  written(n: number): void;
}

/** A file under /proc/sys (`net/ipv4/conf/cali1/proxy_arp`), the value wanted, and the value known to be there (null: read it). */
type Item = [key: string, want: string, known: string | null];

/**
 * `ip -o netconf show` lines (`inet cali1 forwarding off rp_filter strict
 * mc_forwarding off proxy_neigh on …`) → sysctl key → value as its file
 * holds it. Self-contained, like writeSysctls (the worker runs its source).
 */
export function parseNetconf(out: string): Map<string, string> {
  const files: Record<string, [string, Record<string, string>]> = {
    inet: ['net/ipv4/conf', { forwarding: 'forwarding', rp_filter: 'rp_filter', proxy_neigh: 'proxy_arp' }],
    inet6: ['net/ipv6/conf', { forwarding: 'forwarding', proxy_neigh: 'proxy_ndp' }],
  };
  const values: Record<string, string> = { off: '0', on: '1', strict: '1', loose: '2' };
  const found = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [family, dev, ...rest] = line.trim().split(/\s+/);
    const known = files[family!];
    if (!known || !dev) continue;
    for (let i = 0; i + 1 < rest.length; i += 2) {
      const file = known[1][rest[i]!];
      const value = values[rest[i + 1]!];
      if (file && value !== undefined) found.set(`${known[0]}/${dev}/${file}`, value);
    }
  }
  return found;
}

/**
 * For each item: find its value unless known (in `dump`, the `ip -o netconf
 * show` output: the values of every interface in one netlink dump, else by reading the
 * file: open+read+close, no stat), write it if different; answer 0 (already
 * so), 1 (written) or 2 (failed: no such interface yet). It uses nothing but
 * its arguments, globals and parseNetconf, because the worker thread runs
 * their source text (see WORKER).
 */
function writeSysctls(items: Item[], root: string, files: typeof fs, dump?: string): Uint8Array {
  const buf = Buffer.alloc(64);
  const out = new Uint8Array(items.length);
  const dumped = dump === undefined ? undefined : parseNetconf(dump);
  items.forEach(([key, want, known], i) => {
    const path = `${root}/${key}`;
    let fd = -1;
    try {
      if (known === null) known = dumped?.get(key) ?? null;
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

/** A setting of one interface (`net/ipv4/conf/cali1/rp_filter`, `net/ipv4/neigh/cali1/proxy_delay`), not `all` or `default`. */
const INTERFACE_KEY = /^net\/ipv[46]\/(conf|neigh)\/(?!all\/|default\/)[^/]+\//;

/** Above this many files, apply() reads the netconf dump and hands the writes to a worker thread. */
const WORKER_MIN = 1000;

/**
 * The worker: writeSysctls itself, evaluated (so that it needs no file of its
 * own beside the bundle). workerData: [host items, interface items, root]. It
 * writes the host items and posts their results, waits for the netconf dump
 * taken after them (or null), then does the interface items with it and posts
 * theirs. One worker for both: starting one costs ~55 ms of CPU.
 * It runs at a low priority (nice 10, on Linux the thread's own): a cold
 * start's big pass runs beside the iptables restores, which are what the
 * dataplane waits for, and takes mostly the CPU they leave (measured at
 * 5,000 endpoints on 2 cores: programmed ~250 ms sooner; nice 19 did no
 * better, and would leave the pass crawling on a host busy with workloads).
 */
const WORKER = `const { workerData: [host, perInterface, root], parentPort } = require('node:worker_threads');
try { require('node:os').setPriority(10); } catch {}
${parseNetconf.toString()}
const write = ${writeSysctls.toString()};
parentPort.postMessage(write(host, root, require('node:fs')));
parentPort.once('message', (dump) => parentPort.postMessage(write(perInterface, root, require('node:fs'), dump ?? undefined)));`;

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

  /**
   * `netconf`: prints `ip -o netconf show` (run by felix's helper), used by
   * large passes to learn most of the per-interface values in one dump (4 of
   * an endpoint's 5 files on a cold start then need no read of their own).
   */
  constructor(
    private readonly counters: SysctlCounters,
    private readonly root = '/proc/sys',
    private readonly netconf?: () => Promise<string>,
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

  /** The value of `key` is unknown again (its interface was deleted or made anew); `due`: check it on the next apply. */
  forget(key: string, due: boolean): void {
    this.known.delete(key);
    if (due && this.desired.has(key)) this.dirty.add(key);
  }

  /** re-read everything on the next apply */
  invalidate(): void {
    this.known.clear();
    for (const k of this.desired.keys()) this.dirty.add(k);
  }

  get pending(): boolean {
    return this.dirty.size > 0;
  }

  /** the pass in progress: passes run one after another */
  private last: Promise<unknown> = Promise.resolve();

  /** Returns how many could not be written (missing interface); they stay pending. */
  apply(): Promise<number> {
    const next = this.last.then(() => this.applyNow());
    this.last = next.catch(() => {});
    return next;
  }

  private async applyNow(): Promise<number> {
    const keys = [...this.dirty].filter((k) => this.desired.has(k));
    this.dirty.clear();
    const items: Item[] = keys.map((k) => [k, this.desired.get(k)!, this.known.get(k) ?? null]);
    let results: Uint8Array;
    try {
      if (items.length < WORKER_MIN) results = writeSysctls(items, this.root, fs);
      else {
        // Host-wide settings first (`ip_forward`, `conf/all/forwarding`): the
        // kernel copies them to every interface, and the dump taken after
        // them then shows those interfaces need no write of their own. On a
        // worker too: that copy is kernel work of its own (~50 ms at 5,000
        // interfaces) that the calculation should not wait for.
        const host: number[] = [];
        const perInterface: number[] = [];
        items.forEach(([k], i) => (INTERFACE_KEY.test(k) ? perInterface : host).push(i));
        const pick = (ix: number[]) => ix.map((i) => items[i]!);
        // Without the dump, the files are read one by one instead.
        const dump = async () => (await this.netconf?.().catch(() => undefined)) ?? null;
        const [hostResults, interfaceResults] = await inWorker(pick(host), pick(perInterface), this.root, dump);
        results = new Uint8Array(items.length);
        hostResults.forEach((r, j) => (results[host[j]!] = r));
        interfaceResults.forEach((r, j) => (results[perInterface[j]!] = r));
      }
    } catch (e) {
      for (const k of keys) this.dirty.add(k); // the worker failed: all of them stay pending
      throw e;
    }
    let written = 0;
    let failed = 0;
    keys.forEach((key, i) => {
      if (results[i] === 2) {
        this.dirty.add(key);
        failed++;
        return;
      }
      // What was written, even if the wish changed meanwhile (then the key is dirty again); nothing for a key dropped meanwhile.
      if (this.desired.has(key)) this.known.set(key, items[i]![1]);
      if (results[i] === 1) written++;
    });
    if (written) this.counters.written(written);
    return failed;
  }
}

/** The WORKER's two steps: the host items' results, then (given the dump taken in between) the interface items'. */
function inWorker(host: Item[], perInterface: Item[], root: string, dump: () => Promise<string | null>): Promise<[Uint8Array, Uint8Array]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: [host, perInterface, root] });
    let first: Uint8Array | undefined;
    w.on('message', (m: Uint8Array) => {
      if (first) return resolve([first, m]);
      first = m;
      dump().then((d) => w.postMessage(d), reject);
    });
    w.once('error', reject);
    // After the answer this changes nothing (a promise settles once).
    w.once('exit', (code) => reject(new Error(`sysctl worker exited (${code}) before its answer`)));
  });
}
