import { ValidationError } from '../errors.js';
import { formatCidr, parseCidr, type Cidr, type Family } from '../net.js';
import type { Resource } from '../resources/types.js';
import { selectorMatches } from '../selector.js';

/** Global IPAM settings, stored at /calico/ipam/v2/config with Calico's field names. */
export interface IpamConfig {
  /** no borrowing from other hosts' blocks */
  strictAffinity: boolean;
  /** claim new blocks when a host's blocks are full */
  autoAllocateBlocks: boolean;
  /** blocks one host may hold; 0 = unlimited */
  maxBlocksPerHost: number;
}

export const DEFAULT_IPAM_CONFIG: IpamConfig = { strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 };

export function parseIpamConfig(value: string | undefined): IpamConfig {
  if (!value) return { ...DEFAULT_IPAM_CONFIG };
  const raw = JSON.parse(value) as Record<string, unknown>;
  return {
    strictAffinity: raw.strict_affinity === true,
    autoAllocateBlocks: raw.auto_allocate_blocks !== false,
    maxBlocksPerHost: Number.isInteger(raw.maxBlocksPerHost) && (raw.maxBlocksPerHost as number) > 0 ? (raw.maxBlocksPerHost as number) : 0,
  };
}

export function serializeIpamConfig(c: IpamConfig): string {
  return JSON.stringify({ strict_affinity: c.strictAffinity, auto_allocate_blocks: c.autoAllocateBlocks, maxBlocksPerHost: c.maxBlocksPerHost });
}

/** What IPAM needs from an IPPool resource. */
export interface IpamPool {
  name: string;
  cidr: Cidr;
  /** canonical text of cidr */
  cidrText: string;
  blockSize: number;
  disabled: boolean;
  nodeSelector: string;
}

interface PoolSpecLike {
  cidr?: string;
  blockSize?: number;
  disabled?: boolean;
  nodeSelector?: string;
}

/** Convert a stored IPPool; throws ValidationError when it cannot be used for IPAM. */
export function toIpamPool(r: Resource<PoolSpecLike>): IpamPool {
  const cidr = parseCidr(r.spec.cidr ?? '', `IPPool(${r.metadata.name}).spec.cidr`);
  const blockSize = r.spec.blockSize ?? (cidr.family === 4 ? 26 : 122);
  const max = cidr.family === 4 ? 32 : 128;
  if (!Number.isInteger(blockSize) || blockSize < cidr.prefix || blockSize > max) {
    throw new ValidationError(`IPPool(${r.metadata.name}).spec.blockSize`, `/${blockSize} does not fit in ${formatCidr(cidr)}`);
  }
  return {
    name: r.metadata.name,
    cidr,
    cidrText: formatCidr(cidr),
    blockSize,
    disabled: r.spec.disabled === true,
    nodeSelector: r.spec.nodeSelector?.trim() || 'all()',
  };
}

export function poolSelectsNode(p: IpamPool, labels: Record<string, string>): boolean {
  return p.nodeSelector === 'all()' || selectorMatches(p.nodeSelector, labels);
}

export const familyName = (f: Family): string => `IPv${f}`;

/** Handle record: how many addresses the handle holds in each block. */
export interface HandleData {
  id: string;
  block: Record<string, number>;
}

export function parseHandle(value: string, id: string): HandleData {
  try {
    const raw = JSON.parse(value) as Partial<HandleData>;
    const block: Record<string, number> = {};
    for (const [k, v] of Object.entries(raw.block ?? {})) if (typeof v === 'number' && v > 0) block[k] = v;
    return { id, block };
  } catch {
    throw new ValidationError(`handle ${id}`, 'stored handle is not JSON');
  }
}

/** Why an IPAM request could not be met (as opposed to bad input: ValidationError). */
export type IpamErrorCode = 'Exhausted' | 'NoPools' | 'InUse' | 'MaxRetries';

export class IpamError extends Error {
  constructor(
    readonly code: IpamErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IpamError';
  }
}
