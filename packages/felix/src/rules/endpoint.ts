import { fromWorkloadChain, hex, policyInChain, policyOutChain, profileInChain, profileOutChain, toWorkloadChain, type Marks } from '../names.js';
import { rule, type Chain, type IptRule } from './types.js';

/** The policies (chain ids, in order, per direction) and profiles of an endpoint: endpoints with equal ones can share chains. */
export interface EndpointPolicies {
  ingressPolicies: string[];
  egressPolicies: string[];
  profiles: string[];
}

/** The names of one shared pair of endpoint body chains. */
export interface BodyChains {
  tw: string;
  fw: string;
}

/**
 * `cali-tw-<if>` (to the workload: ingress) and `cali-fw-<if>` (from it:
 * egress): the endpoint's own chains, with its packet counters, that go to
 * the body chains every endpoint with the same policies and profiles shares
 * (bodyChains). Calico writes the body into each endpoint's chains;
 * nf_tables re-validates every reachable rule on each commit, once per
 * chain, so sharing the body keeps that cost at a rule per chain (README:
 * felix-incremental). Anti-spoofing is the raw table's reverse-path check
 * (staticRawChains).
 */
export function endpointChains(ifname: string, body: BodyChains): Chain[] {
  return [
    { name: toWorkloadChain(ifname), rules: [sharedRule('', `-g ${body.tw}`)] },
    { name: fromWorkloadChain(ifname), rules: [sharedRule('', `-g ${body.fw}`)] },
  ];
}

/**
 * The body chain pair for one EndpointPolicies, Calico's endpoint chain body:
 *   accept RELATED,ESTABLISHED; drop INVALID; clear the accept mark
 *   policies in order (each may accept, deny, or pass to the profiles);
 *   drop if no policy passed the packet on
 *   profiles in order; drop if no profile accepted
 * Reached from the endpoint chains (per-endpoint layout) or from the group
 * dispatch (shared layout, where the dispatch checks source addresses
 * against the workload address set instead).
 */
export function bodyChains(names: BodyChains, p: EndpointPolicies, marks: Marks): Chain[] {
  return [
    { name: names.tw, rules: body(p.ingressPolicies.map(policyInChain), p.profiles.map(profileInChain), marks) },
    { name: names.fw, rules: body(p.egressPolicies.map(policyOutChain), p.profiles.map(profileOutChain), marks) },
  ];
}

/**
 * Rules that are the same in every endpoint chain are built once and shared
 * (IptRule objects are never mutated): with thousands of endpoints this saves
 * tens of MB of identical strings.
 */
const shared = new Map<string, IptRule>();
function sharedRule(match: string, action: string): IptRule {
  const key = `${match}\t${action}`;
  let r = shared.get(key);
  if (!r) shared.set(key, (r = rule(match, action)));
  return r;
}

function body(policyChains: string[], profileChains: string[], marks: Marks): IptRule[] {
  const accept = `${hex(marks.accept)}/${hex(marks.accept)}`;
  const passClear = `0x0/${hex(marks.pass)}`;
  const returnIfAccepted = sharedRule(`-m mark --mark ${accept}`, '-j RETURN');
  const rules: IptRule[] = [
    sharedRule('-m conntrack --ctstate RELATED,ESTABLISHED', '-j ACCEPT'),
    sharedRule('-m conntrack --ctstate INVALID', '-j DROP'),
    sharedRule('', `-j MARK --set-xmark 0x0/${hex(marks.accept)}`),
  ];
  if (policyChains.length) {
    rules.push(sharedRule('', `-j MARK --set-xmark ${passClear}`));
    for (const c of policyChains) rules.push(sharedRule(`-m mark --mark ${passClear}`, `-j ${c}`), returnIfAccepted);
    rules.push(sharedRule(`-m mark --mark ${passClear}`, '-j DROP'));
  }
  for (const c of profileChains) rules.push(sharedRule('', `-j ${c}`), returnIfAccepted);
  rules.push(sharedRule('', '-j DROP'));
  return rules;
}
