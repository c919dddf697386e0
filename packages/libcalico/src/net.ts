import { SocketAddress } from 'node:net';
import { ValidationError } from './errors.js';

/**
 * IP and CIDR maths for both families, on bigint so IPv6 is exact.
 * Parsing is strict: a CIDR with host bits set is an error, not rounded.
 */
export type Family = 4 | 6;

export interface Cidr {
  family: Family;
  /** network address as an integer */
  base: bigint;
  prefix: number;
}

const bits = (f: Family): number => (f === 4 ? 32 : 128);

// Addresses are parsed by hand, both families: felix and IPAM parse them in bulk,
// and every process pays for a parsing library's start-up (ip-address took
// ~20 ms to load). A dotted quad has no leading zeros.
const V4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

function parseV4(ip: string): bigint | undefined {
  const m = V4.exec(ip);
  if (!m) return undefined;
  let v = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) return undefined;
    v = v * 256 + octet;
  }
  return BigInt(v);
}

export function ipFamily(ip: string): Family | undefined {
  if (parseV4(ip) !== undefined) return 4;
  if (typeof ip === 'string' && v6Words(ip) !== undefined) return 6; // no zone ids (fe80::1%eth0)
  return undefined;
}

/** Parse an address (no prefix) to an integer; throws ValidationError naming `field`. */
export function parseIp(ip: string, field = 'ip'): { family: Family; value: bigint } {
  if (typeof ip === 'string') {
    const v4 = parseV4(ip);
    if (v4 !== undefined) return { family: 4, value: v4 };
    const words = v6Words(ip);
    if (words) return { family: 6, value: words.reduce((v, w) => (v << 16n) | BigInt(w), 0n) };
  }
  throw new ValidationError(field, `${JSON.stringify(ip)} is not a valid IP address`);
}

export function isIp(ip: string): boolean {
  return ipFamily(ip) !== undefined;
}

/** An address's text: a dotted quad, or IPv6 in RFC 5952 form (hex groups only, also for IPv4-mapped values). */
export function formatIp(family: Family, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
  return formatV6(Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn))).text;
}

/** Canonical text form of an address ("fd00:0::1" → "fd00::1"). */
export function canonicalIp(ip: string): string {
  const c = canonicalAddress(ip);
  if (!c) throw new ValidationError('ip', `${JSON.stringify(ip)} is not a valid IP address`);
  return c.address;
}

/** An address's family and canonical text form in one pass; undefined if it is not an address. */
export function canonicalAddress(ip: string): { family: Family; address: string } | undefined {
  if (typeof ip !== 'string') return undefined;
  // A dotted quad that parses is already canonical (no leading zeros).
  if (parseV4(ip) !== undefined) return { family: 4, address: ip };
  const v6 = canonicalV6(ip);
  if (v6) return { family: 6, address: v6 };
  // The rest (dotted-quad forms, odd spellings) as inet_ntop prints them, by node's own parser.
  if (ipFamily(ip) === 6) return { family: 6, address: new SocketAddress({ address: ip, family: 'ipv6' }).address };
  return undefined;
}

/** The value of a hex digit's char code, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  const l = c | 32; // lower case
  return l >= 97 && l <= 102 ? l - 87 : -1; // a-f
}

/**
 * The eight 16-bit words of an IPv6 address written as hex groups, with at
 * most one `::` and optionally a dotted quad for the last two words
 * (`::ffff:198.18.0.1`); undefined for anything else, zone ids included.
 * One pass over the characters: felix parses every workload address with it.
 */
function v6Words(ip: string): number[] | undefined {
  const n = ip.length;
  const head: number[] = [];
  const tail: number[] = [];
  let words = head;
  let gap = false;
  let i = 0;
  if (ip.charCodeAt(0) === 58 /* : */) {
    if (ip.charCodeAt(1) !== 58) return undefined;
    (gap = true), (words = tail), (i = 2);
  }
  while (i < n) {
    let j = i;
    let v = 0;
    for (let d; j < n && (d = hexDigit(ip.charCodeAt(j))) >= 0; j++) v = v * 16 + d;
    if (ip.charCodeAt(j) === 46 /* . */) {
      // a dotted quad: the rest of the address, two words
      const v4 = parseV4(ip.slice(i));
      if (v4 === undefined) return undefined;
      words.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
      break;
    }
    if (j === i || j - i > 4) return undefined;
    words.push(v);
    if (j === n) break;
    if (ip.charCodeAt(j) !== 58) return undefined;
    if (ip.charCodeAt(j + 1) === 58) {
      if (gap) return undefined;
      (gap = true), (words = tail), (i = j + 2);
    } else if ((i = j + 1) === n) return undefined; // a trailing single colon
  }
  const missing = 8 - head.length - tail.length;
  if (gap ? missing < 1 : missing !== 0) return undefined;
  for (let k = 0; k < missing; k++) head.push(0);
  for (const w of tail) head.push(w);
  return head;
}

/**
 * RFC 5952 text of eight words: lower case, no leading zeros, the longest
 * run of two or more zero words as `::` (the first of equal runs). Also
 * says where that run is, for canonicalV6.
 */
function formatV6(words: number[]): { text: string; best: number; bestLen: number } {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  return { text: best < 0 ? hex(words) : `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`, best, bestLen };
}

/**
 * IPv6 of plain hex groups in the form inet_ntop prints (what `ip route`
 * shows: RFC 5952). Undefined for anything else, including the addresses
 * inet_ntop prints with a dotted quad (`::ffff:a.b.c.d`, `::a.b.c.d`):
 * SocketAddress handles those (~20 µs an address, too slow for felix's
 * cold start to pay on every workload address).
 */
function canonicalV6(ip: string): string | undefined {
  const words = ip.includes('.') ? undefined : v6Words(ip);
  if (!words) return undefined;
  const { text, best, bestLen } = formatV6(words);
  if (best === 0 && (bestLen === 6 || (bestLen === 7 && words[7] !== 1) || (bestLen === 5 && words[5] === 0xffff))) return undefined;
  return text;
}

/** An address as a host network (`198.18.0.1` → `198.18.0.1/32`, `fd00::1` → `fd00::1/128`); a CIDR as is. */
export function hostCidr(addr: string): string {
  if (addr.includes('/')) return addr;
  return addr.includes(':') ? `${addr}/128` : `${addr}/32`;
}

/**
 * Parse "a.b.c.d/n" or "x::/n". With `allowHostBits` a host address with a
 * prefix (an interface address such as 198.18.0.1/24) is accepted and kept
 * as the network it belongs to.
 */
export function parseCidr(text: string, field = 'cidr', allowHostBits = false): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text ?? '');
  if (!m) throw new ValidationError(field, `${JSON.stringify(text)} is not a valid CIDR (expected address/prefix)`);
  const { family, value } = parseIp(m[1]!, field);
  const prefix = Number(m[2]);
  if (prefix > bits(family)) throw new ValidationError(field, `prefix /${prefix} is too long for IPv${family}`);
  const base = value & netmask(family, prefix);
  if (base !== value && !allowHostBits) {
    throw new ValidationError(field, `${text} has host bits set (did you mean ${formatIp(family, base)}/${prefix}?)`);
  }
  return { family, base, prefix };
}

/** Like parseCidr, but a bare address means a host route (/32 or /128). */
export function parseCidrOrIp(text: string, field = 'cidr'): Cidr {
  if (!text.includes('/')) {
    const { family, value } = parseIp(text, field);
    return { family, base: value, prefix: bits(family) };
  }
  return parseCidr(text, field);
}

export function netmask(family: Family, prefix: number): bigint {
  const b = BigInt(bits(family));
  return ((1n << b) - 1n) ^ ((1n << (b - BigInt(prefix))) - 1n);
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(bits(c.family) - c.prefix);
}

export function cidrLast(c: Cidr): bigint {
  return c.base + cidrSize(c) - 1n;
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefix}`;
}

/** Canonical text of a CIDR ("fd00:0:0::/64" → "fd00::/64"). */
export function canonicalCidr(text: string): string {
  return formatCidr(parseCidr(text));
}

export function cidrContainsIp(c: Cidr, family: Family, value: bigint): boolean {
  return c.family === family && value >= c.base && value <= cidrLast(c);
}

export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefix >= outer.prefix && inner.base >= outer.base && cidrLast(inner) <= cidrLast(outer);
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.base <= cidrLast(b) && b.base <= cidrLast(a);
}

/** The `index`-th subnet of size /`prefix` inside `c`. */
export function subnetAt(c: Cidr, prefix: number, index: bigint): Cidr {
  return { family: c.family, prefix, base: c.base + index * (1n << BigInt(bits(c.family) - prefix)) };
}

/** Number of /`prefix` subnets inside `c`. */
export function subnetCount(c: Cidr, prefix: number): bigint {
  return 1n << BigInt(prefix - c.prefix);
}

/** The /`prefix` subnet that contains an address. */
export function enclosing(family: Family, value: bigint, prefix: number): Cidr {
  return { family, prefix, base: value & netmask(family, prefix) };
}
