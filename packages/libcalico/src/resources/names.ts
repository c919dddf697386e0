import { ValidationError } from '../errors.js';

/**
 * Name rules (Kubernetes' DNS-1123 and label syntax, which Calico v3 uses) and
 * Calico's WorkloadEndpoint naming. Each check throws ValidationError(field, reason).
 */

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** A DNS-1123 label: lower-case alphanumerics and '-', at most 63 characters (namespaces). */
export function checkDns1123Label(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new ValidationError(field, 'is required');
  if (value.length > 63) throw new ValidationError(field, `${JSON.stringify(value)} is longer than 63 characters`);
  if (!DNS1123_LABEL.test(value)) {
    throw new ValidationError(
      field,
      `${JSON.stringify(value)} is not a valid DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit)`,
    );
  }
  return value;
}

/** A DNS-1123 subdomain: DNS labels joined by '.', at most 253 characters (resource and node names). */
export function checkDns1123Subdomain(value: unknown, field: string): string {
  if (typeof value !== 'string' || value === '') throw new ValidationError(field, 'is required');
  if (value.length > 253) throw new ValidationError(field, `${JSON.stringify(value)} is longer than 253 characters`);
  if (!DNS1123_SUBDOMAIN.test(value)) {
    throw new ValidationError(
      field,
      `${JSON.stringify(value)} is not a valid name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)`,
    );
  }
  return value;
}

export const isValidName = (value: string): boolean => value.length <= 253 && DNS1123_SUBDOMAIN.test(value);

/** A Kubernetes label key: `[prefix/]name`, prefix a DNS subdomain, name ≤ 63 of `[A-Za-z0-9-_.]`. */
export function checkLabelKey(key: string, field: string): string {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    throw new ValidationError(field, `label key ${JSON.stringify(key)} has an invalid prefix (must be a DNS-1123 subdomain)`);
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    throw new ValidationError(
      field,
      `label key ${JSON.stringify(key)} is invalid (name part: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`,
    );
  }
  return key;
}

/** A Kubernetes label value: empty, or ≤ 63 of `[A-Za-z0-9-_.]` starting and ending alphanumeric. */
export function checkLabelValue(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new ValidationError(field, 'label value must be a string');
  if (value !== '' && (value.length > 63 || !LABEL_NAME.test(value))) {
    throw new ValidationError(
      field,
      `label value ${JSON.stringify(value)} is invalid (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)`,
    );
  }
  return value;
}

/** Calico escapes '-' in each WorkloadEndpoint name segment as '--' so the segments stay separable. */
export const escapeDashes = (segment: string): string => segment.replace(/-/g, '--');

export interface WorkloadEndpointIds {
  node: string;
  orchestrator: string;
  /** the workload id (container/pod name for k8s is `pod`) */
  workload?: string;
  pod?: string;
  endpoint: string;
}

/**
 * The WorkloadEndpoint name Calico derives from its identifiers:
 * `<node>-<orchestrator>-<workload>-<endpoint>` with '-' in each segment doubled
 * (for orchestrator `k8s` the pod name takes the workload's place).
 */
export function workloadEndpointName(ids: WorkloadEndpointIds): string {
  const workload = ids.orchestrator === 'k8s' ? ids.pod ?? ids.workload : ids.workload ?? ids.pod;
  const segments: [string, string | undefined][] = [
    ['node', ids.node],
    ['orchestrator', ids.orchestrator],
    ['workload', workload],
    ['endpoint', ids.endpoint],
  ];
  return segments
    .map(([field, v]) => {
      if (!v) throw new ValidationError(`spec.${field}`, 'is required to build the WorkloadEndpoint name');
      return escapeDashes(v);
    })
    .join('-');
}

/**
 * The conventional name for a pool created from just a CIDR (as Calico's v1→v3
 * converter does): '.', ':' and '/' become '-', e.g. 198.18.0.0/16 → 198-18-0-0-16.
 */
export function poolNameFromCidr(cidr: string): string {
  return cidr.toLowerCase().replace(/[.:/]/g, '-');
}

/**
 * An IP address as a piece of a resource name (BGPPeers named after their
 * peer): '.' and ':' become '-', and a trailing '-' ("fd00::") becomes '-0'
 * because a name may not end with one. 198.18.0.1 → 198-18-0-1.
 */
export function ipNameSegment(ip: string): string {
  return ip.toLowerCase().replace(/[.:]/g, '-').replace(/-$/, '-0');
}
