import { readFile, writeFile } from 'node:fs/promises';

export interface SysctlCounters {
  written(n: number): void;
}

/**
 * Kernel parameters under /proc/sys. A file is written only when its value
 * differs; a file that does not exist yet (interface not there yet) stays
 * pending and is retried.
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

  async read(key: string): Promise<string | undefined> {
    try {
      return (await readFile(`${this.root}/${key}`, 'utf8')).trim();
    } catch {
      return undefined;
    }
  }

  /** Returns how many could not be written (missing interface), which stay pending. */
  async apply(): Promise<number> {
    let failed = 0;
    let written = 0;
    const keys = [...this.dirty];
    this.dirty.clear();
    await Promise.all(
      keys.map(async (key) => {
        const want = this.desired.get(key);
        if (want === undefined) return;
        let have = this.known.get(key);
        if (have === undefined) have = await this.read(key);
        if (have === want) {
          this.known.set(key, want);
          return;
        }
        try {
          await writeFile(`${this.root}/${key}`, want);
          this.known.set(key, want);
          written++;
        } catch {
          this.dirty.add(key);
          failed++;
        }
      }),
    );
    if (written) this.counters.written(written);
    return failed;
  }
}
