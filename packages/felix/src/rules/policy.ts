import type { EntityRule, Port, Protocol, Rule } from '@calico/libcalico/resources/spec';
import { ipFamily } from '@calico/libcalico';
import { NAMESPACE_LABEL } from '@calico/libcalico/selector';
import { hashedSetId, hex, ipsetName, type IpVersion, type Marks } from '../names.js';
import { rule, type IptRule, type SetRef } from './types.js';

/**
 * Policy and profile rules → iptables rules, for one IP version. Pure.
 * A v3 rule becomes one or more iptables rules (OR-ed alternatives: each
 * positive net, each chunk of at most 15 ports), all with the same action.
 */
export interface RenderContext {
  version: IpVersion;
  marks: Marks;
  logPrefix: string;
  /** NetworkPolicy: its rule selectors only see endpoints of this namespace */
  namespace?: string;
}

export interface Rendered {
  rules: IptRule[];
  sets: SetRef[];
  /** why a rule was left out (for the log) */
  skipped: string[];
}

const MULTIPORT_MAX = 15;
const PORT_PROTOCOLS = new Set(['tcp', 'udp', 'sctp', 'udplite']);

function protoName(p: Protocol, v: IpVersion): string {
  if (typeof p === 'number') return String(p);
  switch (p) {
    case 'ICMPv6':
      return v === 6 ? 'ipv6-icmp' : 'icmpv6';
    default:
      return p.toLowerCase();
  }
}


/** A rule selector, restricted to the policy's namespace for NetworkPolicies. */
export function scopedSelector(selector: string, namespace?: string): string {
  return namespace ? `(${selector}) && ${NAMESPACE_LABEL} == '${namespace}'` : selector;
}

export function selectorSet(version: IpVersion, selector: string, namespace?: string): SetRef {
  const scoped = scopedSelector(selector, namespace);
  return { kind: 'selector', id: ipsetName(version, hashedSetId('s', scoped)), version, selector, namespace };
}

/** Split ports into multiport lists of at most 15 entries (a range counts 2). */
export function portChunks(ports: Port[]): string[] {
  const chunks: string[] = [];
  let cur: string[] = [];
  let used = 0;
  for (const p of ports) {
    const text = String(p);
    const cost = text.includes(':') ? 2 : 1;
    if (used + cost > MULTIPORT_MAX) {
      chunks.push(cur.join(','));
      cur = [];
      used = 0;
    }
    cur.push(text);
    used += cost;
  }
  if (cur.length) chunks.push(cur.join(','));
  return chunks;
}

const familyNets = (nets: string[] | undefined, v: IpVersion): string[] =>
  (nets ?? []).filter((n) => ipFamily(n.split('/')[0]!) === v);

/**
 * The alternatives (OR) and the conjunctive conditions (AND) of one side
 * (source or destination) of a rule; undefined if the side cannot match in
 * this IP version (e.g. only IPv6 nets in the IPv4 table).
 */
function entityMatches(
  e: EntityRule | undefined,
  dir: 'src' | 'dst',
  ctx: RenderContext,
  proto: string | undefined,
  sets: SetRef[],
): { alternatives: string[]; conditions: string[] } | string {
  const flag = dir === 'src' ? '-s' : '-d';
  const portFlag = dir === 'src' ? '--sports' : '--dports';
  let alternatives = [''];
  const conditions: string[] = [];
  if (!e) return { alternatives, conditions };
  // Left out rather than widened: without them the rule would match more than written.
  if (e.namespaceSelector) return `${dir} namespaceSelector is not supported`;
  if (e.serviceAccounts) return `${dir} serviceAccounts is not supported`;

  if (e.nets?.length) {
    const nets = familyNets(e.nets, ctx.version);
    if (!nets.length) return `${dir} nets have no IPv${ctx.version} entry`;
    if (nets.length === 1) alternatives = [`${flag} ${nets[0]}`];
    else {
      const set: SetRef = { kind: 'nets', id: ipsetName(ctx.version, hashedSetId('n', nets.join(','))), version: ctx.version, nets };
      sets.push(set);
      alternatives = [`-m set --match-set ${set.id} ${dir}`];
    }
  }
  const notNets = familyNets(e.notNets, ctx.version);
  if (notNets.length === 1) conditions.push(`! ${flag} ${notNets[0]}`);
  else if (notNets.length > 1) {
    const set: SetRef = { kind: 'nets', id: ipsetName(ctx.version, hashedSetId('n', notNets.join(','))), version: ctx.version, nets: notNets };
    sets.push(set);
    conditions.push(`-m set ! --match-set ${set.id} ${dir}`);
  }
  if (e.selector) {
    const set = selectorSet(ctx.version, e.selector, ctx.namespace);
    sets.push(set);
    conditions.push(`-m set --match-set ${set.id} ${dir}`);
  }
  if (e.notSelector) {
    const set = selectorSet(ctx.version, e.notSelector, ctx.namespace);
    sets.push(set);
    conditions.push(`-m set ! --match-set ${set.id} ${dir}`);
  }
  const named = [...(e.ports ?? []), ...(e.notPorts ?? [])].filter((p) => typeof p === 'string' && !/^\d+(:\d+)?$/.test(p));
  if (named.length) return `named ports (${named.join(', ')}) are not supported`;
  if ((e.ports?.length || e.notPorts?.length) && !(proto && PORT_PROTOCOLS.has(proto))) {
    return 'ports need protocol TCP, UDP, SCTP or UDPLite';
  }
  if (e.ports?.length) {
    const chunks = portChunks(e.ports).map((c) => `-m multiport ${portFlag} ${c}`);
    alternatives = alternatives.flatMap((a) => chunks.map((c) => (a ? `${a} ${c}` : c)));
  }
  for (const c of portChunks(e.notPorts ?? [])) conditions.push(`-m multiport ! ${portFlag} ${c}`);
  return { alternatives, conditions };
}

/** Render one v3 rule; returns [] when it does not apply to this IP version. */
export function renderRule(r: Rule, ctx: RenderContext, out: Rendered): void {
  const v = ctx.version;
  if (r.ipVersion && r.ipVersion !== v) return;
  if (r.protocol === 'ICMP' && v === 6) return;
  if (r.protocol === 'ICMPv6' && v === 4) return;
  const proto = r.protocol !== undefined ? protoName(r.protocol, v) : undefined;
  const head: string[] = [];
  if (proto) head.push(`-p ${proto}`);
  if (r.notProtocol !== undefined) {
    const not = protoName(r.notProtocol, v);
    // iptables takes one -p: a positive protocol already says "not the other one".
    if (not === proto) return;
    if (!proto) head.push(`! -p ${not}`);
  }

  const icmpMod = v === 4 ? '-m icmp' : '-m icmp6';
  const icmpFlag = v === 4 ? '--icmp-type' : '--icmpv6-type';
  const icmpSpec = (i: { type?: number; code?: number }) => (i.code !== undefined ? `${i.type}/${i.code}` : `${i.type}`);
  if (r.icmp?.type !== undefined || r.notICMP?.type !== undefined) {
    if (proto !== 'icmp' && proto !== 'ipv6-icmp') {
      out.skipped.push('icmp needs protocol ICMP or ICMPv6');
      return;
    }
    if (r.icmp?.type !== undefined) head.push(`${icmpMod} ${icmpFlag} ${icmpSpec(r.icmp)}`);
    if (r.notICMP?.type !== undefined) head.push(`${icmpMod} ! ${icmpFlag} ${icmpSpec(r.notICMP)}`);
  }

  const sets: SetRef[] = [];
  const src = entityMatches(r.source, 'src', ctx, proto, sets);
  const dst = entityMatches(r.destination, 'dst', ctx, proto, sets);
  if (typeof src === 'string' || typeof dst === 'string') {
    const why = typeof src === 'string' ? src : (dst as string);
    // A family mismatch just means "not in this table"; anything else is worth a log line.
    if (!why.includes('have no IPv')) out.skipped.push(why);
    return;
  }
  out.sets.push(...sets);
  const tail = [...src.conditions, ...dst.conditions].join(' ');
  const matches: string[] = [];
  for (const s of src.alternatives) for (const d of dst.alternatives) matches.push([...head, s, d, tail].filter(Boolean).join(' '));

  const { accept, pass } = ctx.marks;
  switch (r.action) {
    case 'Allow':
      for (const m of matches) out.rules.push(rule(m, `-j MARK --set-xmark ${hex(accept)}/${hex(accept)}`));
      out.rules.push(rule(`-m mark --mark ${hex(accept)}/${hex(accept)}`, '-j RETURN'));
      break;
    case 'Pass':
      for (const m of matches) out.rules.push(rule(m, `-j MARK --set-xmark ${hex(pass)}/${hex(pass)}`));
      out.rules.push(rule(`-m mark --mark ${hex(pass)}/${hex(pass)}`, '-j RETURN'));
      break;
    case 'Deny':
      for (const m of matches) out.rules.push(rule(m, '-j DROP'));
      break;
    case 'Log':
      for (const m of matches) out.rules.push(rule(m, `-j LOG --log-prefix "${ctx.logPrefix}: " --log-level 5`));
      break;
    default:
      out.skipped.push(`unknown action ${JSON.stringify((r as Rule).action)}`);
  }
}

/** All rules of one direction of a policy or profile. */
export function renderRules(rules: Rule[] | undefined, ctx: RenderContext): Rendered {
  const out: Rendered = { rules: [], sets: [], skipped: [] };
  for (const r of rules ?? []) renderRule(r, ctx, out);
  return out;
}
