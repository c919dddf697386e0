/** The resource kinds we store, their etcd plural, scope and the names users type. */
export const API_VERSION = 'projectcalico.org/v3';
export const RESOURCE_PREFIX = '/calico/resources/v3/projectcalico.org';

export interface KindInfo {
  kind: string;
  plural: string;
  namespaced: boolean;
  /** names accepted on the command line (lower case) */
  aliases: string[];
}

export const KINDS: readonly KindInfo[] = [
  { kind: 'IPPool', plural: 'ippools', namespaced: false, aliases: ['ippool', 'ippools', 'pool', 'pools', 'ipp'] },
  { kind: 'Profile', plural: 'profiles', namespaced: false, aliases: ['profile', 'profiles', 'pro', 'pros'] },
  {
    kind: 'GlobalNetworkPolicy',
    plural: 'globalnetworkpolicies',
    namespaced: false,
    aliases: ['globalnetworkpolicy', 'globalnetworkpolicies', 'gnp', 'gnps', 'globalpolicy', 'globalpolicies'],
  },
  {
    kind: 'NetworkPolicy',
    plural: 'networkpolicies',
    namespaced: true,
    aliases: ['networkpolicy', 'networkpolicies', 'policy', 'policies', 'netpol', 'netpols', 'np'],
  },
  { kind: 'Node', plural: 'nodes', namespaced: false, aliases: ['node', 'nodes', 'no'] },
  { kind: 'BGPPeer', plural: 'bgppeers', namespaced: false, aliases: ['bgppeer', 'bgppeers', 'bgpp', 'peer', 'peers'] },
  {
    kind: 'BGPConfiguration',
    plural: 'bgpconfigurations',
    namespaced: false,
    aliases: ['bgpconfiguration', 'bgpconfigurations', 'bgpconfig', 'bgpconfigs'],
  },
  {
    kind: 'FelixConfiguration',
    plural: 'felixconfigurations',
    namespaced: false,
    aliases: ['felixconfiguration', 'felixconfigurations', 'felixconfig', 'felixconfigs'],
  },
  {
    kind: 'WorkloadEndpoint',
    plural: 'workloadendpoints',
    namespaced: true,
    aliases: ['workloadendpoint', 'workloadendpoints', 'wep', 'weps'],
  },
  { kind: 'HostEndpoint', plural: 'hostendpoints', namespaced: false, aliases: ['hostendpoint', 'hostendpoints', 'hep', 'heps'] },
];

const byKind = new Map(KINDS.map((k) => [k.kind, k]));
const byAlias = new Map(KINDS.flatMap((k) => k.aliases.map((a) => [a, k] as const)));

export function kindInfo(kind: string): KindInfo | undefined {
  return byKind.get(kind);
}

/** Resolve what a user typed (`gnp`, `ippools`, `IPPool`) to a kind. */
export function resolveKind(typed: string): KindInfo | undefined {
  return byKind.get(typed) ?? byAlias.get(typed.toLowerCase());
}

export const DEFAULT_NAMESPACE = 'default';

/** etcd key of a resource; namespaced kinds live under their namespace. */
export function resourceKey(info: KindInfo, name: string, namespace?: string): string {
  return info.namespaced
    ? `${RESOURCE_PREFIX}/${info.plural}/${namespace || DEFAULT_NAMESPACE}/${name}`
    : `${RESOURCE_PREFIX}/${info.plural}/${name}`;
}

/** prefix to list a kind (optionally one namespace of it) */
export function kindPrefix(info: KindInfo, namespace?: string): string {
  return info.namespaced && namespace
    ? `${RESOURCE_PREFIX}/${info.plural}/${namespace}/`
    : `${RESOURCE_PREFIX}/${info.plural}/`;
}

/** Parse a resource key back into kind, namespace and name (undefined if not ours). */
export function parseResourceKey(key: string): { info: KindInfo; namespace?: string; name: string } | undefined {
  if (!key.startsWith(RESOURCE_PREFIX + '/')) return undefined;
  const parts = key.slice(RESOURCE_PREFIX.length + 1).split('/');
  const info = KINDS.find((k) => k.plural === parts[0]);
  if (!info) return undefined;
  if (info.namespaced && parts.length === 3) return { info, namespace: parts[1], name: parts[2]! };
  if (!info.namespaced && parts.length === 2) return { info, name: parts[1]! };
  return undefined;
}
