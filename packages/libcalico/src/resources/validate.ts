// A namespace import, not `import { z }`: the bundler then keeps only the zod functions used
// (94 KB instead of 446 KB with every locale; ~50 ms off each felix, confd and calicoctl start).
import * as z from 'zod';
import { ValidationError } from '../errors.js';
import { type Family, cidrsOverlap, formatCidr, parseCidr, parseCidrOrIp } from '../net.js';
import { parseSelectorCached } from '../selector.js';
import {
  checkCidr,
  durationField,
  icmpFamily,
  interfaceNameField,
  intInRange,
  ipField,
  macField,
  netField,
  oneOf,
  parseAsNumber,
  parsePort,
  parseProtocol,
  protocolHasPorts,
} from './fields.js';
import { API_VERSION, kindInfo } from './kinds.js';
import { checkDns1123Label, checkDns1123Subdomain, checkLabelKey, checkLabelValue, workloadEndpointName } from './names.js';
import type { IPPoolSpec, PolicyType, Rule, SpecByKind, WorkloadEndpointSpec } from './spec.js';
import type { Resource } from './types.js';

/**
 * Validation and defaulting of Calico v3 resources with zod. Field parsers
 * (fields.ts, names.ts) throw ValidationError; `field()` turns them into zod
 * steps, and the first zod issue becomes ValidationError(dotted.path, reason).
 * The output is canonical: validating it again returns the same JSON.
 */

/** A zod step from a plain parser; a ValidationError's field (if any) extends the path. */
function field<T>(parse: (v: unknown, field: string) => T) {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: 'is required' });
      return z.NEVER;
    }
    try {
      return parse(v, '');
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      ctx.addIssue({ code: 'custom', message: e.reason, path: e.field ? [e.field] : [] });
      return z.NEVER;
    }
  });
}

const nonEmpty = field((v) => {
  if (typeof v !== 'string' || v === '') throw new ValidationError('', 'must be a non-empty string');
  return v;
});
const name = field(checkDns1123Subdomain);
const selector = field((v) => {
  if (typeof v !== 'string') throw new ValidationError('', 'must be a selector string');
  try {
    parseSelectorCached(v);
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError('', `invalid selector ${JSON.stringify(v)}: ${e.reason}`);
    throw e;
  }
  return v;
});
const asNumber = field(parseAsNumber);
const port = field(parsePort);
const protocol = field(parseProtocol);
const net = field(netField);
const ip = field(ipField);
const ip4 = field((v, f) => ipField(v, f, 4));
const ip6 = field((v, f) => ipField(v, f, 6));
const cidr = field((v, f) => formatCidr(checkCidr(v, f)));
const duration = field(durationField);
const bool = z.boolean();
const int = (min: number, max: number) => field((v, f) => intInRange(v, min, max, f));
const choice = <T extends string>(...values: T[]) => field((v, f) => oneOf(v, values, f));
const severity = choice('Debug', 'Info', 'Warning', 'Error', 'Fatal');
const encapMode = choice('Always', 'CrossSubnet', 'Never');

const labels = field((v) => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ValidationError('', 'must be a map of label keys to string values');
  for (const [k, val] of Object.entries(v)) {
    checkLabelKey(k, k);
    checkLabelValue(val, k);
  }
  return v as Record<string, string>;
});
const annotations = field((v) => {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ValidationError('', 'must be a map of keys to string values');
  for (const [k, val] of Object.entries(v)) {
    checkLabelKey(k, k);
    if (typeof val !== 'string') throw new ValidationError(k, 'annotation value must be a string');
  }
  return v as Record<string, string>;
});

const metadata = z.strictObject({
  name,
  namespace: field(checkDns1123Label).optional(),
  resourceVersion: field((v) => String(v)).optional(),
  uid: z.string().optional(),
  creationTimestamp: z.string().optional(),
  generation: z.number().optional(),
  labels: labels.optional(),
  annotations: annotations.optional(),
});

// ---- rules ---------------------------------------------------------------

const icmp = z
  .strictObject({ type: int(0, 254).optional(), code: int(0, 255).optional() })
  .superRefine((v, ctx) => {
    if (v.code !== undefined && v.type === undefined) ctx.addIssue({ code: 'custom', path: ['code'], message: 'ICMP code requires an ICMP type' });
  });

const entityRule = z.strictObject({
  nets: z.array(net).optional(),
  notNets: z.array(net).optional(),
  selector: selector.optional(),
  notSelector: selector.optional(),
  namespaceSelector: selector.optional(),
  ports: z.array(port).optional(),
  notPorts: z.array(port).optional(),
  serviceAccounts: z.strictObject({ names: z.array(nonEmpty).optional(), selector: selector.optional() }).optional(),
});

const ACTIONS = ['Allow', 'Deny', 'Log', 'Pass'] as const;

const rule = z
  .strictObject({
    action: choice(...ACTIONS),
    ipVersion: field((v) => {
      if (v === 4 || v === 6 || v === '4' || v === '6') return Number(v) as 4 | 6;
      throw new ValidationError('', `${JSON.stringify(v)} is not an IP version (4 or 6)`);
    }).optional(),
    protocol: protocol.optional(),
    notProtocol: protocol.optional(),
    icmp: icmp.optional(),
    notICMP: icmp.optional(),
    source: entityRule.optional(),
    destination: entityRule.optional(),
    metadata: z.strictObject({ annotations: z.record(z.string(), z.string()).optional() }).optional(),
  })
  .superRefine((r, ctx) => {
    for (const issue of ruleProblems(r as Rule)) ctx.addIssue({ code: 'custom', ...issue });
  });

const netFamily = (n: string): Family => parseCidr(n).family;

/** Cross-field rule checks (Calico's): ports need a port protocol, ICMP needs ICMP, one IP version. */
function ruleProblems(r: Rule): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  const sides = [
    ['source', r.source],
    ['destination', r.destination],
  ] as const;
  for (const [side, e] of sides) {
    for (const key of ['ports', 'notPorts'] as const) {
      if (e?.[key]?.length && !(r.protocol !== undefined && protocolHasPorts(r.protocol))) {
        out.push({ path: [side, key], message: 'ports are only allowed with protocol TCP, UDP or SCTP' });
      }
    }
  }
  for (const key of ['icmp', 'notICMP'] as const) {
    if (r[key] && (r.protocol === undefined || icmpFamily(r.protocol) === undefined)) {
      out.push({ path: [key], message: `${key} requires protocol ICMP or ICMPv6` });
    }
  }
  const icmpV = r.protocol !== undefined ? icmpFamily(r.protocol) : undefined;
  if (r.ipVersion && icmpV && r.ipVersion !== icmpV) {
    out.push({ path: ['ipVersion'], message: `ipVersion ${r.ipVersion} does not match protocol ${r.protocol}` });
  }
  const version = r.ipVersion ?? icmpV;
  const families: Record<string, Set<Family>> = {};
  for (const [side, e] of sides) {
    families[side] = new Set();
    for (const key of ['nets', 'notNets'] as const) {
      e?.[key]?.forEach((n, i) => {
        const f = netFamily(n);
        families[side]!.add(f);
        if (version && f !== version) {
          out.push({ path: [side, key, i], message: `${n} is not IPv${version} (the rule is IPv${version} by its ${r.ipVersion ? 'ipVersion' : 'protocol'})` });
        }
      });
    }
  }
  const src = families.source!;
  const dst = families.destination!;
  if (!version && src.size && dst.size && ![...src].some((f) => dst.has(f))) {
    out.push({ path: ['destination', 'nets'], message: 'source and destination nets are of different IP versions, so the rule can never match' });
  }
  return out;
}

// ---- kinds ---------------------------------------------------------------

/** Fill `key` from the raw input before parsing (keeps the output key order the schema's). */
function withDefault<S extends z.ZodType>(key: string, compute: (raw: Record<string, unknown>) => unknown, schema: S) {
  return z.preprocess((raw) => {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw) || (raw as Record<string, unknown>)[key] !== undefined) return raw;
    const value = compute(raw as Record<string, unknown>);
    return value === undefined ? raw : { ...raw, [key]: value };
  }, schema);
}

/** Addresses a pool must never contain: loopback, link-local (169.254.1.1 is the workloads' gateway), multicast. */
const RESERVED = ['127.0.0.0/8', '169.254.0.0/16', '224.0.0.0/4', '::1/128', 'fe80::/10', 'ff00::/8'].map((text) => ({ text, cidr: parseCidr(text) }));

const ipPool = withDefault(
  'blockSize',
  (raw) => (typeof raw.cidr === 'string' ? (raw.cidr.includes(':') ? 122 : 26) : undefined),
  z
    .strictObject({
      cidr,
      blockSize: int(0, 128),
      ipipMode: encapMode.default('Never'),
      vxlanMode: encapMode.default('Never'),
      natOutgoing: bool.default(false),
      disabled: bool.default(false),
      nodeSelector: selector.default('all()'),
    })
    .superRefine((p, ctx) => {
      const c = parseCidr(p.cidr);
      const [lo, hi] = c.family === 4 ? [20, 32] : [116, 128];
      const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      if (p.blockSize < lo || p.blockSize > hi) problem('blockSize', `${p.blockSize} is out of range ${lo}..${hi} for an IPv${c.family} pool`);
      else if (c.prefix > p.blockSize) problem('cidr', `prefix /${c.prefix} is longer than the block size /${p.blockSize}`);
      const reserved = RESERVED.find((r) => cidrsOverlap(r.cidr, c));
      if (reserved) problem('cidr', `${p.cidr} overlaps the reserved range ${reserved.text} (loopback, link-local or multicast)`);
      if (p.ipipMode !== 'Never' && p.vxlanMode !== 'Never') problem('vxlanMode', 'IPIP and VXLAN cannot both be enabled on a pool');
      if (c.family === 6 && p.ipipMode !== 'Never') problem('ipipMode', 'IPIP is not supported on an IPv6 pool');
    }),
);

const ruleList = z.array(rule).optional();

const policyTypes = z.array(choice('Ingress', 'Egress'));

/** Calico's default for `types`: Ingress, unless there are egress rules only (Egress) or both (both). */
function defaultTypes(raw: Record<string, unknown>): PolicyType[] {
  const has = (k: string) => Array.isArray(raw[k]) && (raw[k] as unknown[]).length > 0;
  if (has('egress')) return has('ingress') ? ['Ingress', 'Egress'] : ['Egress'];
  return ['Ingress'];
}

function checkTypes(p: { types: PolicyType[]; ingress?: Rule[]; egress?: Rule[] }, ctx: z.RefinementCtx): void {
  if (new Set(p.types).size !== p.types.length) ctx.addIssue({ code: 'custom', path: ['types'], message: 'contains a type twice' });
  if (p.ingress?.length && !p.types.includes('Ingress')) {
    ctx.addIssue({ code: 'custom', path: ['ingress'], message: 'ingress rules are given but types does not include Ingress' });
  }
  if (p.egress?.length && !p.types.includes('Egress')) {
    ctx.addIssue({ code: 'custom', path: ['egress'], message: 'egress rules are given but types does not include Egress' });
  }
}

const order = field((v) => {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ValidationError('', `${JSON.stringify(v)} is not a number`);
  return n;
});

const policyFields = {
  order: order.optional(),
  selector: selector.optional(),
  types: policyTypes,
  ingress: ruleList,
  egress: ruleList,
  serviceAccountSelector: selector.optional(),
};

const networkPolicy = withDefault('types', defaultTypes, z.strictObject(policyFields).superRefine(checkTypes));

const globalNetworkPolicy = withDefault(
  'types',
  defaultTypes,
  z
    .strictObject({
      ...policyFields,
      namespaceSelector: selector.optional(),
      doNotTrack: bool.optional(),
      preDNAT: bool.optional(),
      applyOnForward: bool.optional(),
    })
    .superRefine((p, ctx) => {
      checkTypes(p, ctx);
      const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
      if (p.doNotTrack && p.preDNAT) problem('preDNAT', 'preDNAT and doNotTrack cannot both be true');
      if (p.preDNAT && p.egress?.length) problem('egress', 'a preDNAT policy cannot have egress rules');
      if ((p.doNotTrack || p.preDNAT) && !p.applyOnForward) {
        problem('applyOnForward', `must be true when ${p.doNotTrack ? 'doNotTrack' : 'preDNAT'} is true`);
      }
    }),
);

const profile = z.strictObject({ ingress: ruleList, egress: ruleList, labelsToApply: labels.optional() });

/** An interface address in CIDR form (host bits allowed, e.g. 198.18.0.1/24); a bare IP becomes /32 or /128. */
const ifaceAddress = (family: Family) =>
  field((v, f) => {
    if (typeof v !== 'string') throw new ValidationError(f, `${JSON.stringify(v)} is not an IPv${family} address`);
    const text = v.trim();
    const c = text.includes('/') ? parseCidr(text, f, true) : parseCidrOrIp(text, f);
    if (c.family !== family) throw new ValidationError(f, `${v} is not an IPv${family} address`);
    return text.includes('/') ? text : `${text}/${family === 4 ? 32 : 128}`;
  });

const node = z.strictObject({
  bgp: z
    .strictObject({
      ipv4Address: ifaceAddress(4).optional(),
      ipv6Address: ifaceAddress(6).optional(),
      asNumber: asNumber.optional(),
      routeReflectorClusterID: ip4.optional(),
      ipv4IPIPTunnelAddr: ip4.optional(),
    })
    .superRefine((b, ctx) => {
      if (!b.ipv4Address && !b.ipv6Address) ctx.addIssue({ code: 'custom', message: 'needs ipv4Address or ipv6Address' });
    })
    .optional(),
  ipv4VXLANTunnelAddr: ip4.optional(),
  orchRefs: z.array(z.strictObject({ orchestrator: nonEmpty, nodeName: z.string().optional() })).optional(),
});

const password = field((v) => {
  if (typeof v === 'string') {
    if (v === '') throw new ValidationError('', 'must not be empty');
    return v;
  }
  const ref = (v as { secretKeyRef?: Record<string, unknown> } | null)?.secretKeyRef;
  const ok = v && typeof v === 'object' && Object.keys(v).length === 1 && ref && typeof ref === 'object';
  if (!ok) throw new ValidationError('', 'must be a plain-text password or {secretKeyRef: {name, key}}');
  for (const k of Object.keys(ref)) if (k !== 'name' && k !== 'key') throw new ValidationError(`secretKeyRef.${k}`, 'unknown field');
  for (const k of ['name', 'key']) {
    if (typeof ref[k] !== 'string' || ref[k] === '') throw new ValidationError(`secretKeyRef.${k}`, 'is required');
  }
  return { secretKeyRef: { name: ref.name as string, key: ref.key as string } };
});

const bgpPeer = z
  .strictObject({
    node: name.optional(),
    nodeSelector: selector.optional(),
    peerIP: ip.optional(),
    peerSelector: selector.optional(),
    asNumber: asNumber.optional(),
    password: password.optional(),
    keepOriginalNextHop: bool.optional(),
    sourceAddress: choice('UseNodeIP', 'None').optional(),
  })
  .superRefine((p, ctx) => {
    const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if (p.node && p.nodeSelector) problem('nodeSelector', 'cannot be set together with node');
    if (p.peerIP && p.peerSelector) problem('peerSelector', 'cannot be set together with peerIP');
    else if (!p.peerIP && !p.peerSelector) problem('peerIP', 'is required (or peerSelector)');
    else if (p.peerIP && p.asNumber === undefined) problem('asNumber', 'is required with peerIP');
    else if (p.peerSelector && p.asNumber !== undefined) problem('asNumber', 'must be empty when peerSelector is set (the peers\' own AS numbers are used)');
  });

const serviceCidrs = z.array(z.strictObject({ cidr })).optional();

const bgpConfiguration = z.strictObject({
  asNumber: asNumber.optional(),
  nodeToNodeMeshEnabled: bool.optional(),
  logSeverityScreen: severity.optional(),
  listenPort: int(1, 65535).optional(),
  serviceClusterIPs: serviceCidrs,
  serviceExternalIPs: serviceCidrs,
});

const l4proto = choice('TCP', 'UDP', 'SCTP');

const protoPorts = z
  .array(z.strictObject({ protocol: l4proto, port: int(0, 65535), net: cidr.optional() }))
  .optional();

/** Felix parameters, camelCase as in Calico (see spec.ts FelixConfigurationSpec). */
const FELIX_PARAMS = {
  logSeverityScreen: severity,
  logSeverityFile: severity,
  logSeveritySys: severity,
  logFilePath: z.string(),
  logPrefix: field((v) => {
    if (typeof v !== 'string' || v.length > 29) throw new ValidationError('', 'must be a string of at most 29 characters (the iptables LOG limit)');
    return v;
  }),
  iptablesBackend: choice('Auto', 'NFT', 'Legacy'),
  iptablesRefreshInterval: duration,
  iptablesPostWriteCheckInterval: duration,
  iptablesLockTimeout: duration,
  iptablesMarkMask: field((v) => {
    const n = typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new ValidationError('', `${JSON.stringify(v)} is not a 32-bit mask (e.g. 0xffff0000)`);
    }
    let bits = 0;
    for (let m = n; m; m = Math.floor(m / 2)) bits += m % 2;
    if (bits < 4) throw new ValidationError('', `${JSON.stringify(v)} has ${bits} bits set; Felix needs at least 4 (accept, pass, 2 scratch)`);
    return n;
  }),
  iptablesFilterAllowAction: choice('Accept', 'Return'),
  iptablesMangleAllowAction: choice('Accept', 'Return'),
  routeRefreshInterval: duration,
  ipsetsRefreshInterval: duration,
  maxIpsetSize: int(1, 2 ** 31 - 1),
  defaultEndpointToHostAction: choice('Drop', 'Return', 'Accept'),
  interfacePrefix: field((v) => {
    if (typeof v !== 'string' || !/^[A-Za-z0-9_.-]{1,14}(,[A-Za-z0-9_.-]{1,14})*$/.test(v)) {
      throw new ValidationError('', `${JSON.stringify(v)} is not an interface prefix (letters, digits, '_', '.', '-'; a comma-separated list for several)`);
    }
    return v;
  }),
  chainInsertMode: choice('Insert', 'Append'),
  ignoreLooseRPF: bool,
  ipv6Support: bool,
  sharedEndpointChains: bool,
  natOutgoingAddress: ip4,
  natPortRange: port,
  deviceRouteProtocol: int(1, 255),
  removeExternalRoutes: bool,
  failsafeInboundHostPorts: protoPorts,
  failsafeOutboundHostPorts: protoPorts,
  healthEnabled: bool,
  healthHost: nonEmpty,
  healthPort: int(1, 65535),
  prometheusMetricsEnabled: bool,
  prometheusMetricsHost: nonEmpty,
  prometheusMetricsPort: int(1, 65535),
  reportingInterval: duration,
  reportingTTL: duration,
  endpointReportingEnabled: bool,
  endpointReportingDelay: duration,
  ipipEnabled: bool,
  ipipMTU: int(576, 65535),
  vxlanEnabled: bool,
  vxlanMTU: int(576, 65535),
  vxlanPort: int(1, 65535),
  vxlanVNI: int(1, 16777215),
} as const;

/** Names of the Felix parameters a FelixConfiguration may set. */
export const FELIX_PARAMETERS: readonly string[] = Object.keys(FELIX_PARAMS);

const felixConfiguration = z.strictObject(
  Object.fromEntries(Object.entries(FELIX_PARAMS).map(([k, s]) => [k, s.optional()])) as {
    [K in keyof typeof FELIX_PARAMS]: z.ZodOptional<(typeof FELIX_PARAMS)[K]>;
  },
);

const endpointPorts = z.array(z.strictObject({ name: nonEmpty, protocol: l4proto, port: int(1, 65535) })).optional();

/** A workload's own address: /32 or /128 (a bare IP gets the prefix added). */
const hostNet = field((v, f) => {
  if (typeof v === 'string' && v.includes('/')) {
    const c = parseCidr(v.trim(), f, true);
    if (c.prefix !== (c.family === 4 ? 32 : 128)) throw new ValidationError(f, `${v} must be a single address (/32 or /128)`);
  }
  return netField(v, f);
});

const workloadEndpoint = z.strictObject({
  orchestrator: nonEmpty.optional(),
  workload: nonEmpty.optional(),
  node: name.optional(),
  containerID: nonEmpty.optional(),
  pod: nonEmpty.optional(),
  endpoint: nonEmpty.optional(),
  ipNetworks: z.array(hostNet).optional(),
  ipNATs: z.array(z.strictObject({ internalIP: ip, externalIP: ip })).optional(),
  ipv4Gateway: ip4.optional(),
  ipv6Gateway: ip6.optional(),
  profiles: z.array(name).optional(),
  interfaceName: field(interfaceNameField).optional(),
  mac: field(macField).optional(),
  ports: endpointPorts,
});

const hostEndpoint = z
  .strictObject({
    node: name,
    interfaceName: field((v, f) => (v === '*' ? v : interfaceNameField(v, f))).optional(),
    expectedIPs: z.array(ip).optional(),
    profiles: z.array(name).optional(),
    ports: endpointPorts,
  })
  .superRefine((h, ctx) => {
    if (!h.interfaceName && !h.expectedIPs?.length) {
      ctx.addIssue({ code: 'custom', path: ['interfaceName'], message: 'interfaceName or expectedIPs is required' });
    }
  });

// Typed per kind, so each schema's output is checked against the spec type published in spec.ts.
const SPEC_SCHEMAS: { [K in keyof SpecByKind]: z.ZodType<SpecByKind[K]> } = {
  IPPool: ipPool,
  Profile: profile,
  GlobalNetworkPolicy: globalNetworkPolicy,
  NetworkPolicy: networkPolicy,
  Node: node,
  BGPPeer: bgpPeer,
  BGPConfiguration: bgpConfiguration,
  FelixConfiguration: felixConfiguration,
  WorkloadEndpoint: workloadEndpoint,
  HostEndpoint: hostEndpoint,
};

// ---- entry points --------------------------------------------------------

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/** Suggest the parameter a mistyped Felix key probably meant. */
function felixSuggestion(key: string): string {
  const lower = key.toLowerCase().replace(/secs$/, '');
  const hit = FELIX_PARAMETERS.find((p) => p.toLowerCase() === lower);
  return hit ? ` (did you mean ${hit}?)` : '';
}

function toValidationError(err: z.ZodError, prefix: string[], kind?: string): ValidationError {
  const issue = err.issues[0]!;
  const path = [...prefix, ...issue.path];
  switch (issue.code) {
    case 'unrecognized_keys': {
      const key = issue.keys[0]!;
      const felix = kind === 'FelixConfiguration' && issue.path.length === 0;
      return new ValidationError(
        formatPath([...path, key]),
        felix ? `unknown Felix parameter${felixSuggestion(key)}` : 'unknown field',
      );
    }
    case 'invalid_type': {
      const received = /received (\w+)/.exec(issue.message)?.[1];
      if (received === 'undefined') return new ValidationError(formatPath(path), 'is required');
      return new ValidationError(formatPath(path), `must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}${received ? `, not ${received}` : ''}`);
    }
    default:
      return new ValidationError(formatPath(path), issue.message);
  }
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix: string[], kind?: string): T {
  const res = schema.safeParse(value);
  if (!res.success) throw toValidationError(res.error, prefix, kind);
  return res.data;
}

/**
 * Validate a resource of any kind, apply Calico's defaults, and return the
 * normalised copy ({apiVersion, kind, metadata, spec}). Throws ValidationError
 * naming the field (`spec.ingress[0].destination.ports[1]`) and the reason.
 */
export function validateResource(raw: unknown): Resource {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ValidationError('', 'a resource must be an object');
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k)) throw new ValidationError(k, 'unknown field');
  }
  if (r.apiVersion !== API_VERSION) {
    throw new ValidationError('apiVersion', `${r.apiVersion === undefined ? 'is required' : `${JSON.stringify(r.apiVersion)} is not supported`}; use ${API_VERSION}`);
  }
  const kind = r.kind;
  if (typeof kind !== 'string' || !kindInfo(kind)) {
    throw new ValidationError('kind', `${kind === undefined ? 'is required' : `unknown kind ${JSON.stringify(kind)}`}`);
  }
  const meta = parseWith(metadata, r.metadata, ['metadata']);
  const spec = parseWith(SPEC_SCHEMAS[kind as keyof SpecByKind] as z.ZodType, r.spec ?? {}, ['spec'], kind) as Record<string, unknown>;
  const out: Resource = { apiVersion: API_VERSION, kind, metadata: meta, spec };
  if (kind === 'WorkloadEndpoint') checkWorkloadEndpointName(out as Resource<WorkloadEndpointSpec>);
  return out;
}

/** Calico refuses a WorkloadEndpoint whose name differs from the one its identifiers give. */
function checkWorkloadEndpointName(r: Resource<WorkloadEndpointSpec>): void {
  const s = r.spec;
  if (!s.node || !s.orchestrator || !(s.workload || s.pod) || !s.endpoint) return;
  const expected = workloadEndpointName({ node: s.node, orchestrator: s.orchestrator, workload: s.workload, pod: s.pod, endpoint: s.endpoint });
  if (r.metadata.name !== expected) {
    throw new ValidationError('metadata.name', `${JSON.stringify(r.metadata.name)} does not match the endpoint's identifiers (expected ${JSON.stringify(expected)})`);
  }
}

/** Validate just a rule (e.g. one built by `calicoctl profile rule add`); `fieldPrefix` names it in errors. */
export function validateRule(raw: unknown, fieldPrefix = 'rule'): Rule {
  return parseWith(rule, raw, [fieldPrefix]) as Rule;
}

/** Validate and normalise a selector string; errors name `field`. */
export function validateSelector(text: string, field = 'selector'): string {
  return parseWith(selector, text, [field]) as string;
}

/** Checks that need the other stored resources: an IPPool may not overlap another pool. */
export function validateAgainst(r: Resource, existing: Resource[]): void {
  if (r.kind !== 'IPPool') return;
  const mine = parseCidr((r.spec as unknown as IPPoolSpec).cidr, 'spec.cidr');
  for (const other of existing) {
    if (other.kind !== 'IPPool' || other.metadata.name === r.metadata.name) continue;
    const theirs = (other.spec as unknown as IPPoolSpec).cidr;
    if (cidrsOverlap(mine, parseCidr(theirs))) {
      throw new ValidationError('spec.cidr', `${(r.spec as unknown as IPPoolSpec).cidr} overlaps IPPool ${other.metadata.name} (${theirs})`);
    }
  }
}
