import { createHash } from 'node:crypto';
import { cidrContains, formatCidr, parseIp, type Cidr, type Family } from '@calico/libcalico/net';
import { evaluateSelector } from '@calico/libcalico/selector';
import { BGP_DEFAULTS } from '@calico/libcalico/resources/spec';
import type { BgpConfigInfo, BgpInput, NodeInfo, PeerInfo } from './inputs.js';

/**
 * The typed view of one BIRD config (bird.cfg for IPv4, bird6.cfg for IPv6).
 * Every decision is made here; the templates only print these fields.
 */
export const BGP_PORT = 179;

/** Protocol-name prefixes; `calicoctl node status` maps them back to the peer type. */
export const PEER_TYPES = {
  Mesh: 'node-to-node mesh',
  Global: 'global',
  Node: 'node specific',
} as const;
export type PeerType = keyof typeof PEER_TYPES;

export interface BirdPeerView {
  /** BIRD protocol name: `<type>_<ip with . or : as _>[_port_<n>]` */
  name: string;
  type: PeerType;
  /** where the peer came from, printed as a comment */
  source: string;
  ip: string;
  /** set only when not the BGP port */
  port: number | null;
  asNumber: string;
  /** this side waits for the peer to connect (mesh: the higher address waits) */
  passive: boolean;
  /** the node's own address as the session source, or null to let the kernel choose */
  sourceAddress: string | null;
  password: string | null;
  /** this node reflects routes to the peer */
  rrClient: boolean;
  /** announce our own address as next hop (not on a route reflector: it keeps the origin's) */
  nextHopSelf: boolean;
  /** keepOriginalNextHop */
  nextHopKeep: boolean;
}

export interface BirdConfigView {
  ipVersion: Family;
  /** "IPv4" / "IPv6", for comments */
  familyName: string;
  nodeName: string;
  routerId: string;
  /** this node's address in the family; null means no BGP in this family */
  nodeIp: string | null;
  asNumber: string;
  /** argument of `debug protocols` */
  debug: 'all' | '{ states }' | 'off';
  /** set only when not the BGP port */
  listenPort: number | null;
  /** route reflector cluster id of this node, or null */
  rrClusterId: string | null;
  /** blocks affine to this node that lie in a pool: blackholed, announced aggregated */
  blocks: string[];
  /** all pools of the family: routes inside them are announced, others are not */
  pools: string[];
  customFilters: string[];
  meshEnabled: boolean;
  meshPeers: BirdPeerView[];
  globalPeers: BirdPeerView[];
  nodePeers: BirdPeerView[];
}

/** Address → integer, memoised: sorting and the passive-side choice compare many times. */
const ipValues = new Map<string, bigint>();
function ipValue(ip: string): bigint {
  let v = ipValues.get(ip);
  if (v === undefined) {
    if (ipValues.size > 100_000) ipValues.clear();
    v = parseIp(ip).value;
    ipValues.set(ip, v);
  }
  return v;
}
const ipOf = (n: NodeInfo, f: Family): string | undefined => (f === 4 ? n.ipv4 : n.ipv6);

/** Calico's router id for a node without IPv4: sha256 of the name, first octet kept out of multicast. */
export function hashToIPv4(name: string): string {
  const h = createHash('sha256').update(name).digest();
  return [h[0]! % 223, h[1], h[2], h[3]].join('.');
}

export function peerName(type: PeerType, ip: string, port: number | null): string {
  return `${type}_${ip.replace(/[.:]/g, '_')}${port ? `_port_${port}` : ''}`;
}

/** Calico's mapping of logSeverityScreen: Debug logs everything, Info state changes, higher levels nothing. */
function debugLevel(severity: string | undefined): BirdConfigView['debug'] {
  switch ((severity ?? 'info').toLowerCase()) {
    case 'debug':
      return 'all';
    case 'info':
      return '{ states }';
    default:
      return 'off';
  }
}

const nonDefaultPort = (p: number | undefined): number | null => (p && p !== BGP_PORT ? p : null);

function compareCidr(a: Cidr, b: Cidr): number {
  return a.base < b.base ? -1 : a.base > b.base ? 1 : a.prefix - b.prefix;
}

export interface ModelOptions {
  /** CALICO_ROUTER_ID: an IPv4 address, or "hash" for the hash of the node name */
  routerId?: string;
}

export function buildBirdConfig(input: BgpInput, family: Family, opts: ModelOptions = {}): BirdConfigView {
  const me = input.nodes.get(input.nodeName);
  const configOf = (node: string): BgpConfigInfo => input.nodeConfigs.get(node) ?? {};
  const mine = configOf(input.nodeName);
  const defaultAs = input.defaults.asNumber ?? String(BGP_DEFAULTS.asNumber);
  const asOf = (n: NodeInfo) => n.asNumber ?? defaultAs;
  const listenPortOf = (node: string) => configOf(node).listenPort ?? input.defaults.listenPort;
  const nodeIp = me ? (ipOf(me, family) ?? null) : null;
  const asNumber = me ? asOf(me) : defaultAs;
  const rrClusterId = me?.rrClusterId ?? null;

  const pools = input.pools.filter((p) => p.cidr.family === family).map((p) => p.cidr).sort(compareCidr);
  // A block outside every pool (its pool was deleted) is no longer routed.
  const blocks = input.blocks[family].filter((b) => pools.some((p) => cidrContains(p, b))).sort(compareCidr);

  const view: BirdConfigView = {
    ipVersion: family,
    familyName: `IPv${family}`,
    nodeName: input.nodeName,
    routerId: opts.routerId === 'hash' ? hashToIPv4(input.nodeName) : (opts.routerId ?? me?.ipv4 ?? hashToIPv4(input.nodeName)),
    nodeIp,
    asNumber,
    debug: debugLevel(mine.logSeverityScreen ?? input.defaults.logSeverityScreen),
    listenPort: nonDefaultPort(listenPortOf(input.nodeName)),
    rrClusterId,
    blocks: [...new Set(blocks.map(formatCidr))],
    pools: [...new Set(pools.map(formatCidr))],
    customFilters: input.customFilters[family],
    meshEnabled: input.defaults.nodeToNodeMeshEnabled ?? BGP_DEFAULTS.nodeToNodeMeshEnabled,
    meshPeers: [],
    globalPeers: [],
    nodePeers: [],
  };
  if (!me || nodeIp === null) return view;

  const others = [...input.nodes.values()]
    .filter((n) => n.name !== me.name && ipOf(n, family) && ipOf(n, family) !== nodeIp)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const nodeByIp = new Map(others.map((n) => [ipOf(n, family)!, n]));
  const myIpValue = ipValue(nodeIp);

  const session = (
    type: PeerType,
    source: string,
    ip: string,
    port: number | null,
    peerAs: string,
    peerClusterId: string | undefined,
    peer?: PeerInfo,
  ): BirdPeerView => {
    // Reflect to an iBGP peer unless it is a reflector of the same cluster.
    const rrClient = rrClusterId !== null && peerAs === asNumber && peerClusterId !== rrClusterId;
    const nextHopKeep = peer?.keepOriginalNextHop === true;
    return {
      name: peerName(type, ip, port),
      type,
      source,
      ip,
      port,
      asNumber: peerAs,
      passive: type === 'Mesh' && myIpValue > ipValue(ip),
      sourceAddress: peer?.sourceAddress === 'None' ? null : nodeIp,
      password: peer?.password ?? null,
      rrClient,
      // A reflector keeps the next hop of reflected routes, so traffic goes
      // straight to the node that owns the route, not through the reflector.
      nextHopSelf: !nextHopKeep && rrClusterId === null,
      nextHopKeep,
    };
  };

  if (view.meshEnabled) {
    for (const n of others) {
      view.meshPeers.push(session('Mesh', `node ${n.name}`, ipOf(n, family)!, nonDefaultPort(listenPortOf(n.name)), asOf(n), n.rrClusterId));
    }
  }

  // Explicit peers (BGPPeer resources) that apply to this node.
  const meshIps = new Set(view.meshPeers.map((p) => p.ip));
  const taken = new Set<string>();
  const peers = [...input.peers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const p of peers) {
    const perNode = p.node !== undefined || p.nodeSelector !== undefined;
    const applies = p.node !== undefined ? p.node === me.name : p.nodeSelector ? evaluateSelector(p.nodeSelector, me.labels) : true;
    if (!applies) continue;
    const type: PeerType = perNode ? 'Node' : 'Global';
    const targets: { ip: string; port: number | null; as: string; clusterId?: string }[] = [];
    if (p.peerIP) {
      if (p.peerIP.family !== family) continue;
      const known = nodeByIp.get(p.peerIP.ip);
      targets.push({ ip: p.peerIP.ip, port: null, as: p.asNumber!, clusterId: known?.rrClusterId });
    } else if (p.peerSelector) {
      for (const n of others) {
        if (evaluateSelector(p.peerSelector, n.labels)) {
          targets.push({ ip: ipOf(n, family)!, port: nonDefaultPort(listenPortOf(n.name)), as: asOf(n), clusterId: n.rrClusterId });
        }
      }
    }
    for (const t of targets) {
      // Skip ourselves, peers the mesh already covers, and a second resource
      // for the same neighbour (the first by name wins): BIRD could not tell
      // two sessions to one address apart.
      const neighbour = `${t.ip}:${t.port ?? BGP_PORT}`;
      if (t.ip === nodeIp || meshIps.has(t.ip) || taken.has(neighbour)) continue;
      taken.add(neighbour);
      (type === 'Global' ? view.globalPeers : view.nodePeers).push(session(type, `BGPPeer ${p.name}`, t.ip, t.port, t.as, t.clusterId, p));
    }
  }
  const byIp = (a: BirdPeerView, b: BirdPeerView) => {
    const d = ipValue(a.ip) - ipValue(b.ip);
    return d < 0n ? -1 : d > 0n ? 1 : (a.port ?? 0) - (b.port ?? 0);
  };
  view.globalPeers.sort(byIp);
  view.nodePeers.sort(byIp);
  return view;
}
