import type { Logger } from 'pino';
import { CHAIN_PREFIX, nextRuleHash, ruleHashes, RULE_HASH_LEN, RULE_HASH_PREFIX } from '../names.js';
import type { IptRule } from '../rules/types.js';
import { EarlyRead } from './readback.js';
import type { Runner } from './runner.js';

/** Which iptables binaries to run: `iptables-nft-restore`, `ip6tables-legacy-save`, ... */
export type Backend = 'nft' | 'legacy';

export interface TableCounters {
  restore(): void;
  save(): void;
  rulesWritten(n: number): void;
}

interface DesiredChain {
  rules: IptRule[];
  hashes: string[];
}

/** What `iptables-save` showed for a chain: one entry per rule, our hash or null. */
type KernelChain = (string | null)[];

/**
 * The text of each of our rules in chains that are not ours, by chain and
 * hash. Others insert and delete rules in those chains whenever they like, so
 * a position we read may be stale by the time we write: we delete our rules
 * there by value (`-D FORWARD <spec>`), never by number.
 */
type HookSpecs = Map<string, Map<string, string>>;

function specsOf(specs: HookSpecs, chain: string): Map<string, string> {
  let m = specs.get(chain);
  if (!m) specs.set(chain, (m = new Map()));
  return m;
}

const HASH_CHARS = new RegExp(`^[A-Za-z0-9_-]{${RULE_HASH_LEN}}$`);

/**
 * Reads `iptables-save -t T` output line by line into chains with their
 * rules' hashes (and built-in chain policies). Only the small pieces kept are
 * allocated: with 200k rules the save output is tens of MB and felix reads it
 * on every refresh, so it is consumed as it streams in, never held whole.
 */
export class SaveParser {
  readonly chains = new Map<string, KernelChain>();
  readonly policies = new Map<string, string>();
  /** rule specs of our rules in chains not ours (built-in ones), by chain and hash: see HookSpecs */
  readonly hookSpecs: HookSpecs = new Map();

  /**
   * `expected` gives the hashes we believe a chain has: a hash read back equal
   * to the expected one is stored as that same string, so a refresh of an
   * unchanged dataplane keeps no second copy of 200k hashes.
   */
  constructor(private readonly expected: (chain: string) => readonly string[] | undefined = () => undefined) {}

  private chainOf(name: string): KernelChain {
    let c = this.chains.get(name);
    if (!c) this.chains.set(name, (c = []));
    return c;
  }

  line(l: string): void {
    if (l.startsWith(':')) {
      const [name, policy] = l.slice(1).split(' ', 2);
      this.chainOf(name!);
      if (policy && policy !== '-') this.policies.set(name!, policy);
    } else if (l.startsWith('-A ')) {
      const sp = l.indexOf(' ', 3);
      let hash: string | null = null;
      const c = l.indexOf('--comment ');
      if (c >= 0) {
        const at = c + 10 + (l[c + 10] === '"' ? 1 : 0);
        if (l.startsWith(RULE_HASH_PREFIX, at)) {
          const h = l.slice(at + RULE_HASH_PREFIX.length, at + RULE_HASH_PREFIX.length + RULE_HASH_LEN);
          if (HASH_CHARS.test(h)) hash = h;
        }
      }
      const name = l.slice(3, sp < 0 ? undefined : sp);
      const chain = this.chainOf(name);
      const exp = this.expected(name)?.[chain.length];
      chain.push(hash !== null && hash === exp ? exp : hash);
      if (hash !== null && !name.startsWith(CHAIN_PREFIX)) specsOf(this.hookSpecs, name).set(hash, l.slice(sp + 1));
    }
  }
}

export function parseSave(text: string, policies?: Map<string, string>): Map<string, KernelChain> {
  const p = new SaveParser();
  for (const l of text.split('\n')) p.line(l);
  for (const [k, v] of p.policies) policies?.set(k, v);
  return p.chains;
}

const sameRules = (a: readonly IptRule[] | undefined, b: readonly IptRule[]): boolean =>
  a === b || (!!a && a.length === b.length && a.every((r, i) => r.match === b[i]!.match && r.action === b[i]!.action));

/** The RETURN that ends a changed chain's new rules while its old ones still follow (see IptablesTable.apply). */
const RETURN_RULE: IptRule = { match: '', action: '-j RETURN' };
const ruleText = (r: IptRule): string => `${r.match} ${r.action}`;

/**
 * Hashes already worked out, by rules array. The managers hand both IP
 * families the same array for a chain that is the same in both (endpoint,
 * dispatch and body chains: ~20k of the ~25k rules per family at 5,000
 * endpoints), so the second family's costs nothing. Hash arrays are never
 * mutated, so the two tables can share one.
 */
const hashed = new WeakMap<readonly IptRule[], { chain: string; hashes: string[] }>();

function desiredChain(chain: string, rules: IptRule[]): DesiredChain {
  const known = hashed.get(rules);
  if (known?.chain === chain) return { rules, hashes: known.hashes };
  const hashes = ruleHashes(chain, rules.map(ruleText));
  hashed.set(rules, { chain, hashes });
  return { rules, hashes };
}

/**
 * Hash of the RETURN that ends a chain's new rules while its old ones still
 * follow (see IptablesTable.apply). Worked out only when needed: most chains
 * never need it, and a cold start has ~40k of them.
 */
const returnHash = (chain: string, d: DesiredChain): string => nextRuleHash(d.hashes[d.hashes.length - 1] ?? chain, ruleText(RETURN_RULE));

const eq = (a: readonly (string | null)[] | undefined, b: readonly string[]): boolean =>
  !!a && a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * One iptables table of one IP family (e.g. IPv4 filter). Holds the desired
 * `cali-` chains and the rules we insert into the built-in chains; reads the
 * kernel back with `iptables-save`, compares by rule hash (save rewrites rule
 * text, so text is never compared) and writes the difference in one
 * `iptables-restore --noflush`. Chains whose hashes match are not touched, so
 * their counters survive; nothing at all is run when nothing differs.
 * Unknown `cali-` chains (leftovers) are removed; other chains are never touched.
 */
export class IptablesTable {
  private readonly desired = new Map<string, DesiredChain>();
  private readonly inserts = new Map<string, DesiredChain>();
  /** chains whose desired state changed since the last apply */
  private readonly dirty = new Set<string>();
  /** last known kernel state: undefined = must re-read */
  private kernel?: Map<string, KernelChain>;
  /** the text of our rules in the kernel's built-in chains, known with `kernel` */
  private hookSpecs: HookSpecs = new Map();

  constructor(
    readonly table: string,
    readonly version: 4 | 6,
    private readonly backend: Backend,
    private readonly run: Runner,
    private readonly counters: TableCounters,
    private readonly log: Logger,
    private readonly insertMode: 'insert' | 'append' = 'insert',
    /** leave deletions to cleanup() (nft; see apply) instead of making them in the same restore */
    private readonly deferDeletes = false,
  ) {}

  private get tool(): string {
    return `${this.version === 4 ? 'iptables' : 'ip6tables'}-${this.backend}`;
  }

  setChain(name: string, rules: IptRule[]): void {
    if (sameRules(this.desired.get(name)?.rules, rules)) return;
    this.desired.set(name, desiredChain(name, rules));
    this.dirty.add(name);
  }

  removeChain(name: string): void {
    if (this.desired.delete(name)) this.dirty.add(name);
  }

  /** Our rules at the top (or bottom, in append mode) of a built-in chain. */
  setInsertions(builtin: string, rules: IptRule[]): void {
    if (sameRules(this.inserts.get(builtin)?.rules, rules)) return;
    this.inserts.set(builtin, desiredChain(builtin, rules));
    this.dirty.add(builtin);
  }

  /** Forget what we believe the kernel holds: the next apply re-reads and repairs everything. */
  invalidate(): void {
    this.kernel = undefined;
    this.untidy.clear();
    this.read.forget();
  }

  /** Start reading the kernel back now (see Dataplane.prefetch). */
  prefetch(): void {
    if (!this.kernel) this.read.start();
  }

  get pending(): boolean {
    return this.dirty.size > 0 || !this.kernel;
  }

  /** cleanup() has something to delete */
  get needsCleanup(): boolean {
    return this.untidy.size > 0;
  }

  /** policies of the built-in chains, from the last read */
  private builtins = new Map<string, string>();

  private readonly read = new EarlyRead(() => this.readKernel());

  private async readKernel(): Promise<SaveParser> {
    this.counters.save();
    const p = new SaveParser((chain) => (this.desired.get(chain) ?? this.inserts.get(chain))?.hashes);
    const onLine = (l: string) => p.line(l);
    const res = await this.run([`${this.tool}-save`, '-t', this.table], undefined, false, onLine);
    // A runner that does not stream (tests) hands the whole text back instead.
    for (const l of res.stdout.split('\n')) p.line(l);
    this.builtins = p.policies;
    return p;
  }

  /**
   * The table holds nothing at all (only empty built-in chains): then we may
   * load it whole, without --noflush, which iptables-nft does several times
   * faster for thousands of chains (its --noflush path checks every chain
   * declaration against its cache).
   */
  private isEmpty(kernel: Map<string, KernelChain>): boolean {
    for (const [name, rules] of kernel) if (rules.length || !this.builtins.has(name)) return false;
    return true;
  }

  /** Read the kernel back if we do not know what it holds (start, refresh, after a failure). */
  async readIfNeeded(): Promise<void> {
    if (this.kernel) return;
    const read = await this.read.collect();
    this.kernel = read.chains;
    this.hookSpecs = read.hookSpecs;
    // Full check on the next apply: every desired chain, every insertion, every leftover of ours.
    this.fullCheck = true;
  }

  private fullCheck = false;
  /** our chains whose kernel copy has a stale tail after its RETURN, or that are no longer wanted */
  private readonly untidy = new Set<string>();

  /**
   * Bring the kernel to the desired state; resolves once written: true if
   * something was written.
   *
   * A chain that changed gets its new rules inserted at the top, followed by
   * a RETURN, in front of the old ones: from the commit on, packets see
   * exactly the new chain (falling off a user chain is a RETURN too). The old
   * rules, and chains no longer wanted, are deleted after that in the same
   * restore, or, with `deferDeletes`, later by cleanup(). Why defer: a commit
   * that deletes rules makes the next close of any netfilter netlink socket
   * wait for an RCU grace period (the kernel frees the deleted rules first),
   * ~10-15 ms per restore here, a third to a half of a small change. A
   * separate, later restore keeps it out of the time from a datastore change
   * to the kernel, and costs little: a commit that only deletes does not make
   * nf_tables re-validate the table. (Legacy restores copy the whole table
   * each time, so there a second one is not worth it.)
   */
  async apply(): Promise<boolean> {
    await this.readIfNeeded();
    const kernel = this.kernel!;
    const toCheck = this.fullCheck ? new Set([...this.desired.keys(), ...this.inserts.keys(), ...kernel.keys(), ...this.dirty]) : this.dirty;
    this.fullCheck = false;
    const declare: string[] = [];
    /** new chains, and old ones with new rules in front: their rule lines are produced while writing to iptables-restore */
    const rewrite: Rewrite[] = [];
    /** chains the kernel does not have yet */
    const fresh = new Set<string>();
    const hookDeletes: string[] = [];
    const hookInserts: string[] = [];
    const written = new Map<string, KernelChain>();
    let rules = 0;

    for (const name of toCheck) {
      const want = this.inserts.get(name);
      const isOurs = name.startsWith(CHAIN_PREFIX);
      if (!isOurs) {
        // A built-in (or someone else's) chain: only our inserted rules are ours.
        const have = kernel.get(name);
        if (!have) continue;
        const mine = have.flatMap((h, i) => (h ? [i] : []));
        const hashes = want?.hashes ?? [];
        const top = this.insertMode === 'insert' ? have.slice(0, hashes.length) : have.slice(have.length - hashes.length);
        if (mine.length === hashes.length && eq(top, hashes)) continue;
        const specs = specsOf(this.hookSpecs, name);
        for (const i of mine) hookDeletes.push(`-D ${name} ${specs.get(have[i]!)}`);
        const remaining = have.filter((h) => !h);
        const rs = want?.rules ?? [];
        specs.clear();
        rs.forEach((r, i) => specs.set(hashes[i]!, line(r, hashes[i]!)));
        if (this.insertMode === 'insert') {
          for (let i = rs.length - 1; i >= 0; i--) hookInserts.push(`-I ${name} 1 ${line(rs[i]!, hashes[i]!)}`);
          written.set(name, [...hashes, ...remaining]);
        } else {
          rs.forEach((r, i) => hookInserts.push(`-A ${name} ${line(r, hashes[i]!)}`));
          written.set(name, [...remaining, ...hashes]);
        }
        rules += rs.length;
        continue;
      }
      const d = this.desired.get(name);
      const have = kernel.get(name);
      if (!d) {
        if (have) this.untidy.add(name);
        continue;
      }
      if (eq(have, d.hashes)) {
        kernel.set(name, d.hashes); // share the array: the parsed copy can go
        continue;
      }
      if (have && startsWith(have, d.hashes) && have[d.hashes.length] === returnHash(name, d)) {
        this.untidy.add(name); // already in force; only the old tail is left
        continue;
      }
      if (!have) (declare.push(`:${name} - [0:0]`), fresh.add(name));
      if (!have?.length) {
        rewrite.push([name, d, 'append']);
        written.set(name, d.hashes);
      } else {
        rewrite.push([name, d, 'insert']);
        written.set(name, [...d.hashes, returnHash(name, d), ...have]);
        this.untidy.add(name);
      }
      rules += d.rules.length;
    }
    this.dirty.clear();
    // Decided on what the kernel holds before this write.
    const whole = this.isEmpty(kernel);
    for (const [name, hashes] of written) kernel.set(name, hashes);
    const tidy = this.deferDeletes ? undefined : this.cleanupPlan();
    if (!declare.length && !rewrite.length && !hookDeletes.length && !hookInserts.length && !tidy) return false;

    // Loading whole, the built-in chains are declared with the policies they have.
    const builtinDecls = whole ? [...this.builtins].map(([name, policy]) => `:${name} ${policy} [0:0]`) : [];
    const table = this.table;
    // New rules go in front of the old ones as inserts at position 1, last
    // first (the RETURN, then the rules in reverse): an insert at any other
    // position makes iptables-nft read the rules of every chain it looks up,
    // here every jump target of the chain (~30 dumps for a dispatch leaf).
    const lines = ([name, d, how]: Rewrite): string =>
      how === 'append'
        ? d.rules.map((r, i) => `-A ${name} ${line(r, d.hashes[i]!)}\n`).join('')
        : [`-I ${name} 1 ${line(RETURN_RULE, returnHash(name, d))}`, ...d.rules.map((r, i) => `-I ${name} 1 ${line(r, d.hashes[i]!)}`).reverse(), ''].join('\n');
    // A big --noflush restore with nft goes in as several transactions:
    // iptables-nft's time per rule grows with the rules in the same
    // transaction (11k rules: 1.8 s in one, 0.3 s in commits of 2,000). The
    // new chains come first: declared (empty) in one commit, then filled a
    // few thousand rules per commit. Nothing can refer to them before the
    // last commit, which holds everything that changes what packets see.
    const split = this.backend === 'nft' && !whole && rules > SPLIT_RULES;
    const early = split ? rewrite.filter(([name]) => fresh.has(name)) : [];
    const late = split ? rewrite.filter(([name]) => !fresh.has(name)) : rewrite;
    function* input(): Generator<string> {
      if (split) {
        yield [`*${table}`, ...declare, 'COMMIT', `*${table}`, ''].join('\n');
        let n = 0;
        for (const w of early) {
          if (n && n + w[1].rules.length > SPLIT_RULES) (yield `COMMIT\n*${table}\n`), (n = 0);
          yield lines(w);
          n += w[1].rules.length;
        }
        yield [`COMMIT`, `*${table}`, ...(tidy?.flush ?? []), ...hookDeletes, ''].join('\n');
      } else {
        yield [`*${table}`, ...builtinDecls, ...declare, ...(tidy?.flush ?? []), ...hookDeletes, ''].join('\n');
      }
      for (const w of late) yield lines(w);
      yield [...hookInserts, ...(tidy?.deletes ?? []), 'COMMIT', ''].join('\n');
    }
    await this.restore(input, whole, rules);
    if (tidy) this.tidied(tidy);
    return true;
  }

  /**
   * Delete what apply() left behind (with `deferDeletes`): the old rules
   * after the RETURN of each rewritten chain, then the chains no longer
   * wanted. One restore; true if something was written.
   */
  async cleanup(): Promise<boolean> {
    const plan = this.kernel && this.cleanupPlan();
    if (!plan) return false;
    await this.restore(() => [[`*${this.table}`, ...plan.flush, ...plan.deletes, 'COMMIT', ''].join('\n')], false, 0);
    this.tidied(plan);
    return true;
  }

  /**
   * The deletions due, from what the kernel holds now: flush the chains no
   * longer wanted (first), delete the old tails (each from its end), then
   * remove those chains (nothing refers to them once the tails are gone).
   */
  private cleanupPlan(): CleanupPlan | undefined {
    const kernel = this.kernel!;
    const plan: CleanupPlan = { flush: [], deletes: [], after: new Map() };
    const removes: string[] = [];
    for (const name of this.untidy) {
      const have = kernel.get(name);
      if (!have) continue;
      const d = this.desired.get(name);
      if (!d) {
        plan.flush.push(`:${name} - [0:0]`);
        removes.push(`-X ${name}`);
        plan.after.set(name, undefined);
      } else if (startsWith(have, d.hashes) && have.length > d.hashes.length) {
        for (let i = have.length; i > d.hashes.length; i--) plan.deletes.push(`-D ${name} ${i}`);
        plan.after.set(name, d.hashes);
      }
    }
    this.untidy.clear();
    plan.deletes.push(...removes);
    return plan.after.size ? plan : undefined;
  }

  private tidied(plan: CleanupPlan): void {
    for (const [name, hashes] of plan.after) {
      if (hashes) this.kernel!.set(name, hashes);
      else this.kernel!.delete(name);
    }
  }

  private async restore(input: () => Iterable<string>, whole: boolean, rules: number): Promise<void> {
    this.counters.restore();
    this.counters.rulesWritten(rules);
    try {
      await this.run([`${this.tool}-restore`, ...(whole ? [] : ['--noflush']), '--wait', '10'], input());
    } catch (e) {
      // We no longer know what the kernel holds: re-read on the next attempt.
      this.kernel = undefined;
      this.untidy.clear();
      this.log.debug({ start: [...input()].join('').slice(0, 4000) }, 'failed restore input');
      throw e;
    }
  }
}

interface CleanupPlan {
  /** `:chain - [0:0]` for chains to remove (they go at the top of the input) */
  flush: string[];
  /** `-D chain n` for old tails, then `-X chain` */
  deletes: string[];
  /** what each chain holds afterwards (undefined: gone) */
  after: Map<string, KernelChain | undefined>;
}

/** A chain to write: its new rules appended (a new or empty chain) or inserted in front of its old ones. */
type Rewrite = [name: string, chain: DesiredChain, how: 'append' | 'insert'];

/** Rules per transaction of a big --noflush restore (nft; see IptablesTable.apply). */
const SPLIT_RULES = 2000;

const startsWith = (a: readonly (string | null)[], prefix: readonly string[]): boolean => prefix.every((x, i) => a[i] === x);

const line = (r: IptRule, hash: string): string =>
  `${r.match ? r.match + ' ' : ''}-m comment --comment "${RULE_HASH_PREFIX}${hash}" ${r.action}`;
