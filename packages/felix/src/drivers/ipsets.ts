import type { Logger } from 'pino';
import type { IpsetBatch } from './coprocess.js';
import { EarlyRead } from './readback.js';
import type { Runner } from './runner.js';

export type IpsetType = 'hash:ip' | 'hash:net' | 'hash:net,iface';

interface DesiredSet {
  type: IpsetType;
  family: 'inet' | 'inet6';
  members: Set<string>;
}

interface KernelSet {
  type: string;
  members: Set<string>;
}

export interface IpsetCounters {
  restore(): void;
  membersWritten(n: number): void;
}

/** Members as `ipset save` prints them: no /32 or /128 on host entries (`<ip>,<if>`: the interface as is). */
export function canonicalMember(m: string): string {
  const comma = m.indexOf(',');
  if (comma >= 0) return canonicalMember(m.slice(0, comma)) + m.slice(comma);
  return m.replace(/\/(32|128)$/, '').toLowerCase();
}

/** Parse `ipset save` output, keeping only our sets (`cali4…`, `cali6…`). */
export function parseIpsetSave(text: string): Map<string, KernelSet> {
  const sets = new Map<string, KernelSet>();
  for (const line of text.split('\n')) {
    const [verb, name, arg] = line.split(' ');
    if (!name || !/^cali[46]/.test(name)) continue;
    if (verb === 'create') sets.set(name, { type: arg!, members: new Set() });
    else if (verb === 'add') sets.get(name)?.members.add(canonicalMember(arg!));
  }
  return sets;
}

/**
 * Above this many lines a write goes to a one-off `ipset restore` instead of
 * the long-running `ipset -`, which runs each line as its own netlink
 * exchange and answers each with a prompt: for a cold start's 6,000 lines
 * restore takes 60 ms against 110 ms, which outweighs its process start.
 */
const BATCH_MAX = 200;

/** A set to compare whole with the kernel's (declared anew, removed, or a rebuild), rather than member by member. */
const WHOLE = 'whole';

/**
 * The IP sets felix owns (names `cali40…` / `cali60…`). Members change
 * incrementally; apply() writes the difference in one batch to a
 * long-running `ipset -exist -` (or, above BATCH_MAX lines, `ipset restore`).
 * Creating and filling happens in applyUpdates() (before iptables, so rules
 * never refer to a missing set); removing sets no longer wanted happens in
 * applyDeletions() (after iptables stopped referring to them).
 */
export class IpsetsDriver {
  private readonly desired = new Map<string, DesiredSet>();
  /**
   * Sets that may differ from the kernel: WHOLE, or the members added or
   * removed since the last write. Member changes are compared one by one, so
   * an endpoint joining a set of 5,000 costs the same as joining one of 5.
   */
  private readonly dirty = new Map<string, Set<string> | typeof WHOLE>();
  private kernel?: Map<string, KernelSet>;

  constructor(
    private readonly run: Runner,
    private readonly batch: IpsetBatch,
    private readonly counters: IpsetCounters,
    private readonly log: Logger,
    private readonly maxSize = 1048576,
  ) {}

  /** Declare a set with its full membership (replaces what was declared before). */
  setIpset(name: string, type: IpsetType, family: 'inet' | 'inet6', members: Iterable<string>): void {
    this.desired.set(name, { type, family, members: new Set([...members].map(canonicalMember)) });
    this.dirty.set(name, WHOLE);
  }

  addMember(name: string, member: string): void {
    const s = this.desired.get(name);
    if (s && !s.members.has((member = canonicalMember(member)))) {
      s.members.add(member);
      this.memberChanged(name, member);
    }
  }

  removeMember(name: string, member: string): void {
    const s = this.desired.get(name);
    if (s?.members.delete((member = canonicalMember(member)))) this.memberChanged(name, member);
  }

  removeIpset(name: string): void {
    if (this.desired.delete(name)) this.dirty.set(name, WHOLE);
  }

  private memberChanged(name: string, member: string): void {
    const d = this.dirty.get(name);
    if (d === undefined) this.dirty.set(name, new Set([member]));
    else if (d !== WHOLE) d.add(member);
  }

  invalidate(): void {
    this.kernel = undefined;
    this.read.forget();
  }

  /** Start reading the kernel back now (see Dataplane.prefetch). */
  prefetch(): void {
    if (!this.kernel) this.read.start();
  }

  private readonly read = new EarlyRead(() => this.readKernel());

  private async readKernel(): Promise<Map<string, KernelSet>> {
    const res = await this.run(['ipset', 'save']);
    return parseIpsetSave(res.stdout);
  }

  private async restore(lines: string[]): Promise<void> {
    this.counters.restore();
    let err: string;
    try {
      if (lines.length > BATCH_MAX) {
        const r = await this.run(['ipset', '-exist', 'restore'], lines.join('\n') + '\n', true);
        err = r.code === 0 ? '' : r.stderr.trim() || `ipset restore exited ${r.code}`;
      } else err = await this.batch.run(lines);
    } catch (e) {
      this.kernel = undefined;
      throw e;
    }
    if (err) {
      // Some lines failed (the others ran): re-read before the retry.
      this.kernel = undefined;
      throw new Error(`ipset: ${err.slice(0, 500)}`);
    }
  }

  /** Create and fill the sets we want; sets of the wrong type are rebuilt and swapped in. */
  async applyUpdates(): Promise<void> {
    let names: Iterable<[string, Set<string> | typeof WHOLE]> = this.dirty;
    if (!this.kernel) {
      this.kernel = await this.read.collect();
      names = new Map([...this.desired.keys(), ...this.dirty.keys()].map((n) => [n, WHOLE]));
    }
    const kernel = this.kernel;
    const lines: string[] = [];
    const done: string[] = [];
    /** brings our copy of the kernel up to what the lines write, once they are in */
    const after: (() => void)[] = [];
    let tmp = 0;
    let members = 0;
    for (const [name, changed] of names) {
      const want = this.desired.get(name);
      if (!want) continue; // removal happens in applyDeletions
      done.push(name);
      const have = kernel.get(name);
      const create = (n: string) =>
        `create ${n} ${want.type} family ${want.family} maxelem ${this.maxSize}`;
      if (!have || have.type !== want.type) {
        // Build under a temporary name and swap, so the live set is never empty.
        const target = have ? `cali${want.family === 'inet' ? 4 : 6}t${tmp++}` : name;
        lines.push(create(target));
        for (const m of want.members) lines.push(`add ${target} ${m}`);
        if (have) lines.push(`swap ${target} ${name}`, `destroy ${target}`);
        members += want.members.size;
        const written = { type: want.type, members: new Set(want.members) };
        after.push(() => kernel.set(name, written));
        continue;
      }
      const ops: [string, boolean][] = [];
      if (changed === WHOLE) {
        for (const m of want.members) if (!have.members.has(m)) ops.push([m, true]);
        for (const m of have.members) if (!want.members.has(m)) ops.push([m, false]);
      } else {
        for (const m of changed) if (want.members.has(m) !== have.members.has(m)) ops.push([m, want.members.has(m)]);
      }
      for (const [m, add] of ops) lines.push(`${add ? 'add' : 'del'} ${name} ${m}`);
      members += ops.length;
      after.push(() => ops.forEach(([m, add]) => (add ? have.members.add(m) : have.members.delete(m))));
    }
    for (const n of done) this.dirty.delete(n);
    if (!lines.length) return;
    this.counters.membersWritten(members);
    await this.restore(lines);
    for (const f of after) f();
  }

  /** Destroy our sets that are no longer wanted (run after iptables no longer refers to them). */
  async applyDeletions(): Promise<void> {
    const kernel = this.kernel;
    if (!kernel) return;
    const gone = [...kernel.keys()].filter((n) => !this.desired.has(n));
    for (const n of this.dirty.keys()) if (!this.desired.has(n)) this.dirty.delete(n);
    if (!gone.length) return;
    for (const n of gone) {
      await this.destroy(n);
      kernel.delete(n);
    }
    this.log.debug({ sets: gone }, 'removed ipsets');
  }

  /**
   * Destroy one set. nf_tables lets go of a deleted rule's set a moment after
   * the commit has returned (after an RCU grace period): a set whose last
   * rule was just deleted can still be "in use". That is waited out, briefly.
   */
  private async destroy(name: string): Promise<void> {
    const kernel = this.kernel;
    for (let wait = 5; ; wait *= 2) {
      try {
        return await this.restore([`destroy ${name}`]);
      } catch (e) {
        if (!/in use by a kernel component/.test((e as Error).message) || wait > 160) throw e;
        this.kernel = kernel; // (restore() forgot it, but the failed line changed nothing)
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  get pending(): boolean {
    if (!this.kernel) return true;
    for (const n of this.dirty.keys()) if (this.desired.has(n)) return true;
    return false;
  }

  /**
   * applyUpdates() would create (or rebuild) a set, not only change members:
   * rules that refer to it must wait for it. Unknown until the kernel is read.
   */
  get createsSets(): boolean {
    if (!this.kernel) return true;
    for (const n of this.dirty.keys()) {
      const want = this.desired.get(n);
      const have = this.kernel.get(n);
      if (want && (!have || have.type !== want.type)) return true;
    }
    return false;
  }

  /** applyDeletions() has sets to destroy */
  get needsCleanup(): boolean {
    if (!this.kernel) return false;
    for (const n of this.kernel.keys()) if (!this.desired.has(n)) return true;
    return false;
  }
}
