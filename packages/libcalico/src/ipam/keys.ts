import { ValidationError } from '../errors.js';
import { parseCidr, type Cidr, type Family } from '../net.js';

/**
 * Calico's IPAM model keys in etcd (reference calico.md §1.1, §7.3). CIDRs in
 * keys have "/" replaced by "-".
 */
export const IPAM_PREFIX = '/calico/ipam/v2';
export const IPAM_CONFIG_KEY = `${IPAM_PREFIX}/config`;
export const HANDLE_PREFIX = `${IPAM_PREFIX}/handle/`;
export const HOST_PREFIX = `${IPAM_PREFIX}/host/`;

const fam = (f: Family): string => (f === 4 ? 'ipv4' : 'ipv6');
const cidrSegment = (cidr: string): string => cidr.replace('/', '-');

export const blockPrefix = (f: Family): string => `${IPAM_PREFIX}/assignment/${fam(f)}/block/`;
export const blockKey = (f: Family, cidr: string): string => blockPrefix(f) + cidrSegment(cidr);
export const handleKey = (handleId: string): string => HANDLE_PREFIX + handleId;
export const hostAffinityPrefix = (host: string, f: Family): string => `${HOST_PREFIX}${host}/${fam(f)}/block/`;
export const affinityKey = (host: string, f: Family, cidr: string): string => hostAffinityPrefix(host, f) + cidrSegment(cidr);

/** CIDR of a block key, or undefined if the key is not a block key. */
export function parseBlockKey(key: string): Cidr | undefined {
  const m = /^\/calico\/ipam\/v2\/assignment\/ipv[46]\/block\/([^/]+)-(\d+)$/.exec(key);
  if (!m) return undefined;
  try {
    return parseCidr(`${m[1]}/${m[2]}`);
  } catch {
    return undefined;
  }
}

/** Host and block CIDR of an affinity key. */
export function parseAffinityKey(key: string): { host: string; family: Family; cidr: string } | undefined {
  const m = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv([46])\/block\/([^/]+)-(\d+)$/.exec(key);
  if (!m) return undefined;
  return { host: m[1]!, family: Number(m[2]) as Family, cidr: `${m[3]}/${m[4]}` };
}

// Handles and host names become etcd key segments: no "/", nothing that
// could be read as a path, bounded length.
const HANDLE_RE = /^[A-Za-z0-9][A-Za-z0-9._:@=+-]*$/;
const HOST_RE = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

export function validateHandleId(handleId: unknown, field = 'handleId'): string {
  if (typeof handleId !== 'string' || handleId === '') throw new ValidationError(field, 'is required');
  if (handleId.length > 253) throw new ValidationError(field, `is longer than 253 characters`);
  if (!HANDLE_RE.test(handleId)) {
    throw new ValidationError(field, `${JSON.stringify(handleId)} may contain only letters, digits and . _ : @ = + - (and must start with a letter or digit)`);
  }
  return handleId;
}

export function validateHostname(host: unknown, field = 'hostname'): string {
  if (typeof host !== 'string' || host === '') throw new ValidationError(field, 'is required');
  if (host.length > 253 || !HOST_RE.test(host)) {
    throw new ValidationError(field, `${JSON.stringify(host)} is not a valid node name (letters, digits, '.', '_', '-')`);
  }
  return host;
}
