import {
  canonicalIp,
  decodeResource,
  parseCidr,
  parseIp,
  parseResourceKey,
  ValidationError,
  type Cidr,
  type Family,
  type KV,
  type Resource,
} from '@calico/libcalico';
import { parseSelector, type SelectorNode } from '@calico/libcalico/selector';
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
  disabled: boolean;
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

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function optString(spec: Obj, field: string): string | undefined {
  const v = spec[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ValidationError(field, 'must be a string');
  return v;
}

/** AS numbers as BIRD wants them: plain integers; asdot "a.b" becomes a*65536+b. */
export function plainAsNumber(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const text = String(v);
  const dot = /^(\d+)\.(\d+)$/.exec(text);
  const n = dot ? Number(dot[1]) * 65536 + Number(dot[2]) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 4294967295 || (dot && (Number(dot[1]) > 65535 || Number(dot[2]) > 65535))) {
    throw new ValidationError(field, `${JSON.stringify(v)} is not a valid AS number (1..4294967295 or a.b)`);
  }
  return String(n);
}

function optPort(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ValidationError(field, `${JSON.stringify(v)} is not a port (1..65535)`);
  return n;
}

/** "198.18.0.1/24" (Node.spec.bgp.ipv4Address) → "198.18.0.1" */
function interfaceAddress(v: unknown, field: string, family: Family): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ValidationError(field, 'must be a string');
  const ip = v.includes('/') ? v.slice(0, v.indexOf('/')) : v;
  if (v.includes('/')) parseCidr(v, field, true);
  const p = parseIp(ip, field);
  if (p.family !== family) throw new ValidationError(field, `${v} is not an IPv${family} address`);
  return canonicalIp(ip);
}

function optSelector(spec: Obj, field: string): SelectorNode | undefined {
  const text = optString(spec, field);
  if (text === undefined) return undefined;
  try {
    return parseSelector(text);
  } catch (e) {
    throw new ValidationError(field, (e as Error).message);
  }
}

/**
 * BIRD reads the password as a double-quoted string: refuse what would end
 * it early. Calico v3 points at a Kubernetes secret (secretKeyRef), which a
 * plain etcd cluster does not have; we take the value inline.
 */
function peerPassword(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') {
    const why = isObj(v) && 'secretKeyRef' in v ? 'secretKeyRef needs Kubernetes secrets; give the password inline' : 'must be a string';
    throw new ValidationError('password', why);
  }
  const text = v;
  if (/["\\\n\r]/.test(text)) throw new ValidationError('password', 'may not contain quotes, backslashes or line breaks');
  return text;
}

function readNode(r: Resource): NodeInfo {
  const bgp = isObj(r.spec.bgp) ? r.spec.bgp : {};
  const at = (f: string) => `spec.bgp.${f}`;
  const rr = bgp.routeReflectorClusterID;
  if (rr !== undefined && rr !== null && rr !== '' && (typeof rr !== 'string' || parseIp(rr, at('routeReflectorClusterID')).family !== 4)) {
    throw new ValidationError(at('routeReflectorClusterID'), 'must be an IPv4 address');
  }
  return {
    name: r.metadata.name,
    labels: { ...(r.metadata.labels ?? {}) },
    ipv4: interfaceAddress(bgp.ipv4Address, at('ipv4Address'), 4),
    ipv6: interfaceAddress(bgp.ipv6Address, at('ipv6Address'), 6),
    asNumber: plainAsNumber(bgp.asNumber, at('asNumber')),
    rrClusterId: typeof rr === 'string' && rr ? canonicalIp(rr) : undefined,
  };
}

function readPeer(r: Resource): PeerInfo {
  const s = r.spec;
  const peerIPText = optString(s, 'peerIP');
  const peer: PeerInfo = {
    name: r.metadata.name,
    peerIP: peerIPText === undefined ? undefined : { ip: canonicalIp(peerIPText), family: parseIp(peerIPText, 'peerIP').family },
    asNumber: plainAsNumber(s.asNumber, 'asNumber'),
    node: optString(s, 'node'),
    nodeSelector: optSelector(s, 'nodeSelector'),
    peerSelector: optSelector(s, 'peerSelector'),
    password: peerPassword(s.password),
    sourceAddress: s.sourceAddress === 'None' ? 'None' : 'UseNodeIP',
    keepOriginalNextHop: s.keepOriginalNextHop === true,
  };
  if (!peer.peerIP && !peer.peerSelector) throw new ValidationError('peerIP', 'is required (or peerSelector)');
  if (peer.peerIP && peer.peerSelector) throw new ValidationError('peerSelector', 'cannot be used together with peerIP');
  if (peer.peerIP && !peer.asNumber) throw new ValidationError('asNumber', 'is required with peerIP');
  if (peer.node && peer.nodeSelector) throw new ValidationError('nodeSelector', 'cannot be used together with node');
  return peer;
}

function readBgpConfig(r: Resource): BgpConfigInfo {
  const s = r.spec;
  const mesh = s.nodeToNodeMeshEnabled;
  if (mesh !== undefined && mesh !== null && typeof mesh !== 'boolean') throw new ValidationError('nodeToNodeMeshEnabled', 'must be true or false');
  return {
    asNumber: plainAsNumber(s.asNumber, 'asNumber'),
    nodeToNodeMeshEnabled: typeof mesh === 'boolean' ? mesh : undefined,
    logSeverityScreen: optString(s, 'logSeverityScreen'),
    listenPort: optPort(s.listenPort, 'listenPort'),
  };
}

function readPool(r: Resource): PoolInfo {
  const cidr = optString(r.spec, 'cidr');
  if (!cidr) throw new ValidationError('cidr', 'is required');
  return { name: r.metadata.name, cidr: parseCidr(cidr, 'cidr'), disabled: r.spec.disabled === true };
}

/**
 * An affinity value is Calico's `{"state":"confirmed"}`; an empty value is an
 * older, unconditional claim. Only confirmed blocks are announced.
 */
function affinityConfirmed(value: string): boolean {
  if (!value.trim()) return true;
  const v: unknown = JSON.parse(value);
  if (!isObj(v)) return true;
  if (v.deleted === true) return false;
  return v.state === undefined || v.state === 'confirmed';
}

/**
 * decodeResource (which validates) remembered per key and value: every render
 * reads all records, but only the changed ones are validated again.
 */
export class DecodeCache {
  private entries = new Map<string, { value: string; out: Resource | Error }>();

  decode(kv: KV): Resource {
    let e = this.entries.get(kv.key);
    if (!e || e.value !== kv.value) {
      let out: Resource | Error;
      try {
        out = decodeResource(kv);
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

/** Decode every watched key into the typed input of the view model. */
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
    try {
      readOne(kv, input, cache);
    } catch (e) {
      onInvalid(kv.key, e as Error);
    }
  }
  cache.retain(new Set(sorted.map((kv) => kv.key)));
  return input;
}

function readOne(kv: KV, input: BgpInput, cache: DecodeCache): void {
  if (kv.key.startsWith(CUSTOM_FILTERS_PREFIX)) {
    const m = /^v([46])\/[^/]+$/.exec(kv.key.slice(CUSTOM_FILTERS_PREFIX.length));
    if (m && kv.value.trim()) input.customFilters[Number(m[1]) as Family].push(kv.value.trim());
    return;
  }
  const affinity = parseAffinityKey(kv.key);
  if (affinity) {
    if (affinity.host === input.nodeName && affinityConfirmed(kv.value)) {
      input.blocks[affinity.family].push(parseCidr(affinity.cidr, 'block'));
    }
    return;
  }
  if (!parseResourceKey(kv.key)) return;
  const r = cache.decode(kv);
  const named = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ValidationError && !e.field.startsWith('spec')) throw new ValidationError(`spec.${e.field}`, e.reason);
      throw e;
    }
  };
  switch (r.kind) {
    case 'Node':
      input.nodes.set(r.metadata.name, readNode(r));
      break;
    case 'BGPPeer':
      input.peers.push(named(() => readPeer(r)));
      break;
    case 'BGPConfiguration': {
      const cfg = named(() => readBgpConfig(r));
      if (r.metadata.name === 'default') input.defaults = cfg;
      else if (r.metadata.name.startsWith('node.')) input.nodeConfigs.set(r.metadata.name.slice(5), cfg);
      break;
    }
    case 'IPPool':
      input.pools.push(named(() => readPool(r)));
      break;
  }
}
