import { ValidationError } from '../errors.js';
import { type Cidr, type Family, formatCidr, parseCidr, parseIp } from '../net.js';
import type { Port, Protocol } from './spec.js';

/**
 * Parsers for single field values that operators type (AS numbers, ports,
 * protocols, durations, CIDRs). Each returns the normalised value or throws
 * ValidationError(field, reason); the zod schemas in validate.ts use them, and
 * CLIs can call them directly on command-line arguments.
 */

const MAX_AS = 4294967295;

/** AS number: 1..4294967295, or dotted "a.b" (asdot, = a·65536 + b); returns the number. */
export function parseAsNumber(v: unknown, field = 'asNumber'): number {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^\d+$/.test(v)) n = Number(v);
  else if (typeof v === 'string' && /^\d+\.\d+$/.test(v)) {
    const [hi, lo] = v.split('.').map(Number) as [number, number];
    if (hi > 65535 || lo > 65535) throw new ValidationError(field, `${JSON.stringify(v)}: each part of a dotted AS number must be 0..65535`);
    n = hi * 65536 + lo;
  }
  if (n === undefined || !Number.isInteger(n)) {
    throw new ValidationError(field, `${JSON.stringify(v)} is not an AS number (an integer 1..4294967295 or dotted a.b)`);
  }
  if (n < 1 || n > MAX_AS) throw new ValidationError(field, `AS number ${n} is out of range 1..4294967295`);
  return n;
}

function portNumber(text: string | number, field: string): number {
  const n = typeof text === 'number' ? text : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n)) throw new ValidationError(field, `${JSON.stringify(text)} is not a port number`);
  if (n < 0 || n > 65535) throw new ValidationError(field, `port ${n} is out of range 0..65535`);
  return n;
}

/** A port (80, "80") or a range "lo:hi" with lo ≤ hi; a one-port range becomes the number. */
export function parsePort(v: unknown, field = 'port'): Port {
  if (typeof v === 'number') return portNumber(v, field);
  if (typeof v !== 'string') throw new ValidationError(field, `${JSON.stringify(v)} is not a port or a port range "lo:hi"`);
  const m = /^(\d+):(\d+)$/.exec(v.trim());
  if (!m) {
    if (/^\d+$/.test(v.trim())) return portNumber(v.trim(), field);
    throw new ValidationError(field, `${JSON.stringify(v)} is not a port or a port range "lo:hi" (named ports are not supported)`);
  }
  const lo = portNumber(m[1]!, field);
  const hi = portNumber(m[2]!, field);
  if (lo > hi) throw new ValidationError(field, `port range ${v} has its start above its end`);
  return lo === hi ? lo : `${lo}:${hi}`;
}

/** The [min, max] a validated Port covers. */
export function portRange(p: Port): [number, number] {
  if (typeof p === 'number') return [p, p];
  const [lo, hi] = p.split(':').map(Number) as [number, number];
  return [lo, hi ?? lo];
}

const PROTOCOLS: Record<string, Protocol> = {
  tcp: 'TCP',
  udp: 'UDP',
  icmp: 'ICMP',
  icmpv6: 'ICMPv6',
  sctp: 'SCTP',
  udplite: 'UDPLite',
};

/** IANA numbers of the named protocols (what iptables `-p` and the kernel use). */
export const PROTOCOL_NUMBERS: Record<Exclude<Protocol, number>, number> = {
  TCP: 6,
  UDP: 17,
  ICMP: 1,
  ICMPv6: 58,
  SCTP: 132,
  UDPLite: 136,
};

/** TCP|UDP|ICMP|ICMPv6|SCTP|UDPLite in any case (normalised to Calico's casing), or 1..255. */
export function parseProtocol(v: unknown, field = 'protocol'): Protocol {
  if (typeof v === 'string' && PROTOCOLS[v.toLowerCase()]) return PROTOCOLS[v.toLowerCase()]!;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (Number.isInteger(n) && n >= 1 && n <= 255) return n;
  throw new ValidationError(
    field,
    `${JSON.stringify(v)} is not a protocol (TCP, UDP, ICMP, ICMPv6, SCTP, UDPLite or a number 1..255)`,
  );
}

/** Does this protocol carry ports (TCP, UDP, SCTP, by name or number)? */
export function protocolHasPorts(p: Protocol): boolean {
  const n = typeof p === 'number' ? p : PROTOCOL_NUMBERS[p];
  return n === 6 || n === 17 || n === 132;
}

/** The ICMP family of a protocol: 4 for ICMP, 6 for ICMPv6, undefined otherwise. */
export function icmpFamily(p: Protocol): Family | undefined {
  const n = typeof p === 'number' ? p : PROTOCOL_NUMBERS[p];
  return n === 1 ? 4 : n === 58 ? 6 : undefined;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, μs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

/**
 * A Go duration ("90s", "1m30s", "500ms", "1.5h", "0") or a number of seconds.
 * Returns seconds; negative durations are refused.
 */
export function parseDuration(v: unknown, field = 'duration'): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v < 0) throw new ValidationError(field, `${v} is not a duration (seconds must be ≥ 0)`);
    return v;
  }
  const bad = (): never => {
    throw new ValidationError(field, `${JSON.stringify(v)} is not a duration (e.g. "90s", "1m30s", "500ms", or seconds as a number)`);
  };
  if (typeof v !== 'string') return bad();
  const text = v.trim();
  if (text === '0') return 0;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let rest = text;
  let total = 0;
  const part = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  if (rest === '') bad();
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m) return bad();
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** Normalised duration value for a resource: a valid Go-duration string is kept, a number n becomes "ns". */
export function durationField(v: unknown, field = 'duration'): string {
  const secs = parseDuration(v, field);
  return typeof v === 'number' ? `${secs}s` : (v as string).trim();
}

/** A CIDR with host bits clear; `family` restricts it to one IP version. */
export function checkCidr(v: unknown, field: string, family?: Family): Cidr {
  if (typeof v !== 'string') throw new ValidationError(field, `${JSON.stringify(v)} is not a CIDR`);
  const c = parseCidr(v.trim(), field);
  if (family && c.family !== family) throw new ValidationError(field, `${v} is not an IPv${family} CIDR`);
  return c;
}

/** A CIDR, or a bare IP meaning a single address (normalised to /32 or /128); canonical text. */
export function netField(v: unknown, field: string): string {
  if (typeof v === 'string' && !v.includes('/')) {
    const { family } = parseIp(v.trim(), field);
    return formatCidr(checkCidr(`${v.trim()}/${family === 4 ? 32 : 128}`, field));
  }
  return formatCidr(checkCidr(v, field));
}

/** An IP address (no prefix), optionally of one family; returned as given (trimmed). */
export function ipField(v: unknown, field: string, family?: Family): string {
  if (typeof v !== 'string') throw new ValidationError(field, `${JSON.stringify(v)} is not an IP address`);
  const p = parseIp(v.trim(), field);
  if (family && p.family !== family) throw new ValidationError(field, `${v} is not an IPv${family} address`);
  return v.trim();
}

/** Integer in [min, max]; numeric strings are accepted (env vars, CLI args). */
export function intInRange(v: unknown, min: number, max: number, field: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : NaN;
  if (!Number.isInteger(n)) throw new ValidationError(field, `${JSON.stringify(v)} is not an integer`);
  if (n < min || n > max) throw new ValidationError(field, `${n} is out of range ${min}..${max}`);
  return n;
}

/** A case-insensitive choice among `values`, normalised to the listed spelling. */
export function oneOf<T extends string>(v: unknown, values: readonly T[], field: string): T {
  const hit = typeof v === 'string' ? values.find((x) => x.toLowerCase() === v.trim().toLowerCase()) : undefined;
  if (!hit) throw new ValidationError(field, `${JSON.stringify(v)} is not one of ${values.join(', ')}`);
  return hit;
}

/** MAC address aa:bb:cc:dd:ee:ff (also with '-'), normalised to lower case with ':'. */
export function macField(v: unknown, field = 'mac'): string {
  if (typeof v !== 'string' || !/^[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}$/.test(v.trim())) {
    throw new ValidationError(field, `${JSON.stringify(v)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
  }
  return v.trim().toLowerCase().replace(/-/g, ':');
}

/** A Linux interface name: 1..15 characters, no '/', ':', whitespace; not "." or "..". */
export function interfaceNameField(v: unknown, field = 'interfaceName'): string {
  if (typeof v !== 'string' || v === '') throw new ValidationError(field, 'is required');
  if (v.length > 15) throw new ValidationError(field, `${JSON.stringify(v)} is longer than 15 characters (the kernel's limit)`);
  // a leading '-' would be read as an option by ip(8)
  if (/[/:\s]/.test(v) || v === '.' || v === '..' || v.startsWith('-')) {
    throw new ValidationError(field, `${JSON.stringify(v)} is not a valid interface name`);
  }
  return v;
}
