import { ValidationError, isCode } from '../errors.js';
import type { CasOp, Datastore, KV } from '../datastore/types.js';
import type { Logger } from '../log.js';
import { cidrContains, cidrContainsIp, cidrsOverlap, enclosing, formatCidr, formatIp, parseCidr, parseIp, subnetAt, subnetCount, type Cidr, type Family } from '../net.js';
import { ResourceClient } from '../resources/client.js';
import { Block } from './block.js';
import {
  IPAM_CONFIG_KEY,
  affinityKey,
  blockKey,
  blockPrefix,
  handleKey,
  hostAffinityPrefix,
  parseAffinityKey,
  parseBlockKey,
  validateHandleId,
  validateHostname,
} from './keys.js';
import {
  IpamError,
  familyName,
  parseHandle,
  parseIpamConfig,
  poolSelectsNode,
  serializeIpamConfig,
  toIpamPool,
  type IpamConfig,
  type IpamPool,
} from './model.js';
import { checkIpam, type IpamCheckReport } from './report.js';
import { IpamStore, isLostRace } from './store.js';

export interface IpamOptions {
  /** CAS conflicts tolerated per operation before "Max retries" (Calico: 100) */
  maxRetries?: number;
  /**
   * How long pools and the IPAM config may be reused between calls. 0 (the
   * default) reads them on every call; a long-lived allocator may cache.
   */
  cacheTtlMs?: number;
  /** how long to keep retrying while etcd is unreachable (default 15 s) */
  unavailableMs?: number;
  log?: Logger;
}

export interface AutoAssignRequest {
  num4?: number;
  num6?: number;
  handleId: string;
  attrs?: Record<string, string>;
  hostname: string;
  /** CIDRs of the pools to choose from (default: every enabled pool that selects the host) */
  pools?: string[];
  /** overrides the configured per-host block limit (0 = unlimited) */
  maxBlocksPerHost?: number;
}

export interface AutoAssignResult {
  ipv4: string[];
  ipv6: string[];
}

export interface AssignIpRequest {
  ip: string;
  handleId: string;
  attrs?: Record<string, string>;
  hostname: string;
}

export interface IpAttributes {
  ip: string;
  block: string;
  handleId: string | null;
  attrs: Record<string, string>;
}

/** How long a block seen full is taken to still be full (see refreshBlocks). */
const FULL_BLOCK_RECHECK_MS = 5000;

const AFFINITY_VALUE = JSON.stringify({ state: 'confirmed', deleted: false });

interface TakeOptions {
  /** whether this block may be used (its affinity may have changed) */
  accept: (b: Block) => boolean;
  /** read the block even if the cached copy says it is full */
  reread?: boolean;
  /** the block as just listed */
  seen?: KV;
  /** on a lost race, return (contended) instead of retrying */
  yieldOnConflict?: boolean;
}

/** Per-call state: what this call added to its handle and what it committed to blocks. */
class Assignment {
  /** handle record as last written (null: absent), so the next write needs no read */
  handleKv: KV | null = null;
  readonly reserved = new Map<string, number>();
  readonly used = new Map<string, number>();
  readonly ips: { family: Family; block: string; ip: string }[] = [];
  conflicts = 0;

  constructor(
    readonly handleId: string,
    readonly attrs: Record<string, string> | null,
    private readonly maxRetries: number,
  ) {}

  lostRace(what: string): void {
    if (++this.conflicts > this.maxRetries) {
      throw new IpamError('MaxRetries', `Max retries (${this.maxRetries}) hit: ${what} kept changing under us (handle ${this.handleId})`);
    }
  }
}

/**
 * Calico-style IPAM (DESIGN.md §3, calico.md §7.3) over any Datastore.
 *
 * Pools are cut into blocks affine to a host. An allocation is committed by
 * a CAS write of its block, in one atomic commit (`Datastore.commit`, one
 * etcd transaction) with the handle record. Two
 * allocators can never hand out the same address: each address lives in
 * exactly one block document, and every block write is a compare-and-swap
 * on the revision it was computed from.
 */
export class Ipam {
  private readonly store: IpamStore;
  private readonly resources: ResourceClient;
  private readonly maxRetries: number;
  private readonly cacheTtlMs: number;
  private readonly log?: Logger;
  private poolCache?: { at: number; pools: IpamPool[] };
  private configCache?: { at: number; config: IpamConfig };
  /** last block documents seen, with their free count (hints: every write is still a CAS) */
  private readonly blocks = new Map<string, { kv: KV; free: number; at: number }>();
  /** CIDRs of each host's affine blocks, by `${host}/${family}` */
  private readonly affine = new Map<string, Set<string>>();
  /** the block each host's allocations last came from, by `${host}/${family}` */
  private readonly preferred = new Map<string, string>();
  /** block CIDRs known to exist, by pool (skipped when looking for a block to claim) */
  private readonly taken = new Map<string, Set<string>>();

  constructor(
    readonly ds: Datastore,
    opts: IpamOptions = {},
  ) {
    this.store = new IpamStore(ds, opts.unavailableMs ?? 15_000);
    this.resources = new ResourceClient(ds);
    this.maxRetries = opts.maxRetries ?? 100;
    this.cacheTtlMs = opts.cacheTtlMs ?? 0;
    this.log = opts.log;
  }

  // ---- pools and configuration ----

  async pools(): Promise<IpamPool[]> {
    if (this.poolCache && Date.now() - this.poolCache.at < this.cacheTtlMs) return this.poolCache.pools;
    const listed = await this.store.retrying(() =>
      this.resources.list('IPPool', { onInvalid: (key, e) => this.log?.warn({ key, err: e.message }, 'skipping invalid IPPool') }),
    );
    const pools: IpamPool[] = [];
    for (const r of listed) {
      try {
        pools.push(toIpamPool(r));
      } catch (e) {
        this.log?.warn({ pool: r.metadata.name, err: (e as Error).message }, 'skipping IPPool unusable for IPAM');
      }
    }
    this.poolCache = { at: Date.now(), pools };
    return pools;
  }

  async getConfig(): Promise<IpamConfig> {
    if (this.configCache && Date.now() - this.configCache.at < this.cacheTtlMs) return this.configCache.config;
    const kv = await this.store.get(IPAM_CONFIG_KEY);
    let config: IpamConfig;
    try {
      config = parseIpamConfig(kv?.value);
    } catch {
      this.log?.warn({ key: IPAM_CONFIG_KEY }, 'IPAM config is not JSON; using defaults');
      config = parseIpamConfig(undefined);
    }
    this.configCache = { at: Date.now(), config };
    return config;
  }

  async setConfig(change: Partial<IpamConfig>): Promise<IpamConfig> {
    if (change.maxBlocksPerHost !== undefined && !(Number.isInteger(change.maxBlocksPerHost) && change.maxBlocksPerHost >= 0)) {
      throw new ValidationError('maxBlocksPerHost', 'must be a whole number ≥ 0 (0 = unlimited)');
    }
    for (;;) {
      const kv = await this.store.get(IPAM_CONFIG_KEY);
      const config = { ...parseIpamConfig(kv?.value), ...change };
      try {
        await this.store.write(IPAM_CONFIG_KEY, serializeIpamConfig(config), kv);
        this.configCache = undefined;
        return config;
      } catch (e) {
        if (!isLostRace(e)) throw e;
      }
    }
  }

  /** The enabled pools of a family that this request may use; validates requested CIDRs. */
  private async usablePools(all: IpamPool[], family: Family, host: string, requested: string[] | undefined): Promise<IpamPool[]> {
    let candidates = all.filter((p) => p.cidr.family === family && !p.disabled);
    if (requested) {
      const wanted = requested.filter((c) => parseCidr(c, 'pools').family === family).map((c) => formatCidr(parseCidr(c, 'pools')));
      candidates = candidates.filter((p) => wanted.includes(p.cidrText));
    }
    if (candidates.some((p) => p.nodeSelector !== 'all()')) {
      const node = await this.store.retrying(() => this.resources.tryGet('Node', host));
      const labels = node?.metadata.labels ?? {};
      candidates = candidates.filter((p) => poolSelectsNode(p, labels));
    }
    return candidates;
  }

  private checkRequestedPools(all: IpamPool[], requested: string[]): void {
    for (const text of requested) {
      const cidr = formatCidr(parseCidr(text, 'pools'));
      const pool = all.find((p) => p.cidrText === cidr);
      if (!pool) throw new ValidationError('pools', `IP pool ${cidr} does not exist`);
      if (pool.disabled) throw new ValidationError('pools', `IP pool ${cidr} is disabled`);
    }
  }

  // ---- allocation ----

  /**
   * Allocate num4 IPv4 and num6 IPv6 addresses for a handle on a host: from
   * the host's blocks, then a newly claimed block, then (unless strict
   * affinity) borrowed from any block. All or nothing: on failure whatever
   * this call took is released again.
   */
  async autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult> {
    const handleId = validateHandleId(req.handleId);
    const host = validateHostname(req.hostname);
    const num4 = checkCount(req.num4, 'num4');
    const num6 = checkCount(req.num6, 'num6');
    const attrs = checkAttrs(req.attrs);
    if (req.pools !== undefined && !Array.isArray(req.pools)) throw new ValidationError('pools', 'must be a list of CIDRs');
    const [pools, config] = await Promise.all([this.pools(), this.getConfig()]);
    if (req.pools) this.checkRequestedPools(pools, req.pools);
    const limit = req.maxBlocksPerHost ?? config.maxBlocksPerHost;
    if (!Number.isInteger(limit) || limit < 0) throw new ValidationError('maxBlocksPerHost', 'must be a whole number ≥ 0 (0 = unlimited)');

    const call = new Assignment(handleId, attrs, this.maxRetries);
    try {
      const ipv4 = num4 ? await this.assignFamily(call, 4, num4, host, await this.usablePools(pools, 4, host, req.pools), req.pools, config, limit) : [];
      const ipv6 = num6 ? await this.assignFamily(call, 6, num6, host, await this.usablePools(pools, 6, host, req.pools), req.pools, config, limit) : [];
      await this.settleHandle(call);
      return { ipv4, ipv6 };
    } catch (e) {
      await this.rollback(call).catch((err: Error) =>
        this.log?.warn({ handleId, err: err.message }, 'could not undo a failed assignment; release it by handle'),
      );
      throw e;
    }
  }

  private async assignFamily(
    call: Assignment,
    family: Family,
    num: number,
    host: string,
    pools: IpamPool[],
    requested: string[] | undefined,
    config: IpamConfig,
    limit: number,
  ): Promise<string[]> {
    if (!pools.length) {
      throw new IpamError(
        'NoPools',
        requested
          ? `none of the requested pools (${requested.join(', ')}) is an enabled ${familyName(family)} pool for node ${host}`
          : `no enabled ${familyName(family)} IP pool selects node ${host}`,
      );
    }
    const got: string[] = [];
    const mine = (b: Block): boolean => {
      if (b.host === host) return true;
      this.affine.get(`${host}/${family}`)?.delete(formatCidr(b.cidr)); // no longer ours
      return false;
    };

    // 1. The host's own blocks, as cached; then, before claiming a new one,
    // a fresh list read back from etcd (another process for this host may
    // have claimed blocks, or freed addresses in blocks we saw full). The
    // block this allocator used last comes first, and a block on which it
    // loses a race to another allocator of the host is left to that one for
    // now: each allocator settles on a block of its own instead of the two
    // retrying against each other on every allocation.
    const id = `${host}/${family}`;
    const contended = new Set<string>();
    const inPools = (cidr: string): boolean => pools.some((p) => cidrContains(p.cidr, parseCidr(cidr)));
    const take = async (cidr: string, opts: TakeOptions): Promise<void> => {
      const r = await this.assignInBlock(call, family, cidr, num - got.length, opts);
      if (r.ips.length) this.preferred.set(id, cidr);
      if (r.contended) contended.add(cidr);
      got.push(...r.ips);
    };
    for (const fresh of this.affine.has(id) ? [false, true] : [true]) {
      const own = [...(await this.affineBlocks(host, family, fresh))].filter(inPools);
      if (fresh) await this.refreshBlocks(family, own); // all at once: one round trip, not one per block
      const pref = this.preferred.get(id);
      if (pref && own.includes(pref)) own.unshift(pref);
      for (const cidr of new Set(own)) {
        if (got.length === num) return got;
        if (!contended.has(cidr)) await take(cidr, { accept: mine, yieldOnConflict: true });
      }
      if (got.length === num) return got;
    }

    // 2. Claim new blocks; if none can be claimed, go back to the contended ones.
    let limitHit = false;
    while (got.length < num && config.autoAllocateBlocks) {
      if (limit > 0 && (await this.affineBlocks(host, family, false)).size >= limit) {
        limitHit = true;
        break;
      }
      const cidr = await this.claimBlock(call, family, host, pools, config);
      if (!cidr) break;
      // Another allocator of this host may have claimed the same block a
      // moment earlier: leave it to that one too and claim the next.
      await take(cidr, { accept: mine, yieldOnConflict: true });
    }
    for (const cidr of contended) if (got.length < num) await take(cidr, { accept: mine, reread: true });

    // 3. Borrow from any block in the pools, unless strict affinity.
    if (got.length < num && !config.strictAffinity) {
      const { kvs } = await this.store.list(blockPrefix(family));
      const candidates = kvs.filter((kv) => {
        const c = parseBlockKey(kv.key);
        return c && pools.some((p) => cidrContains(p.cidr, c));
      });
      shuffle(candidates);
      for (const kv of candidates) {
        if (got.length === num) break;
        const cidr = formatCidr(parseBlockKey(kv.key)!);
        const r = await this.assignInBlock(call, family, cidr, num - got.length, { accept: (b) => !b.data.strictAffinity || b.host === host, seen: kv });
        got.push(...r.ips);
      }
    }

    if (got.length < num) {
      const why = [
        config.strictAffinity ? 'strict affinity is on, so no borrowing from other hosts’ blocks' : '',
        limitHit ? `node ${host} holds its limit of ${limit} blocks` : '',
        !config.autoAllocateBlocks ? 'automatic block allocation is off' : '',
      ].filter(Boolean);
      throw new IpamError(
        'Exhausted',
        `no free ${familyName(family)} addresses for node ${host} in pool(s) ${pools.map((p) => p.cidrText).join(', ')}: ` +
          `requested ${num}, found ${got.length}${why.length ? ` (${why.join('; ')})` : ''}`,
      );
    }
    return got;
  }

  /** CIDRs of the blocks affine to a host (from its affinity keys). */
  private async affineBlocks(host: string, family: Family, refresh: boolean): Promise<Set<string>> {
    const id = `${host}/${family}`;
    let set = this.affine.get(id);
    if (!set || refresh) {
      const { kvs } = await this.store.list(hostAffinityPrefix(host, family));
      set = new Set(kvs.map((kv) => parseAffinityKey(kv.key)?.cidr).filter((c): c is string => !!c).map((c) => formatCidr(parseCidr(c))));
      this.affine.set(id, set);
    }
    return set;
  }

  /**
   * Take up to `num` addresses from one block for the call's handle.
   * Returns what it took (possibly nothing: the block is full, gone, not
   * acceptable, or malformed), and whether it gave up after losing a race.
   */
  private async assignInBlock(call: Assignment, family: Family, cidr: string, num: number, opts: TakeOptions): Promise<{ ips: string[]; contended: boolean }> {
    const none = { ips: [] as string[], contended: false };
    const key = blockKey(family, cidr);
    const cached = this.blocks.get(key);
    if (cached && cached.free === 0 && !opts.reread && !opts.seen) return none;
    let kv: KV | null | undefined = opts.seen ?? (opts.reread ? undefined : cached?.kv);
    for (;;) {
      kv ??= await this.store.get(key);
      if (!kv) {
        this.forgetBlock(key, family, cidr);
        return none;
      }
      const block = this.parseBlock(kv);
      if (!block) return none;
      this.blocks.set(key, { kv, free: block.freeCount, at: Date.now() });
      if (!opts.accept(block) || block.freeCount === 0) return none;
      const take = Math.min(num, block.freeCount);
      const ips = block.assign(take, call.handleId, call.attrs);
      // The handle grows in the same commit as the block (one etcd txn).
      const spare = (call.reserved.get(cidr) ?? 0) - (call.used.get(cidr) ?? 0);
      const add = Math.max(0, take - spare);
      const ops: CasOp[] = [];
      if (add) ops.push(this.handleOp(call.handleId, call.handleKv, (counts) => (counts[cidr] = (counts[cidr] ?? 0) + add)));
      ops.push({ key, value: block.serialize(), revision: kv.revision });
      const res = await this.store.commit(ops);
      if (add && res.succeeded) {
        call.handleKv = res.kvs[0]!;
        call.reserved.set(cidr, (call.reserved.get(cidr) ?? 0) + add);
      }
      if (res.succeeded) {
        this.blocks.set(key, { kv: res.kvs[ops.length - 1]!, free: block.freeCount, at: Date.now() });
        call.used.set(cidr, (call.used.get(cidr) ?? 0) + ips.length);
        for (const ip of ips) call.ips.push({ family, block: cidr, ip });
        return { ips, contended: false };
      }
      call.lostRace(`block ${cidr}`);
      if (add) call.handleKv = res.current[0]!;
      const tried = kv;
      kv = res.current[ops.length - 1]; // null: the block is gone
      // Only the handle moved (e.g. the handle already held addresses of
      // another family): the block is still ours to use, retry it at once.
      const blockMoved = kv?.revision !== tried.revision;
      if (kv && blockMoved && opts.yieldOnConflict) {
        const now = this.parseBlock(kv);
        if (now) this.blocks.set(key, { kv, free: now.freeCount, at: Date.now() });
        return { ips: [], contended: true };
      }
    }
  }

  /** A CAS write of a handle record changed by `change` (a delete when it counts nothing). */
  private handleOp(handleId: string, prev: KV | null, change: (counts: Record<string, number>) => void): CasOp {
    const counts = prev ? parseHandle(prev.value, handleId).block : {};
    change(counts);
    for (const k of Object.keys(counts)) if (!(counts[k]! > 0)) delete counts[k];
    const value = Object.keys(counts).length ? JSON.stringify({ id: handleId, block: counts }) : null;
    return { key: handleKey(handleId), value, revision: prev?.revision ?? null };
  }

  /**
   * Read blocks into the cache (concurrently). A block seen full a moment
   * ago is not read again: addresses freed in it are found on a later pass.
   */
  private async refreshBlocks(family: Family, cidrs: string[]): Promise<void> {
    await Promise.all(
      cidrs.map(async (cidr) => {
        const key = blockKey(family, cidr);
        const cached = this.blocks.get(key);
        if (cached && cached.free === 0 && Date.now() - cached.at < FULL_BLOCK_RECHECK_MS) return;
        const kv = await this.store.get(key);
        const block = kv && this.parseBlock(kv);
        if (kv && block) this.blocks.set(key, { kv, free: block.freeCount, at: Date.now() });
        else this.forgetBlock(key, family, cidr);
      }),
    );
  }

  private parseBlock(kv: KV): Block | undefined {
    try {
      return Block.parse(kv.value, kv.key);
    } catch (e) {
      this.log?.warn({ key: kv.key, err: (e as Error).message }, 'skipping malformed IPAM block');
      return undefined;
    }
  }

  private forgetBlock(key: string, family: Family, cidr: string): void {
    this.blocks.delete(key);
    for (const [id, set] of this.affine) if (id.endsWith(`/${family}`)) set.delete(cidr);
    for (const set of this.taken.values()) set.delete(cidr);
  }

  /**
   * Claim a free block for a host: the affinity key first, then the block
   * itself with create-if-absent (the commit point). If another host won
   * the block, our affinity key is removed and the next subnet is tried.
   * Returns the block CIDR, or undefined when every pool is full.
   */
  private async claimBlock(call: Assignment, family: Family, host: string, pools: IpamPool[], config: IpamConfig): Promise<string | undefined> {
    for (const pool of pools) {
      // A fresh allocator learns which blocks exist with one list; later
      // claims reuse that knowledge and discover new blocks by losing races.
      // Before giving up on a pool, look again with a fresh list.
      const cached = this.taken.get(pool.cidrText);
      for (const taken of cached ? [cached, undefined] : [undefined]) {
        const set = taken ?? (await this.existingBlocks(family, pool));
        this.taken.set(pool.cidrText, set);
        const cidr = await this.claimInPool(call, family, host, pool, config, set);
        if (cidr) return cidr;
      }
    }
    return undefined;
  }

  private async existingBlocks(family: Family, pool: IpamPool): Promise<Set<string>> {
    const { kvs } = await this.store.list(blockPrefix(family));
    const set = new Set<string>();
    for (const kv of kvs) {
      const c = parseBlockKey(kv.key);
      if (c && cidrsOverlap(c, pool.cidr)) {
        set.add(formatCidr(c));
      }
    }
    return set;
  }

  private async claimInPool(
    call: Assignment,
    family: Family,
    host: string,
    pool: IpamPool,
    config: IpamConfig,
    taken: Set<string>,
  ): Promise<string | undefined> {
    const count = subnetCount(pool.cidr, pool.blockSize);
    // Start at a host-seeded place so that hosts claim in different regions.
    const start = seed(`${host}|${pool.cidrText}`) % count;
    const existing = [...taken].map((t) => parseCidr(t));
    for (let i = 0n; i < count; i++) {
      const candidate = subnetAt(pool.cidr, pool.blockSize, (start + i) % count);
      const cidr = formatCidr(candidate);
      if (taken.has(cidr)) continue;
      // A block of another size (pool re-created with a new blockSize) may cover it.
      if (existing.some((e) => e.prefix !== candidate.prefix && cidrsOverlap(e, candidate))) continue;
      const key = blockKey(family, cidr);
      const aKey = affinityKey(host, family, cidr);
      const createdAffinity = await this.store.createIfAbsent(aKey, AFFINITY_VALUE);
      try {
        const block = Block.create(candidate, host, config.strictAffinity);
        const kv = await this.store.write(key, block.serialize(), null);
        this.blocks.set(key, { kv, free: block.freeCount, at: Date.now() });
        taken.add(cidr);
        (await this.affineBlocks(host, family, false)).add(cidr);
        this.log?.debug({ host, block: cidr }, 'claimed block');
        return cidr;
      } catch (e) {
        if (!isCode(e, 'AlreadyExists')) throw e;
      }
      // Someone created it first. Another allocator of this host: the block
      // is the host's (the own-blocks pass will see it) but that allocator is
      // about to fill it, so go on to the next. Another host: withdraw our
      // affinity key.
      taken.add(cidr);
      const kv = await this.store.get(key);
      const block = kv && this.parseBlock(kv);
      if (kv && block) this.blocks.set(key, { kv, free: block.freeCount, at: Date.now() });
      if (block?.host === host) (await this.affineBlocks(host, family, false)).add(cidr);
      else if (createdAffinity) await this.store.removeIfPresent(aKey);
      call.lostRace(`claiming block ${cidr}`);
    }
    return undefined;
  }

  /** Make sure the handle counts at least `take` more addresses in `cidr` than committed so far. */
  private async reserve(call: Assignment, cidr: string, take: number): Promise<void> {
    const spare = (call.reserved.get(cidr) ?? 0) - (call.used.get(cidr) ?? 0);
    if (spare >= take) return;
    const add = take - spare;
    call.handleKv = await this.updateHandle(call.handleId, (counts) => {
      counts[cidr] = (counts[cidr] ?? 0) + add;
    }, call.handleKv);
    call.reserved.set(cidr, (call.reserved.get(cidr) ?? 0) + add);
  }

  /** Bring the handle in line with what the call actually committed. */
  private async settleHandle(call: Assignment): Promise<void> {
    const delta = new Map<string, number>();
    for (const [cidr, n] of call.reserved) {
      const d = (call.used.get(cidr) ?? 0) - n;
      if (d !== 0) delta.set(cidr, d);
    }
    if (!delta.size) return;
    call.handleKv = await this.updateHandle(call.handleId, (counts) => {
      for (const [cidr, d] of delta) counts[cidr] = (counts[cidr] ?? 0) + d;
    }, call.handleKv);
    for (const [cidr, d] of delta) call.reserved.set(cidr, call.reserved.get(cidr)! + d);
  }

  private async rollback(call: Assignment): Promise<void> {
    const byBlock = new Map<string, { family: Family; ips: string[] }>();
    for (const a of call.ips) {
      const g = byBlock.get(a.block) ?? { family: a.family, ips: [] };
      g.ips.push(a.ip);
      byBlock.set(a.block, g);
    }
    for (const [cidr, g] of byBlock) {
      const { perHandle } = await this.releaseInBlock(g.family, cidr, (b) => g.ips.map((ip) => b.ordinalOf(g.family, parseIp(ip).value)));
      const n = perHandle.get(call.handleId) ?? 0;
      call.used.set(cidr, (call.used.get(cidr) ?? 0) - n);
    }
    await this.settleHandle(call);
  }

  /**
   * Read-modify-write a handle record with CAS; deletes it when it no
   * longer counts anything. `hint` is the record as last seen (null: absent).
   * Returns the record as written (null: absent).
   */
  private async updateHandle(handleId: string, change: (counts: Record<string, number>) => void, hint?: KV | null): Promise<KV | null> {
    const key = handleKey(handleId);
    let kv = hint;
    for (let attempt = 0; ; attempt++) {
      if (kv === undefined) kv = await this.store.get(key);
      const counts = kv ? parseHandle(kv.value, handleId).block : {};
      change(counts);
      for (const k of Object.keys(counts)) if (!(counts[k]! > 0)) delete counts[k];
      try {
        if (!Object.keys(counts).length) {
          if (kv) await this.store.remove(key, kv);
          return null;
        }
        return await this.store.write(key, JSON.stringify({ id: handleId, block: counts }), kv);
      } catch (e) {
        if (!isLostRace(e) || attempt >= this.maxRetries) {
          if (isLostRace(e)) throw new IpamError('MaxRetries', `Max retries (${this.maxRetries}) hit updating handle ${handleId}`);
          throw e;
        }
        kv = undefined;
      }
    }
  }

  /** Assign one specific address. Errors if it is in use or outside every enabled pool. */
  async assignIp(req: AssignIpRequest): Promise<{ ip: string; block: string }> {
    const handleId = validateHandleId(req.handleId);
    const host = validateHostname(req.hostname);
    const attrs = checkAttrs(req.attrs);
    const { family, value } = parseIp(req.ip, 'ip');
    const pool = (await this.pools()).find((p) => cidrContainsIp(p.cidr, family, value));
    if (!pool) throw new ValidationError('ip', `${req.ip} is not in any IP pool`);
    if (pool.disabled) throw new ValidationError('ip', `${req.ip} is in IP pool ${pool.cidrText}, which is disabled`);
    const blockCidr = enclosing(family, value, pool.blockSize);
    const cidr = formatCidr(blockCidr);
    const key = blockKey(family, cidr);
    const config = await this.getConfig();
    const call = new Assignment(handleId, attrs, this.maxRetries);
    try {
      for (;;) {
        let kv = await this.store.get(key);
        if (!kv) {
          // The block does not exist yet: claim it for this host first.
          await this.store.createIfAbsent(affinityKey(host, family, cidr), AFFINITY_VALUE);
          try {
            kv = await this.store.write(key, Block.create(blockCidr, host, config.strictAffinity).serialize(), null);
            this.affine.get(`${host}/${family}`)?.add(cidr);
          } catch (e) {
            if (!isLostRace(e)) throw e;
            await this.store.removeIfPresent(affinityKey(host, family, cidr));
            call.lostRace(`block ${cidr}`);
            continue;
          }
        }
        const block = Block.parse(kv.value, kv.key);
        const ord = block.ordinalOf(family, value);
        const owner = block.attributeOf(ord);
        if (owner) throw new IpamError('InUse', `${req.ip} is already assigned (handle ${owner.handle_id ?? 'none'})`);
        await this.reserve(call, cidr, 1);
        block.assignOrdinal(ord, handleId, attrs);
        try {
          this.blocks.set(key, { kv: await this.store.write(key, block.serialize(), kv), free: block.freeCount, at: Date.now() });
          call.used.set(cidr, 1);
          call.ips.push({ family, block: cidr, ip: block.ipAt(ord) });
          break;
        } catch (e) {
          if (!isLostRace(e)) throw e;
          call.lostRace(`block ${cidr}`);
        }
      }
      await this.settleHandle(call);
      return { ip: call.ips[0]!.ip, block: cidr };
    } catch (e) {
      await this.rollback(call).catch((err: Error) => this.log?.warn({ handleId, err: err.message }, 'could not undo a failed assignment'));
      throw e;
    }
  }

  // ---- release ----

  /**
   * Free addresses in one block with a CAS loop; `pick` chooses the
   * ordinals from the current document. An emptied block with no affinity
   * is deleted. Returns the addresses freed and how many per handle.
   */
  private async releaseInBlock(
    family: Family,
    cidr: string,
    pick: (b: Block) => number[],
  ): Promise<{ ips: string[]; perHandle: Map<string | null, number> }> {
    const key = blockKey(family, cidr);
    for (let attempt = 0; ; attempt++) {
      const kv = await this.store.get(key);
      if (!kv) {
        this.forgetBlock(key, family, cidr);
        return { ips: [], perHandle: new Map() };
      }
      const block = Block.parse(kv.value, kv.key);
      const ords = pick(block).filter((o) => o >= 0 && block.attributeOf(o));
      if (!ords.length) return { ips: [], perHandle: new Map() };
      const ips = ords.map((o) => block.ipAt(o));
      const perHandle = block.release(ords);
      try {
        if (block.isEmpty && !block.host) {
          await this.store.remove(key, kv);
          this.forgetBlock(key, family, cidr);
        } else {
          this.blocks.set(key, { kv: await this.store.write(key, block.serialize(), kv), free: block.freeCount, at: Date.now() });
        }
        return { ips, perHandle };
      } catch (e) {
        if (!isLostRace(e)) throw e;
        if (attempt >= this.maxRetries) throw new IpamError('MaxRetries', `Max retries (${this.maxRetries}) hit releasing addresses in block ${cidr}`);
      }
    }
  }

  /** The block CIDR that holds an address (from its pool, else by looking at the stored blocks). */
  private async blockOf(family: Family, value: bigint): Promise<string | undefined> {
    const pool = (await this.pools()).find((p) => cidrContainsIp(p.cidr, family, value));
    if (pool) return formatCidr(enclosing(family, value, pool.blockSize));
    const { kvs } = await this.store.list(blockPrefix(family));
    for (const kv of kvs) {
      const c = parseBlockKey(kv.key);
      if (c && cidrContainsIp(c, family, value)) return formatCidr(c);
    }
    return undefined;
  }

  /** Release addresses by IP; already-free ones are fine. Returns those that were not allocated. */
  async releaseIps(ips: string[]): Promise<string[]> {
    if (!Array.isArray(ips)) throw new ValidationError('ips', 'must be a list of addresses');
    const parsed = ips.map((ip, i) => ({ ip, ...parseIp(ip, `ips[${i}]`) }));
    const groups = new Map<string, { family: Family; items: typeof parsed }>();
    const notAllocated: string[] = [];
    for (const p of parsed) {
      const cidr = await this.blockOf(p.family, p.value);
      if (!cidr) {
        notAllocated.push(p.ip);
        continue;
      }
      const g = groups.get(cidr) ?? { family: p.family, items: [] };
      g.items.push(p);
      groups.set(cidr, g);
    }
    const perHandle = new Map<string, Map<string, number>>();
    for (const [cidr, g] of groups) {
      const freed = await this.releaseInBlock(g.family, cidr, (b) => g.items.map((p) => b.ordinalOf(p.family, p.value)));
      const freedSet = new Set(freed.ips);
      for (const p of g.items) if (!freedSet.has(formatIp(p.family, p.value))) notAllocated.push(p.ip);
      for (const [h, n] of freed.perHandle) {
        if (h === null) continue;
        const m = perHandle.get(h) ?? new Map<string, number>();
        m.set(cidr, (m.get(cidr) ?? 0) + n);
        perHandle.set(h, m);
      }
    }
    for (const [h, m] of perHandle) {
      await this.updateHandle(h, (counts) => {
        for (const [cidr, n] of m) counts[cidr] = (counts[cidr] ?? 0) - n;
      });
    }
    return notAllocated;
  }

  /**
   * Release everything recorded against a handle, block by block; each
   * block and the handle's shrinking record are one commit. Idempotent;
   * returns the addresses freed.
   */
  async releaseByHandle(handleId: string): Promise<string[]> {
    validateHandleId(handleId);
    const hKey = handleKey(handleId);
    let hkv = await this.store.get(hKey);
    const released: string[] = [];
    for (let conflicts = 0; hkv; ) {
      const text = Object.keys(parseHandle(hkv.value, handleId).block)[0];
      if (text === undefined) {
        await this.store.remove(hKey, hkv).catch((e: unknown) => {
          if (!isLostRace(e)) throw e;
        });
        hkv = await this.store.get(hKey);
        continue;
      }
      const ops: CasOp[] = [];
      let ips: string[] = [];
      let cidr: Cidr | undefined;
      try {
        cidr = parseCidr(text, `handle ${handleId}`);
      } catch {
        /* not a CIDR: just drop the entry */
      }
      const key = cidr && blockKey(cidr.family, formatCidr(cidr));
      // The cached block will do if it shows the handle's addresses (the CAS
      // catches it being stale); if it shows none, it may just be old: read.
      const cached = key && this.blocks.get(key)?.kv;
      const cachedHolds = cached && Block.parse(cached.value, cached.key).ordinalsOf(handleId).length > 0;
      const bkv = key ? (cachedHolds ? cached : await this.store.get(key)) : null;
      let left: Block | undefined;
      if (key && bkv) {
        const block = Block.parse(bkv.value, bkv.key);
        const ords = block.ordinalsOf(handleId);
        if (ords.length) {
          ips = ords.map((o) => block.ipAt(o));
          block.release(ords);
          left = block.isEmpty && !block.host ? undefined : block;
          ops.push({ key, value: left ? left.serialize() : null, revision: bkv.revision });
        }
      }
      ops.push(this.handleOp(handleId, hkv, (counts) => delete counts[text]));
      const res = await this.store.commit(ops);
      const blockDone = ips.length > 0 && res.succeeded;
      if (blockDone && key && cidr) {
        released.push(...ips);
        if (left) this.blocks.set(key, { kv: res.kvs[0]!, free: left.freeCount, at: Date.now() });
        else this.forgetBlock(key, cidr.family, formatCidr(cidr));
      }
      if (res.succeeded) {
        hkv = res.kvs[ops.length - 1]!;
      } else {
        if (++conflicts > this.maxRetries) throw new IpamError('MaxRetries', `Max retries (${this.maxRetries}) hit releasing handle ${handleId}`);
        hkv = res.current[ops.length - 1]!;
        if (key) this.blocks.delete(key);
      }
    }
    return released;
  }

  /** Addresses currently held by a handle. */
  async ipsByHandle(handleId: string): Promise<string[]> {
    validateHandleId(handleId);
    const kv = await this.store.get(handleKey(handleId));
    if (!kv) return [];
    const out: string[] = [];
    for (const text of Object.keys(parseHandle(kv.value, handleId).block)) {
      const cidr = parseCidr(text);
      const bkv = await this.store.get(blockKey(cidr.family, formatCidr(cidr)));
      const block = bkv && this.parseBlock(bkv);
      if (block) out.push(...block.ordinalsOf(handleId).map((o) => block.ipAt(o)));
    }
    return out;
  }

  /** Who holds an address, or undefined if it is free. */
  async getAttributes(ip: string): Promise<IpAttributes | undefined> {
    const { family, value } = parseIp(ip, 'ip');
    const cidr = await this.blockOf(family, value);
    if (!cidr) return undefined;
    const kv = await this.store.get(blockKey(family, cidr));
    const block = kv && this.parseBlock(kv);
    if (!block) return undefined;
    const attr = block.attributeOf(block.ordinalOf(family, value));
    if (!attr) return undefined;
    return { ip: block.ipAt(block.ordinalOf(family, value)), block: cidr, handleId: attr.handle_id, attrs: attr.secondary ?? {} };
  }

  /** Cross-check IPAM against pools and endpoints (see checkIpam in report.ts). */
  checkIpam(resources: ResourceClient = this.resources): Promise<IpamCheckReport> {
    return checkIpam(this.ds, resources);
  }

  /**
   * Give up a host's blocks (node removal): empty blocks are deleted,
   * blocks still in use lose their affinity (their addresses stay valid and
   * the block becomes borrowable), then the affinity keys go.
   */
  async releaseHostAffinities(hostname: string): Promise<{ deleted: string[]; released: string[] }> {
    const host = validateHostname(hostname);
    const out = { deleted: [] as string[], released: [] as string[] };
    for (const family of [4, 6] as Family[]) {
      const { kvs } = await this.store.list(hostAffinityPrefix(host, family));
      for (const akv of kvs) {
        const a = parseAffinityKey(akv.key);
        if (!a) continue;
        const cidr = formatCidr(parseCidr(a.cidr));
        const key = blockKey(family, cidr);
        for (let attempt = 0; ; attempt++) {
          const kv = await this.store.get(key);
          const block = kv && this.parseBlock(kv);
          if (!kv || !block || block.host !== host) break;
          try {
            if (block.isEmpty) {
              await this.store.remove(key, kv);
              out.deleted.push(cidr);
            } else {
              block.clearAffinity();
              await this.store.write(key, block.serialize(), kv);
              out.released.push(cidr);
            }
            break;
          } catch (e) {
            if (!isLostRace(e) || attempt >= this.maxRetries) throw e;
          }
        }
        this.forgetBlock(key, family, cidr);
        await this.store.removeIfPresent(akv.key);
      }
      this.affine.delete(`${host}/${family}`);
    }
    return out;
  }
}

function checkCount(n: unknown, field: string): number {
  if (n === undefined) return 0;
  if (!Number.isInteger(n) || (n as number) < 0 || (n as number) > 1024) throw new ValidationError(field, 'must be a whole number from 0 to 1024');
  return n as number;
}

function checkAttrs(attrs: unknown): Record<string, string> | null {
  if (attrs === undefined || attrs === null) return null;
  if (typeof attrs !== 'object' || Array.isArray(attrs)) throw new ValidationError('attrs', 'must be an object of string values');
  for (const [k, v] of Object.entries(attrs)) if (typeof v !== 'string') throw new ValidationError(`attrs.${k}`, 'must be a string');
  return attrs as Record<string, string>;
}

/** FNV-1a 64-bit: a stable per-host starting point. */
function seed(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(text)) {
    h ^= BigInt(ch);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

function shuffle<T>(a: T[]): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
}
