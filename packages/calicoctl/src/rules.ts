// The old calicoctl rule grammar (calico.md §3.2), parsed into Calico v3
// rules, and the old one-line rule format for `profile NAME rule show`:
//
//   (inbound|outbound) [--at=N] (allow|deny) [
//       (tcp|udp) [from [ports P] [tag T] [cidr C]] [to [ports P] [tag T] [cidr C]]
//     | (icmp|icmpv6) [type T [code C]] [from [tag T] [cidr C]] [to [tag T] [cidr C]]
//     | [from [tag T] [cidr C]] [to [tag T] [cidr C]] ]
//
// A tag T is the label `T: ""`, so `from tag T` becomes the selector `has(T)`.
import type { EntityRule, Port, Rule } from '@calico/libcalico/resources/spec';
import { netField, parsePort } from '@calico/libcalico/resources/fields';
import { checkLabelKey } from '@calico/libcalico/resources/names';
import { CliError } from './errors.js';

export type Direction = 'inbound' | 'outbound';

export interface RuleArgs {
  direction: Direction;
  /** 1-based position (0 = top; negative counts from the end: -1 = last) */
  at?: number;
  /** absent for `rule remove … --at=N` */
  rule?: Rule;
}

class Words {
  private i = 0;
  constructor(private readonly words: string[]) {}
  peek(): string | undefined {
    return this.words[this.i];
  }
  next(what: string): string {
    const w = this.words[this.i];
    if (w === undefined) throw new CliError(`rule: ${what} expected at the end of the rule`);
    this.i++;
    return w;
  }
  take(word: string): boolean {
    if (this.words[this.i] !== word) return false;
    this.i++;
    return true;
  }
  done(): boolean {
    return this.i >= this.words.length;
  }
  /** error for the current word, saying what could come there instead */
  unexpected(expected: string): CliError {
    return new CliError(`rule: unexpected ${JSON.stringify(this.words[this.i])} (word ${this.i + 1}); expected ${expected}`);
  }
}

function int(text: string, what: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text)) throw new CliError(`rule: ${what} ${JSON.stringify(text)} is not a number`);
  const n = Number(text);
  if (n < min || n > max) throw new CliError(`rule: ${what} ${n} is out of range ${min}..${max}`);
  return n;
}

/** "80", "1,2", "1000:2000" → [80, 443], [1, 2], ["1000:2000"] */
export function parsePorts(text: string, field: string): Port[] {
  return text.split(',').map((p) => ruleField(() => parsePort(p, field)));
}

/** Run a libcalico field parser, reporting its ValidationError as a rule error. */
function ruleField<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new CliError(`rule: ${(e as Error).message}`);
  }
}

function entity(w: Words, side: 'from' | 'to', portsAllowed: boolean): EntityRule {
  const e: EntityRule = {};
  if (w.peek() === 'ports') {
    if (!portsAllowed) throw new CliError(`rule: ${side} ports: ports are only allowed with tcp or udp`);
    w.take('ports');
    e.ports = parsePorts(w.next(`${side} ports: a port list such as 80,443 or 1000:2000`), `${side} ports`);
  }
  if (w.take('tag')) {
    const tag = w.next(`${side} tag: a tag name`);
    e.selector = `has(${ruleField(() => checkLabelKey(tag, `${side} tag`))})`;
  }
  if (w.take('cidr')) {
    const cidr = w.next(`${side} cidr: a CIDR such as 198.18.0.0/16`);
    e.nets = [ruleField(() => netField(cidr, `${side} cidr`))];
  }
  if (!Object.keys(e).length) throw w.done() ? new CliError(`rule: ${side} needs ${portsAllowed ? 'ports, ' : ''}tag or cidr`) : w.unexpected(`${portsAllowed ? 'ports, ' : ''}tag or cidr after ${side}`);
  return e;
}

function endpoints(w: Words, rule: Rule, portsAllowed: boolean): void {
  if (w.take('from')) rule.source = entity(w, 'from', portsAllowed);
  if (w.take('to')) rule.destination = entity(w, 'to', portsAllowed);
}

/** Parse the rule spec that follows the direction: `allow tcp from tag web to ports 80`. */
export function parseRuleSpec(words: string[]): Rule {
  const w = new Words(words);
  const action = w.next('allow or deny');
  if (action !== 'allow' && action !== 'deny') throw new CliError(`rule: expected allow or deny, got ${JSON.stringify(action)}`);
  const rule: Rule = { action: action === 'allow' ? 'Allow' : 'Deny' };
  const proto = w.peek();
  if (proto === 'tcp' || proto === 'udp') {
    w.take(proto);
    rule.protocol = proto === 'tcp' ? 'TCP' : 'UDP';
    endpoints(w, rule, true);
  } else if (proto === 'icmp' || proto === 'icmpv6') {
    w.take(proto);
    rule.protocol = proto === 'icmp' ? 'ICMP' : 'ICMPv6';
    if (w.take('type')) {
      rule.icmp = { type: int(w.next('icmp type'), 'icmp type', 0, 254) };
      if (w.take('code')) rule.icmp.code = int(w.next('icmp code'), 'icmp code', 0, 255);
    }
    endpoints(w, rule, false);
  } else {
    endpoints(w, rule, false);
  }
  if (!w.done()) {
    const word = w.peek()!;
    if (['ports', 'tag', 'cidr'].includes(word)) {
      throw new CliError(`rule: ${JSON.stringify(word)} is out of place: the order is from|to, then ports, tag, cidr (ports only with tcp/udp)`);
    }
    if (word === 'from' && rule.destination) throw new CliError('rule: "from" must come before "to"');
    if (['tcp', 'udp', 'icmp', 'icmpv6'].includes(word)) throw new CliError(`rule: the protocol (${word}) must come right after allow/deny`);
    throw w.unexpected(rule.destination ? 'nothing more' : rule.source ? '"to"' : 'a protocol, "from" or "to"');
  }
  return rule;
}

/** Parse everything after `rule add` / `rule remove`. */
export function parseRuleArgs(args: string[], mode: 'add' | 'remove'): RuleArgs {
  const words: string[] = [];
  let at: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^--at(?:=(.*))?$/.exec(a);
    if (!m) {
      words.push(a);
      continue;
    }
    const v = m[1] ?? args[++i];
    if (v === undefined) throw new CliError('rule: --at needs a position');
    at = int(v, '--at position', -1_000_000, 1_000_000);
  }
  const direction = words.shift();
  if (direction !== 'inbound' && direction !== 'outbound') {
    throw new CliError(`rule: expected inbound or outbound, got ${direction === undefined ? 'nothing' : JSON.stringify(direction)}`);
  }
  if (mode === 'remove' && at !== undefined) {
    if (words.length) throw new CliError('rule remove: give either --at=N or a rule, not both');
    if (at === 0) throw new CliError('rule remove: --at counts from 1 (as `rule show` numbers rules)');
    return { direction, at };
  }
  return { direction, at, rule: parseRuleSpec(words) };
}

/** Index to insert at for `--at` (1-based; 0 = top; negative from the end; past the end appends). */
export function insertIndex(at: number | undefined, length: number): number {
  if (at === undefined) return length;
  if (at <= 0) return at === 0 ? 0 : Math.max(0, length + 1 + at);
  return Math.min(at - 1, length);
}

/** Index of the rule `--at` names for removal, or an error if there is none. */
export function removeIndex(at: number, length: number, direction: Direction): number {
  const i = at > 0 ? at - 1 : length + at;
  if (i < 0 || i >= length) throw new CliError(`rule remove: there is no ${direction} rule at position ${at} (there are ${length})`);
  return i;
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

export function sameRule(a: Rule, b: Rule): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function entityText(e: EntityRule | undefined, word: string): string[] {
  if (!e) return [];
  const out: string[] = [];
  const tag = (sel: string): string | undefined => /^has\(([^()\s]+)\)$/.exec(sel.trim())?.[1];
  if (e.ports?.length) out.push('ports', e.ports.join(','));
  if (e.notPorts?.length) out.push('!ports', e.notPorts.join(','));
  if (e.selector) out.push(...(tag(e.selector) ? ['tag', tag(e.selector)!] : ['selector', JSON.stringify(e.selector)]));
  if (e.notSelector) out.push('!selector', JSON.stringify(e.notSelector));
  for (const n of e.nets ?? []) out.push('cidr', n);
  for (const n of e.notNets ?? []) out.push('!cidr', n);
  if (e.namespaceSelector) out.push('namespaceSelector', JSON.stringify(e.namespaceSelector));
  return out.length ? [word, ...out] : [];
}

/** One rule in the old calicoctl format: `allow tcp from ports 1,2 tag X cidr Y to ports 80`. */
export function ruleText(r: Rule): string {
  const out: string[] = [r.action.toLowerCase()];
  if (r.protocol !== undefined) out.push(String(r.protocol).toLowerCase());
  if (r.notProtocol !== undefined) out.push('!protocol', String(r.notProtocol).toLowerCase());
  if (r.icmp?.type !== undefined) out.push('type', String(r.icmp.type), ...(r.icmp.code !== undefined ? ['code', String(r.icmp.code)] : []));
  if (r.notICMP?.type !== undefined) out.push('!type', String(r.notICMP.type), ...(r.notICMP.code !== undefined ? ['!code', String(r.notICMP.code)] : []));
  out.push(...entityText(r.source, 'from'), ...entityText(r.destination, 'to'));
  if (r.ipVersion) out.push(`(IPv${r.ipVersion} only)`);
  return out.join(' ');
}

/** Numbered rule lines, as `rule show` prints them under each heading. */
export function ruleLines(rules: Rule[] | undefined): string[] {
  return (rules ?? []).map((r, i) => `${String(i + 1).padStart(4)} ${ruleText(r)}`);
}
