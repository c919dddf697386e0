import { CHAINS, MAX_CHAIN_NAME } from '../names.js';
import { rule, type Chain } from './types.js';

/** Leaf chains hold at most this many interfaces; bigger groups split on the next character. */
const LEAF_SIZE = 32;

/** Subtrees built by an earlier call, by chain name, with the interfaces they were built for. */
export type DispatchMemo = Map<string, { names: string[]; chains: Chain[] }>;

/**
 * The dispatch chain from (or to) workloads as a prefix tree: the root
 * matches `-i <prefix><c>+` per next character and jumps to a child chain
 * `<root>-<c>`, and so on, so that one endpoint coming or going rewrites
 * one small leaf chain, not a rule list as long as the number of endpoints.
 * Every chain ends by dropping packets from an interface we do not know.
 * With a memo, a subtree whose interfaces are unchanged since the last call
 * is reused as it was (the same Chain objects), so one endpoint coming or
 * going costs a walk down one path, not a rebuild of thousands of rules.
 */
export function dispatchChains(root: string, ifnames: string[], dir: '-i' | '-o', target: (ifname: string) => string, memo?: DispatchMemo): Chain[] {
  const out: Chain[] = [];
  const built: DispatchMemo = new Map();
  build(root, [...ifnames].sort(), 0);
  if (memo) {
    memo.clear();
    for (const [k, v] of built) memo.set(k, v);
  }
  return out;

  function build(name: string, names: string[], from: number): void {
    const hit = memo?.get(name);
    if (hit && hit.names.length === names.length && hit.names.every((n, i) => n === names[i])) {
      for (const c of hit.chains) out.push(c);
      built.set(name, hit);
      return;
    }
    const first = out.length;
    const rules = [];
    if (names.length <= LEAF_SIZE || name.length + 2 > MAX_CHAIN_NAME) {
      for (const n of names) rules.push(rule(`${dir} ${n}`, `-g ${target(n)}`));
    } else {
      // Group on the first character where the names differ.
      const pos = commonPrefixLength(names, from);
      const groups = new Map<string, string[]>();
      for (const n of names) {
        const key = n.slice(0, pos + 1);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(n);
      }
      for (const [key, members] of groups) {
        if (members.length === 1) {
          rules.push(rule(`${dir} ${members[0]}`, `-g ${target(members[0]!)}`));
          continue;
        }
        const child = `${name}${name === root ? '-' : ''}${key.slice(pos)}`;
        rules.push(rule(`${dir} ${key}+`, `-g ${child}`));
        build(child, members, pos + 1);
      }
    }
    rules.push(rule('', '-j DROP'));
    out.push({ name, rules });
    if (memo) built.set(name, { names, chains: out.slice(first) });
  }
}

/** One shared chain pair and the set of interfaces (`0.0.0.0/0,<if>` members) that use it. */
export interface DispatchGroup {
  set: string;
  tw: string;
  fw: string;
}

/**
 * Shared mode's dispatch chains: one rule per group, not per endpoint, so an
 * endpoint coming or going changes ipset members only. From workloads, a
 * source that is not one of the interface's own addresses (the `addrs` set of
 * `<ip>,<if>` pairs) is dropped first. Established traffic of a known endpoint
 * is accepted before the groups, as the first rule of its endpoint chain would
 * (Calico's order: anti-spoofing, then RELATED,ESTABLISHED), so that only a
 * flow's first packets walk the list of groups.
 */
export function groupDispatchChains(groups: DispatchGroup[], addrs: string): Chain[] {
  const established = '-m conntrack --ctstate RELATED,ESTABLISHED';
  return [
    {
      name: CHAINS.fromWlDispatch,
      rules: [
        rule(`-m set ! --match-set ${addrs} src,src`, '-j DROP'),
        rule(established, '-j ACCEPT'),
        ...groups.map((g) => rule(`-m set --match-set ${g.set} src,src`, `-g ${g.fw}`)),
        rule('', '-j DROP'),
      ],
    },
    {
      name: CHAINS.toWlDispatch,
      rules: [
        rule(`-m set --match-set ${addrs} dst,dst ${established}`, '-j ACCEPT'),
        ...groups.map((g) => rule(`-m set --match-set ${g.set} dst,dst`, `-g ${g.tw}`)),
        rule('', '-j DROP'),
      ],
    },
  ];
}

/** Length of the prefix all names share, starting the search at `from`. */
function commonPrefixLength(names: string[], from: number): number {
  let pos = from;
  const first = names[0]!;
  for (;;) {
    const c = first[pos];
    if (c === undefined || names.some((n) => n[pos] !== c)) return pos;
    pos++;
  }
}
