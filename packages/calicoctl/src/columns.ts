// Table columns per kind for `get -o ps|wide`, as calicoctl v3 prints them
// (resourcemgr/*.go); ps is the default, wide adds detail.
import type { Resource } from '@calico/libcalico';

export interface Column {
  header: string;
  value(r: Resource<unknown>): string;
}

export interface ColumnSet {
  ps: Column[];
  wide?: Column[];
}

/** A spec field as text: lists joined with commas, objects as k=v pairs, absent as ''. */
function show(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(show).join(',');
  if (typeof v === 'object') return Object.entries(v).map(([k, x]) => `${k}=${show(x)}`).join(',');
  return String(v);
}

const name: Column = { header: 'NAME', value: (r) => r.metadata.name };
const spec = (header: string, path: string, dflt = ''): Column => ({
  header,
  value: (r) => {
    let v: unknown = r.spec;
    for (const p of path.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
    const s = show(v);
    return s === '' ? dflt : s;
  },
});

const BY_KIND: Record<string, ColumnSet> = {
  IPPool: {
    ps: [name, spec('CIDR', 'cidr'), spec('SELECTOR', 'nodeSelector', 'all()')],
    wide: [
      name,
      spec('CIDR', 'cidr'),
      spec('NAT', 'natOutgoing', 'false'),
      spec('IPIPMODE', 'ipipMode', 'Never'),
      spec('VXLANMODE', 'vxlanMode', 'Never'),
      spec('DISABLED', 'disabled', 'false'),
      spec('BLOCKSIZE', 'blockSize'),
      spec('SELECTOR', 'nodeSelector', 'all()'),
    ],
  },
  Profile: { ps: [name], wide: [name, spec('LABELS', 'labelsToApply')] },
  GlobalNetworkPolicy: { ps: [name], wide: [name, spec('ORDER', 'order'), spec('SELECTOR', 'selector')] },
  NetworkPolicy: { ps: [name], wide: [name, spec('ORDER', 'order'), spec('SELECTOR', 'selector')] },
  Node: {
    ps: [name],
    wide: [name, spec('ASN', 'bgp.asNumber'), spec('IPV4', 'bgp.ipv4Address'), spec('IPV6', 'bgp.ipv6Address')],
  },
  BGPPeer: {
    ps: [name, spec('PEERIP', 'peerIP'), spec('NODE', 'node', '(global)'), spec('ASN', 'asNumber')],
    wide: [name, spec('PEERIP', 'peerIP'), spec('NODE', 'node', '(global)'), spec('ASN', 'asNumber'), spec('NODESELECTOR', 'nodeSelector')],
  },
  BGPConfiguration: {
    ps: [name, spec('LOGSEVERITY', 'logSeverityScreen'), spec('MESHENABLED', 'nodeToNodeMeshEnabled'), spec('ASNUMBER', 'asNumber')],
  },
  FelixConfiguration: { ps: [name] },
  WorkloadEndpoint: {
    ps: [spec('WORKLOAD', 'workload'), spec('NODE', 'node'), spec('NETWORKS', 'ipNetworks'), spec('INTERFACE', 'interfaceName')],
    wide: [
      name,
      spec('WORKLOAD', 'workload'),
      spec('NODE', 'node'),
      spec('NETWORKS', 'ipNetworks'),
      spec('INTERFACE', 'interfaceName'),
      spec('PROFILES', 'profiles'),
      spec('NATS', 'ipNATs'),
    ],
  },
  HostEndpoint: {
    ps: [name, spec('NODE', 'node')],
    wide: [name, spec('NODE', 'node'), spec('INTERFACE', 'interfaceName'), spec('IPS', 'expectedIPs'), spec('PROFILES', 'profiles')],
  },
};

export function columnsFor(kind: string): ColumnSet {
  return BY_KIND[kind] ?? { ps: [name] };
}
