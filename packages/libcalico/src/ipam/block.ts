import { ValidationError } from '../errors.js';
import { cidrContainsIp, cidrSize, formatCidr, formatIp, parseCidr, type Cidr } from '../net.js';

/** One allocation's owner: the handle and free-form attributes (Calico's `secondary`). */
export interface BlockAttribute {
  handle_id: string | null;
  secondary: Record<string, string> | null;
}

/** The allocation block document, in Calico's JSON shape (calico.md §1.1). */
export interface BlockData {
  cidr: string;
  /** "host:<node>" or null when no host owns the block */
  affinity: string | null;
  strictAffinity: boolean;
  /** per ordinal: index into attributes, or null when free */
  allocations: (number | null)[];
  /** free ordinals, in the order they are handed out */
  unallocated: number[];
  attributes: BlockAttribute[];
}

/** Blocks bigger than this are refused: the document would not fit an etcd value comfortably. */
const MAX_ORDINALS = 1 << 16;

/**
 * An allocation block and the pure operations on it. Callers read the
 * document, mutate a Block, and write it back with a CAS on the revision
 * they read: the block write is the commit point of every allocation.
 */
export class Block {
  private constructor(
    readonly cidr: Cidr,
    readonly data: BlockData,
  ) {}

  static create(cidr: Cidr, host: string | null, strictAffinity: boolean): Block {
    const size = Number(cidrSize(cidr));
    if (size > MAX_ORDINALS) throw new ValidationError('blockSize', `a /${cidr.prefix} block has ${size} addresses (at most ${MAX_ORDINALS})`);
    return new Block(cidr, {
      cidr: formatCidr(cidr),
      affinity: host ? `host:${host}` : null,
      strictAffinity,
      allocations: new Array<null>(size).fill(null),
      unallocated: Array.from({ length: size }, (_, i) => i),
      attributes: [],
    });
  }

  /**
   * Parse and check a stored block. Anything inconsistent is refused: an
   * ordinal listed as free while allocated would hand out an address twice.
   */
  static parse(value: string, key = 'block'): Block {
    let raw: BlockData;
    try {
      raw = JSON.parse(value) as BlockData;
    } catch {
      throw new ValidationError(key, 'stored block is not JSON');
    }
    if (!raw || typeof raw !== 'object') throw new ValidationError(key, 'stored block is not an object');
    const cidr = parseCidr(raw.cidr, `${key}: cidr`);
    const size = Number(cidrSize(cidr));
    const { allocations, unallocated, attributes } = raw;
    if (!Array.isArray(allocations) || allocations.length !== size) {
      throw new ValidationError(`${key}: allocations`, `must have ${size} entries`);
    }
    if (!Array.isArray(attributes)) throw new ValidationError(`${key}: attributes`, 'must be a list');
    for (const a of allocations) {
      if (a !== null && !(Number.isInteger(a) && a >= 0 && a < attributes.length)) {
        throw new ValidationError(`${key}: allocations`, `entry ${JSON.stringify(a)} is not an attribute index`);
      }
    }
    if (!Array.isArray(unallocated)) throw new ValidationError(`${key}: unallocated`, 'must be a list');
    const seen = new Set<number>();
    for (const u of unallocated) {
      if (!Number.isInteger(u) || u < 0 || u >= size || seen.has(u) || allocations[u] !== null) {
        throw new ValidationError(`${key}: unallocated`, `ordinal ${JSON.stringify(u)} is out of range, repeated or allocated`);
      }
      seen.add(u);
    }
    const affinity = typeof raw.affinity === 'string' && raw.affinity ? raw.affinity : null;
    return new Block(cidr, {
      cidr: formatCidr(cidr),
      affinity,
      strictAffinity: raw.strictAffinity === true,
      allocations,
      unallocated,
      attributes: attributes.map((a) => ({ handle_id: a?.handle_id ?? null, secondary: a?.secondary ?? null })),
    });
  }

  serialize(): string {
    return JSON.stringify(this.data);
  }

  /** The node this block is affine to, if any. */
  get host(): string | undefined {
    const a = this.data.affinity;
    return a?.startsWith('host:') ? a.slice(5) : undefined;
  }

  get size(): number {
    return this.data.allocations.length;
  }

  get freeCount(): number {
    return this.data.unallocated.length;
  }

  get usedCount(): number {
    return this.data.allocations.reduce<number>((n, a) => (a === null ? n : n + 1), 0);
  }

  get isEmpty(): boolean {
    return this.data.allocations.every((a) => a === null);
  }

  ipAt(ordinal: number): string {
    return formatIp(this.cidr.family, this.cidr.base + BigInt(ordinal));
  }

  /** Ordinal of an address, or -1 if it is outside the block. */
  ordinalOf(family: 4 | 6, value: bigint): number {
    return cidrContainsIp(this.cidr, family, value) ? Number(value - this.cidr.base) : -1;
  }

  attributeOf(ordinal: number): BlockAttribute | undefined {
    const idx = this.data.allocations[ordinal];
    return idx === null || idx === undefined ? undefined : this.data.attributes[idx];
  }

  /** Ordinals currently held by a handle. */
  ordinalsOf(handleId: string): number[] {
    const out: number[] = [];
    this.data.allocations.forEach((idx, ord) => {
      if (idx !== null && this.data.attributes[idx]?.handle_id === handleId) out.push(ord);
    });
    return out;
  }

  /** Allocated ordinals with their handle. */
  allocated(): { ordinal: number; handleId: string | null }[] {
    const out: { ordinal: number; handleId: string | null }[] = [];
    this.data.allocations.forEach((idx, ord) => {
      if (idx !== null) out.push({ ordinal: ord, handleId: this.data.attributes[idx]?.handle_id ?? null });
    });
    return out;
  }

  private attributeIndex(handleId: string, attrs: Record<string, string> | null): number {
    const wanted = JSON.stringify(attrs);
    const found = this.data.attributes.findIndex((a) => a.handle_id === handleId && JSON.stringify(a.secondary) === wanted);
    if (found >= 0) return found;
    this.data.attributes.push({ handle_id: handleId, secondary: attrs });
    return this.data.attributes.length - 1;
  }

  /** Take up to `n` free ordinals for a handle; returns the addresses. */
  assign(n: number, handleId: string, attrs: Record<string, string> | null): string[] {
    const take = this.data.unallocated.slice(0, n);
    if (!take.length) return [];
    const idx = this.attributeIndex(handleId, attrs);
    this.data.unallocated = this.data.unallocated.slice(take.length);
    for (const ord of take) this.data.allocations[ord] = idx;
    return take.map((o) => this.ipAt(o));
  }

  /** Take one specific ordinal; false if it is already in use. */
  assignOrdinal(ordinal: number, handleId: string, attrs: Record<string, string> | null): boolean {
    if (this.data.allocations[ordinal] !== null) return false;
    this.data.allocations[ordinal] = this.attributeIndex(handleId, attrs);
    this.data.unallocated = this.data.unallocated.filter((u) => u !== ordinal);
    return true;
  }

  /**
   * Free ordinals (already-free ones are ignored). Freed ordinals go to the
   * back of the free list, so a released address is reused last.
   * Returns, per handle, how many addresses were freed.
   */
  release(ordinals: number[]): Map<string | null, number> {
    const perHandle = new Map<string | null, number>();
    for (const ord of ordinals) {
      const idx = this.data.allocations[ord];
      if (idx === null || idx === undefined) continue;
      const h = this.data.attributes[idx]?.handle_id ?? null;
      perHandle.set(h, (perHandle.get(h) ?? 0) + 1);
      this.data.allocations[ord] = null;
      this.data.unallocated.push(ord);
    }
    this.compactAttributes();
    return perHandle;
  }

  /** Drop attribute entries no allocation points at, renumbering the rest. */
  private compactAttributes(): void {
    const used = new Set(this.data.allocations.filter((a): a is number => a !== null));
    if (used.size === this.data.attributes.length) return;
    const remap = new Map<number, number>();
    const kept: BlockAttribute[] = [];
    this.data.attributes.forEach((a, i) => {
      if (used.has(i)) {
        remap.set(i, kept.length);
        kept.push(a);
      }
    });
    this.data.attributes = kept;
    this.data.allocations = this.data.allocations.map((a) => (a === null ? null : remap.get(a)!));
  }

  clearAffinity(): void {
    this.data.affinity = null;
  }
}
