import type { Datastore } from '../datastore/types.js';
import { canonicalIp, cidrContains, cidrSize, formatCidr, parseCidr, parseCidrOrIp, type Cidr, type Family } from '../net.js';
import { ResourceClient } from '../resources/client.js';
import { Block } from './block.js';
import { HANDLE_PREFIX, HOST_PREFIX, blockPrefix, parseAffinityKey, parseBlockKey } from './keys.js';
import { parseHandle, toIpamPool, type IpamPool } from './model.js';

/** Everything IPAM has stored, parsed; malformed records are listed, not fatal. */
interface Snapshot {
  pools: IpamPool[];
  blocks: { key: string; block: Block }[];
  handles: Map<string, Record<string, number>>;
  affinities: { key: string; host: string; cidr: string }[];
  malformed: { key: string; reason: string }[];
}

async function snapshot(ds: Datastore, resources: ResourceClient): Promise<Snapshot> {
  const malformed: Snapshot['malformed'] = [];
  const pools: IpamPool[] = [];
  for (const r of await resources.list('IPPool', { onInvalid: (key, e) => malformed.push({ key, reason: e.message }) })) {
    try {
      pools.push(toIpamPool(r));
    } catch (e) {
      malformed.push({ key: `IPPool(${r.metadata.name})`, reason: (e as Error).message });
    }
  }
  const blocks: Snapshot['blocks'] = [];
  for (const f of [4, 6] as Family[]) {
    for (const kv of (await ds.list(blockPrefix(f))).kvs) {
      try {
        blocks.push({ key: kv.key, block: Block.parse(kv.value, kv.key) });
      } catch (e) {
        malformed.push({ key: kv.key, reason: (e as Error).message });
      }
    }
  }
  blocks.sort((a, b) => compareCidrs(a.block.cidr, b.block.cidr));
  const handles = new Map<string, Record<string, number>>();
  for (const kv of (await ds.list(HANDLE_PREFIX)).kvs) {
    const id = kv.key.slice(HANDLE_PREFIX.length);
    try {
      handles.set(id, parseHandle(kv.value, id).block);
    } catch (e) {
      malformed.push({ key: kv.key, reason: (e as Error).message });
    }
  }
  const affinities: Snapshot['affinities'] = [];
  for (const kv of (await ds.list(HOST_PREFIX)).kvs) {
    const a = parseAffinityKey(kv.key);
    if (a) affinities.push({ key: kv.key, host: a.host, cidr: a.cidr });
  }
  return { pools, blocks, handles, affinities, malformed };
}

export interface IpamCheckReport {
  pools: number;
  blocks: number;
  handles: number;
  allocations: number;
  /** allocations whose handle record is missing or does not list their block */
  missingHandles: { ip: string; handleId: string | null; block: string }[];
  /** handle records that count more (or fewer) addresses in a block than the block holds */
  handleMismatches: { handleId: string; block: string; recorded: number; actual: number }[];
  /** allocated addresses that no WorkloadEndpoint or Node tunnel address uses (possible leaks) */
  leaks: { ip: string; handleId: string | null; block: string }[];
  blocksOutsidePools: string[];
  /** affinity keys whose block is missing or affine to someone else */
  danglingAffinities: { host: string; block: string; reason: string }[];
  malformed: { key: string; reason: string }[];
  /** true when nothing above was found */
  ok: boolean;
}

/** Addresses in use by workloads and nodes: the owners an allocation may have. */
async function usedAddresses(resources: ResourceClient): Promise<Set<string>> {
  const used = new Set<string>();
  const add = (text: unknown): void => {
    if (typeof text !== 'string' || !text) return;
    try {
      used.add(canonicalIp(text.split('/')[0]!));
    } catch {
      /* not an address: not an owner */
    }
  };
  for (const wep of await resources.list<{ ipNetworks?: string[] }>('WorkloadEndpoint', { onInvalid: () => {} })) {
    for (const n of wep.spec.ipNetworks ?? []) add(n);
  }
  for (const node of await resources.list<{ bgp?: Record<string, unknown>; ipv4VXLANTunnelAddr?: string }>('Node', { onInvalid: () => {} })) {
    add(node.spec.bgp?.ipv4IPIPTunnelAddr);
    add(node.spec.ipv4VXLANTunnelAddr);
  }
  return used;
}

/**
 * Cross-check blocks, handles, affinities, pools and endpoints (`calicoctl
 * ipam check`). Read-only; meant to be run when allocators are quiet, since
 * an allocation in flight looks like a handle mismatch for a moment.
 */
export async function checkIpam(ds: Datastore, resources = new ResourceClient(ds)): Promise<IpamCheckReport> {
  const snap = await snapshot(ds, resources);
  const used = await usedAddresses(resources);
  const report: IpamCheckReport = {
    pools: snap.pools.length,
    blocks: snap.blocks.length,
    handles: snap.handles.size,
    allocations: 0,
    missingHandles: [],
    handleMismatches: [],
    leaks: [],
    blocksOutsidePools: [],
    danglingAffinities: [],
    malformed: snap.malformed,
    ok: false,
  };
  const actual = new Map<string, Map<string, number>>(); // handle → block → count
  const byCidr = new Map<string, Block>();
  for (const { block } of snap.blocks) {
    const cidr = formatCidr(block.cidr);
    byCidr.set(cidr, block);
    if (!snap.pools.some((p) => cidrContains(p.cidr, block.cidr))) report.blocksOutsidePools.push(cidr);
    for (const { ordinal, handleId } of block.allocated()) {
      report.allocations++;
      const ip = block.ipAt(ordinal);
      if (handleId === null || !snap.handles.get(handleId)?.[cidr]) report.missingHandles.push({ ip, handleId, block: cidr });
      if (!used.has(ip)) report.leaks.push({ ip, handleId, block: cidr });
      if (handleId !== null) {
        const m = actual.get(handleId) ?? new Map<string, number>();
        m.set(cidr, (m.get(cidr) ?? 0) + 1);
        actual.set(handleId, m);
      }
    }
  }
  for (const [handleId, counts] of snap.handles) {
    for (const [cidr, recorded] of Object.entries(counts)) {
      const n = actual.get(handleId)?.get(cidr) ?? 0;
      if (n !== recorded) report.handleMismatches.push({ handleId, block: cidr, recorded, actual: n });
    }
  }
  for (const a of snap.affinities) {
    let cidr = a.cidr;
    try {
      cidr = formatCidr(parseCidrOrIp(a.cidr));
    } catch {
      /* reported below as missing */
    }
    const block = byCidr.get(cidr);
    if (!block) report.danglingAffinities.push({ host: a.host, block: a.cidr, reason: 'block does not exist' });
    else if (block.host !== a.host) {
      report.danglingAffinities.push({ host: a.host, block: a.cidr, reason: block.host ? `block is affine to ${block.host}` : 'block has no affinity' });
    }
  }
  report.ok =
    !report.missingHandles.length &&
    !report.handleMismatches.length &&
    !report.leaks.length &&
    !report.blocksOutsidePools.length &&
    !report.danglingAffinities.length &&
    !report.malformed.length;
  return report;
}

const compareCidrs = (a: Cidr, b: Cidr): number => a.family - b.family || (a.base < b.base ? -1 : a.base > b.base ? 1 : a.prefix - b.prefix);

export interface PoolUsage {
  cidr: string;
  name: string;
  disabled: boolean;
  size: bigint;
  allocated: number;
  free: bigint;
}

export interface BlockUsage {
  cidr: string;
  host: string | null;
  size: number;
  allocated: number;
  free: number;
}

/** Pools and blocks with how many addresses are in use (`calicoctl ipam show`). */
export async function ipamUsage(ds: Datastore, resources = new ResourceClient(ds)): Promise<{ pools: PoolUsage[]; blocks: BlockUsage[] }> {
  const snap = await snapshot(ds, resources);
  const blocks: BlockUsage[] = snap.blocks
    .map(({ block }) => ({ cidr: formatCidr(block.cidr), host: block.host ?? null, size: block.size, allocated: block.usedCount, free: block.freeCount }))
    .sort((a, b) => compareCidrs(parseCidr(a.cidr), parseCidr(b.cidr)));
  const pools: PoolUsage[] = snap.pools.map((p) => {
    const allocated = snap.blocks.filter(({ block }) => cidrContains(p.cidr, block.cidr)).reduce((n, { block }) => n + block.usedCount, 0);
    const size = cidrSize(p.cidr);
    return { cidr: p.cidrText, name: p.name, disabled: p.disabled, size, allocated, free: size - BigInt(allocated) };
  });
  return { pools, blocks };
}
