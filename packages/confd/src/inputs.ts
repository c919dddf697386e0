import { canonicalIp, parseCidr, parseIp } from '@calico/libcalico/net';
import { decodeResource } from '@calico/libcalico/resources/client';
import { parseResourceKey } from '@calico/libcalico/resources/kinds';
import { ValidationError } from '@calico/libcalico/errors';
import type {
  BGPConfigurationSpec,
  BGPPeerSpec,
  Cidr,
  Family,
  IPPoolSpec,
  KV,
  NodeSpec,
  Resource,
} from '@calico/libcalico';
import { parseSelectorCached, type SelectorNode } from '@calico/libcalico/selector';
import { parseAffinityKey } from '@calico/libcalico/ipam/keys';

/**
 * Everything confd reads from the datastore, decoded into typed records.
 * A malformed record is reported through `onInvalid` and skipped: one bad
 * value written by someone else never stops the others from being rendered.
 */

/** Where Calico v0.x kept raw BIRD filter statements; rendered into custom_filters(). */
export const CUSTOM_FILTERS_PREFIX = '/calico/bgp/v1/global/custom_filters/';

export interface NodeInfo {
  name: string;
  labels: Record<string, string>;
  /** address without the prefix length */
  ipv4?: string;
  ipv6?: string;
  /** plain AS number (asdot converted) */
  asNumber?: string;
  rrClusterId?: string;
}

export interface PeerInfo {
  name: string;
  /** peer address (canonical), when peerIP is set */
  peerIP?: { ip: string; family: Family };
  asNumber?: string;
  node?: string;
  nodeSelector?: SelectorNode;
  peerSelector?: SelectorNode;
  password?: string;
  /** UseNodeIP (default) binds the session to the node's address; None leaves it to the kernel */
  sourceAddress: 'UseNodeIP' | 'None';
  keepOriginalNextHop: boolean;
}

export interface BgpConfigInfo {
  asNumber?: string;
  nodeToNodeMeshEnabled?: boolean;
  logSeverityScreen?: string;
  listenPort?: number;
}

export interface PoolInfo {
  name: string;
  cidr: Cidr;
}

export interface BgpInput {
  nodeName: string;
  nodes: Map<string, NodeInfo>;
  peers: PeerInfo[];
  /** BGPConfiguration `default` */
  defaults: BgpConfigInfo;
  /** BGPConfiguration `node.<name>`, by node name */
  nodeConfigs: Map<string, BgpConfigInfo>;
  pools: PoolInfo[];
  /** blocks affine to this node, per family */
  blocks: Record<Family, Cidr[]>;
  /** raw BIRD statements, per family, in key order */
  customFilters: Record<Family, string[]>;
}

export type OnInvalid = (key: string, err: Error) => void;

/**
 * The read* functions take resources that decodeResource has validated
 * (libcalico's schemas: addresses, AS numbers, ports, selectors) and keep
 * what BIRD needs, in the form the view model compares and prints.
 */
const addressOf = (ifaceAddress: string | undefined): string | undefined =>
  ifaceAddress ? canonicalIp(ifaceAddress.split('/')[0]!) : undefined;
const asText = (n: number | undefined): string | undefined => (n === undefined ? undefined : String(n));
const selectorOf = (text: string | undefined): SelectorNode | undefined => (text ? parseSelectorCached(text) : undefined);

function readNode(r: Resource<NodeSpec>): NodeInfo {
  const bgp = r.spec.bgp ?? {};
  return {
    name: r.metadata.name,
    labels: { ...(r.metadata.labels ?? {}) },
    ipv4: addressOf(bgp.ipv4Address),
    ipv6: addressOf(bgp.ipv6Address),
    asNumber: asText(bgp.asNumber),
    rrClusterId: bgp.routeReflectorClusterID ? canonicalIp(bgp.routeReflectorClusterID) : undefined,
  };
}

/**
 * BIRD reads the password as a double-quoted string: refuse what would end
 * it early. Calico's secretKeyRef points at a Kubernetes secret, which a
 * plain etcd cluster does not have.
 */
function peerPassword(v: BGPPeerSpec['password']): string | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw new ValidationError('spec.password', 'secretKeyRef needs Kubernetes secrets; give the password inline');
  if (/["\\\n\r]/.test(v)) throw new ValidationError('spec.password', 'may not contain quotes, backslashes or line breaks');
  return v;
}

function readPeer(r: Resource<BGPPeerSpec>): PeerInfo {
  const s = r.spec;
  return {
    name: r.metadata.name,
    peerIP: s.peerIP ? { ip: canonicalIp(s.peerIP), family: parseIp(s.peerIP, 'spec.peerIP').family } : undefined,
    asNumber: asText(s.asNumber),
    node: s.node || undefined,
    nodeSelector: selectorOf(s.nodeSelector),
    peerSelector: selectorOf(s.peerSelector),
    password: peerPassword(s.password),
    sourceAddress: s.sourceAddress === 'None' ? 'None' : 'UseNodeIP',
    keepOriginalNextHop: s.keepOriginalNextHop === true,
  };
}

function readBgpConfig(r: Resource<BGPConfigurationSpec>): BgpConfigInfo {
  const s = r.spec;
  return {
    asNumber: asText(s.asNumber),
    nodeToNodeMeshEnabled: s.nodeToNodeMeshEnabled,
    logSeverityScreen: s.logSeverityScreen,
    listenPort: s.listenPort,
  };
}

function readPool(r: Resource<IPPoolSpec>): PoolInfo {
  // Disabled pools count too: `disabled` stops allocation, existing workloads stay routed.
  return { name: r.metadata.name, cidr: parseCidr(r.spec.cidr, 'spec.cidr') };
}

/**
 * An affinity value is Calico's `{"state":"confirmed"}`; an empty value is an
 * older, unconditional claim. Only confirmed blocks are announced.
 */
function affinityConfirmed(value: string): boolean {
  if (!value.trim()) return true;
  const v: unknown = JSON.parse(value);
  if (typeof v !== 'object' || v === null) return true;
  const { state, deleted } = v as { state?: unknown; deleted?: unknown };
  return deleted !== true && (state === undefined || state === 'confirmed');
}

/** One datastore record, decoded; undefined for keys confd does not use. */
type InputRecord =
  | { t: 'filter'; family: Family; statement: string }
  | { t: 'block'; family: Family; cidr: Cidr }
  | { t: 'node'; node: NodeInfo }
  | { t: 'peer'; peer: PeerInfo }
  | { t: 'config'; name: string; config: BgpConfigInfo }
  | { t: 'pool'; pool: PoolInfo }
  | undefined;

function decodeRecord(kv: KV, nodeName: string): InputRecord {
  if (kv.key.startsWith(CUSTOM_FILTERS_PREFIX)) {
    const m = /^v([46])\/[^/]+$/.exec(kv.key.slice(CUSTOM_FILTERS_PREFIX.length));
    return m && kv.value.trim() ? { t: 'filter', family: Number(m[1]) as Family, statement: kv.value.trim() } : undefined;
  }
  const affinity = parseAffinityKey(kv.key);
  if (affinity) {
    const mine = affinity.host === nodeName && affinityConfirmed(kv.value);
    return mine ? { t: 'block', family: affinity.family, cidr: parseCidr(affinity.cidr, 'block') } : undefined;
  }
  if (!parseResourceKey(kv.key)) return undefined;
  const r = decodeResource(kv);
  switch (r.kind) {
    case 'Node':
      return { t: 'node', node: readNode(r as Resource<NodeSpec>) };
    case 'BGPPeer':
      return { t: 'peer', peer: readPeer(r as Resource<BGPPeerSpec>) };
    case 'BGPConfiguration':
      return { t: 'config', name: r.metadata.name, config: readBgpConfig(r as Resource<BGPConfigurationSpec>) };
    case 'IPPool':
      return { t: 'pool', pool: readPool(r as unknown as Resource<IPPoolSpec>) };
  }
  return undefined;
}

/**
 * Decoded records remembered per key and value, for one node: every render
 * reads all records, but only the changed ones are parsed and validated again.
 */
export class DecodeCache {
  private entries = new Map<string, { value: string; out: InputRecord | Error }>();

  decode(kv: KV, nodeName: string): InputRecord {
    let e = this.entries.get(kv.key);
    if (!e || e.value !== kv.value) {
      let out: InputRecord | Error;
      try {
        out = decodeRecord(kv, nodeName);
      } catch (err) {
        out = err as Error;
      }
      e = { value: kv.value, out };
      this.entries.set(kv.key, e);
    }
    if (e.out instanceof Error) throw e.out;
    return e.out;
  }

  /** Forget records that are gone. */
  retain(keys: Set<string>): void {
    for (const k of this.entries.keys()) if (!keys.has(k)) this.entries.delete(k);
  }
}

/**
 * Decode every watched key into the typed input of the view model. Pass the
 * same cache on every call for one node to skip unchanged records.
 */
export function readInput(kvs: Iterable<KV>, nodeName: string, onInvalid: OnInvalid, cache = new DecodeCache()): BgpInput {
  const input: BgpInput = {
    nodeName,
    nodes: new Map(),
    peers: [],
    defaults: {},
    nodeConfigs: new Map(),
    pools: [],
    blocks: { 4: [], 6: [] },
    customFilters: { 4: [], 6: [] },
  };
  const sorted = [...kvs].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const kv of sorted) {
    let rec: InputRecord;
    try {
      rec = cache.decode(kv, nodeName);
    } catch (e) {
      onInvalid(kv.key, e as Error);
      continue;
    }
    switch (rec?.t) {
      case 'filter':
        input.customFilters[rec.family].push(rec.statement);
        break;
      case 'block':
        input.blocks[rec.family].push(rec.cidr);
        break;
      case 'node':
        input.nodes.set(rec.node.name, rec.node);
        break;
      case 'peer':
        input.peers.push(rec.peer);
        break;
      case 'config':
        if (rec.name === 'default') input.defaults = rec.config;
        else if (rec.name.startsWith('node.')) input.nodeConfigs.set(rec.name.slice(5), rec.config);
        break;
      case 'pool':
        input.pools.push(rec.pool);
        break;
    }
  }
  cache.retain(new Set(sorted.map((kv) => kv.key)));
  return input;
}
