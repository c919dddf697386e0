import { closeSync, openSync, readSync, writeSync } from 'node:fs';

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

/**
 * Kernel parameters under /proc/sys. A file is written only when its value
 * differs; a file that does not exist yet (interface not there yet) stays
 * pending and is retried. /proc/sys files are tiny and served from memory, so
 * plain synchronous calls are the cheapest way (~10 µs each).
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

  /**
   * Returns how many could not be written (missing interface); they stay
   * pending. Yields to the event loop every few hundred files so that
   * concurrent work (iptables-restore children finishing) is not held up.
   */
  async apply(): Promise<number> {
    let failed = 0;
    let written = 0;
    const keys = [...this.dirty];
    this.dirty.clear();
    for (let i = 0; i < keys.length; i++) {
      if (i % 256 === 255) await new Promise((r) => setImmediate(r));
      const key = keys[i]!;
      const want = this.desired.get(key);
      if (want === undefined) continue;
      const path = `${this.root}/${key}`;
      if ((this.known.get(key) ?? readValue(path)) === want) {
        this.known.set(key, want);
        continue;
      }
      if (writeValue(path, want)) {
        this.known.set(key, want);
        written++;
      } else {
        this.dirty.add(key);
        failed++;
      }
    }
    if (written) this.counters.written(written);
    return failed;
  }
}
