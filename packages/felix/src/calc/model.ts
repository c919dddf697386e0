import type { Resource } from '@calico/libcalico';
import type { IPPoolSpec, PolicySpec, ProfileSpec, Rule, WorkloadEndpointSpec } from '@calico/libcalico/resources/spec';
import { ValidationError } from '@calico/libcalico';
import { canonicalAddress } from '@calico/libcalico/net';
import { interfaceNameField } from '@calico/libcalico/resources/fields';
import { NAMESPACE_LABEL } from '@calico/libcalico/selector';

/**
 * The calculation layer's view of datastore records: what felix needs of each
 * resource, checked. A record that cannot be used throws ValidationError
 * (the caller logs it and skips the record).
 */
export interface Endpoint {
  key: string;
  namespace: string;
  name: string;
  node: string;
  ifname: string;
  /** addresses (no prefix) per family, and the networks as given (routes, anti-spoofing) */
  ipv4: string[];
  ipv6: string[];
  nets: string[];
  profiles: string[];
  labels: Record<string, string>;
}

export interface Policy {
  key: string;
  /** identifies its chains: GNP name, or `<namespace>/<name>` for a NetworkPolicy */
  id: string;
  namespace?: string;
  order: number;
  selector: string;
  ingress?: Rule[];
  egress?: Rule[];
  types: { ingress: boolean; egress: boolean };
}

export interface Profile {
  name: string;
  ingress?: Rule[];
  egress?: Rule[];
  labels: Record<string, string>;
}

export interface Pool {
  key: string;
  cidr: string;
  natOutgoing: boolean;
  disabled: boolean;
}

export function toEndpoint(key: string, r: Resource<WorkloadEndpointSpec>): Endpoint {
  const s = r.spec ?? {};
  const field = (f: string) => `WorkloadEndpoint(${r.metadata.namespace ?? 'default'}/${r.metadata.name}).spec.${f}`;
  if (!s.node) throw new ValidationError(field('node'), 'is required');
  const ifname = interfaceNameField(s.interfaceName, field('interfaceName'));
  const nets = s.ipNetworks ?? [];
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  if (!Array.isArray(nets)) throw new ValidationError(field('ipNetworks'), 'must be a list');
  const canonical: string[] = [];
  for (const n of nets) {
    const text = String(n);
    const slash = text.indexOf('/');
    // The kernel prints canonical addresses (fd00:19::1, not fd00:19:0::1): compare like with like.
    const a = canonicalAddress(slash < 0 ? text : text.slice(0, slash));
    const max = a?.family === 4 ? 32 : 128;
    const bits = text.slice(slash + 1);
    const prefix = slash < 0 ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (!a || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
      throw new ValidationError(field('ipNetworks'), `${JSON.stringify(n)} is not an IP network`);
    }
    (a.family === 4 ? ipv4 : ipv6).push(a.address);
    canonical.push(`${a.address}/${prefix}`);
  }
  if (s.profiles !== undefined && (!Array.isArray(s.profiles) || s.profiles.some((p) => typeof p !== 'string' || !p))) {
    throw new ValidationError(field('profiles'), 'must be a list of profile names');
  }
  const namespace = r.metadata.namespace ?? 'default';
  return {
    key,
    namespace,
    name: r.metadata.name,
    node: s.node,
    ifname,
    ipv4,
    ipv6,
    nets: canonical,
    profiles: (s.profiles ?? []).map(String),
    labels: { ...(r.metadata.labels ?? {}), [NAMESPACE_LABEL]: namespace, 'projectcalico.org/orchestrator': s.orchestrator ?? '' },
  };
}

export function toPolicy(key: string, r: Resource<PolicySpec>, namespaced: boolean): Policy {
  const s = r.spec ?? ({} as PolicySpec);
  const hasEgress = !!s.egress?.length;
  const hasIngress = !!s.ingress?.length;
  // Calico's defaulting when types is omitted.
  const types = s.types?.length ? s.types : hasEgress && !hasIngress ? ['Egress'] : hasEgress ? ['Ingress', 'Egress'] : ['Ingress'];
  const namespace = namespaced ? (r.metadata.namespace ?? 'default') : undefined;
  return {
    key,
    id: namespace ? `${namespace}/${r.metadata.name}` : r.metadata.name,
    namespace,
    order: typeof s.order === 'number' ? s.order : Infinity,
    selector: s.selector?.trim() || 'all()',
    ingress: s.ingress,
    egress: s.egress,
    types: { ingress: types.includes('Ingress'), egress: types.includes('Egress') },
  };
}

export function toProfile(r: Resource<ProfileSpec>): Profile {
  return { name: r.metadata.name, ingress: r.spec?.ingress, egress: r.spec?.egress, labels: { ...(r.spec?.labelsToApply ?? {}) } };
}

export function toPool(key: string, r: Resource<IPPoolSpec>): Pool {
  const s = r.spec ?? ({} as IPPoolSpec);
  if (!s.cidr) throw new ValidationError(`IPPool(${r.metadata.name}).spec.cidr`, 'is required');
  return { key, cidr: s.cidr, natOutgoing: !!s.natOutgoing, disabled: !!s.disabled };
}

/** Policies apply in `order` (absent = last), ties broken by name. */
export const byOrder = (a: Policy, b: Policy): number => (a.order !== b.order ? (a.order < b.order ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
