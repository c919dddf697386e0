import { CHAINS, hex, type IpVersion, type Marks } from '../names.js';
import { rule, type Chain, type IptRule } from './types.js';

export interface StaticConfig {
  interfacePrefix: string;
  defaultEndpointToHostAction: 'Drop' | 'Return' | 'Accept';
  marks: Marks;
  /** some programmed egress policy or profile has a Log rule (see staticFilterChains) */
  egressLogs: boolean;
}

/** ICMPv6 types a workload needs to reach its host: MLD 130-132, router solicitation 133, neighbour solicitation/advert 135/136. */
const ND_TYPES = [130, 131, 132, 133, 135, 136];

/**
 * The fixed filter chains (calico.md §2.2) and the hooks that lead into them.
 *
 * `cali-wl-to-host` (a workload's packets to its host) runs the workload's
 * egress policy and then DefaultEndpointToHostAction, as Calico does, with
 * one exception: under Drop, when no egress rule logs, the policy cannot
 * change the verdict, so the chain goes straight to it. Only what the
 * endpoint chain would accept before any policy stays accepted: the
 * packets of connections the host opened (RELATED,ESTABLISHED). This keeps
 * the from-workload dispatch, which grows with the endpoints, off the INPUT
 * hook, and nf_tables re-validates it once per hook on every commit
 * (README: felix-incremental). What is lost: the endpoint chains' packet
 * counters do not count host-bound packets.
 */
export function staticFilterChains(v: IpVersion, c: StaticConfig): Chain[] {
  const wl = `${c.interfacePrefix}+`;
  const accept = `${hex(c.marks.accept)}/${hex(c.marks.accept)}`;
  const toHost: IptRule[] = [];
  if (v === 6) for (const t of ND_TYPES) toHost.push(rule(`-p ipv6-icmp -m icmp6 --icmpv6-type ${t}`, '-j ACCEPT'));
  if (c.defaultEndpointToHostAction === 'Drop' && !c.egressLogs) toHost.push(rule('-m conntrack --ctstate RELATED,ESTABLISHED', '-j ACCEPT'));
  else toHost.push(rule('', `-j ${CHAINS.fromWlDispatch}`));
  toHost.push(rule('', `-j ${c.defaultEndpointToHostAction.toUpperCase()}`));
  return [
    { name: CHAINS.input, rules: [rule(`-i ${wl}`, `-g ${CHAINS.wlToHost}`)] },
    { name: CHAINS.wlToHost, rules: toHost },
    {
      name: CHAINS.forward,
      rules: [
        rule('', `-j MARK --set-xmark 0x0/${hex(c.marks.mask)}`),
        rule(`-i ${wl}`, `-j ${CHAINS.fromWlDispatch}`),
        rule(`-o ${wl}`, `-j ${CHAINS.toWlDispatch}`),
        rule(`-m mark --mark ${accept}`, '-j ACCEPT'),
      ],
    },
    { name: CHAINS.output, rules: [rule(`-m mark --mark ${accept}`, '-j ACCEPT')] },
  ];
}

/**
 * raw table: anti-spoofing. A packet from a workload interface is dropped
 * unless the route back to its source leaves by that interface (strict
 * reverse-path check; felix routes each workload address to its interface),
 * as Calico does for IPv6. Here, rather than a source check in each
 * `cali-fw-` chain, because those rules grow with the endpoints and every
 * commit to the filter table re-validates them (README: iptables layout).
 */
export function staticRawChains(c: Pick<StaticConfig, 'interfacePrefix'>): Chain[] {
  return [{ name: CHAINS.rawPrerouting, rules: [rule(`-i ${c.interfacePrefix}+ -m rpfilter --invert`, '-j DROP')] }];
}

export const FILTER_HOOKS: Record<string, string> = { INPUT: CHAINS.input, FORWARD: CHAINS.forward, OUTPUT: CHAINS.output };
export const RAW_HOOKS: Record<string, string> = { PREROUTING: CHAINS.rawPrerouting };
export const NAT_HOOKS: Record<string, string> = { POSTROUTING: CHAINS.natPostrouting };

/** nat table: POSTROUTING → cali-POSTROUTING → cali-nat-outgoing (masquerade pool → outside all pools). */
export function natChains(masqSet: string | undefined, allPoolsSet: string, natOutgoingAddress: string): Chain[] {
  const target = natOutgoingAddress ? `-j SNAT --to-source ${natOutgoingAddress}` : '-j MASQUERADE';
  return [
    { name: CHAINS.natPostrouting, rules: [rule('', `-j ${CHAINS.natOutgoing}`)] },
    {
      name: CHAINS.natOutgoing,
      rules: masqSet ? [rule(`-m set --match-set ${masqSet} src -m set ! --match-set ${allPoolsSet} dst`, target)] : [],
    },
  ];
}
