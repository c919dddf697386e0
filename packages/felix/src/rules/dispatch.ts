import { CHAINS, MAX_CHAIN_NAME } from '../names.js';
import { rule, type Chain } from './types.js';

/** Leaf chains hold at most this many interfaces; bigger groups split on the next character. */
const LEAF_SIZE = 32;

/**
 * The dispatch chains of one direction (from or to workloads), kept from one
 * calculation pass to the next. They form a prefix tree: the root matches
 * `-i <prefix><c>+` per next character and jumps to a child chain
 * `<root>-<c>`, and so on, so that one endpoint coming or going rewrites one
 * small leaf chain, not a rule list as long as the number of endpoints. Every
 * chain ends by dropping packets from an interface we do not know.
 *
 * A subtree covers exactly the interfaces that start with its prefix, so if
 * none of the names changed since the last call starts with it, it is reused
 * as it was (the same Chain objects): one endpoint coming or going costs a
 * walk down one path, with binary searches in the sorted names, not a
 * rebuild of thousands of rules.
 */
export class DispatchTree {
  /** the last call's subtrees, by chain name: the prefix they cover and their chains */
  private built = new Map<string, { prefix: string; chains: Chain[] }>();

  constructor(
    private readonly root: string,
    private readonly dir: '-i' | '-o',
    private readonly target: (ifname: string) => string,
  ) {}

  /**
   * `sorted`: the interface names, sorted and distinct. `changed`: the names
   * added or removed since the last call; without it everything is rebuilt.
   */
  chains(sorted: readonly string[], changed?: ReadonlySet<string>): Chain[] {
    const { root, dir, target } = this;
    // Many changes at once (a resync): checking each subtree against them all costs more than building.
    const reuse = changed && changed.size <= LEAF_SIZE ? [...changed] : undefined;
    const last = reuse ? this.built : new Map<string, { prefix: string; chains: Chain[] }>();
    const built = new Map<string, { prefix: string; chains: Chain[] }>();
    const out: Chain[] = [];
    build(root, '', 0, sorted.length, 0);
    this.built = built;
    return out;

    function build(name: string, prefix: string, lo: number, hi: number, from: number): void {
      const hit = last.get(name);
      if (hit && hit.prefix === prefix && !reuse!.some((n) => n.startsWith(prefix))) {
        for (const c of hit.chains) out.push(c);
        built.set(name, hit);
        return;
      }
      const first = out.length;
      const rules = [];
      if (hi - lo <= LEAF_SIZE || name.length + 2 > MAX_CHAIN_NAME) {
        for (let i = lo; i < hi; i++) rules.push(rule(`${dir} ${sorted[i]}`, `-g ${target(sorted[i]!)}`));
      } else {
        // Group on the first character where the names differ: runs of the sorted list.
        const pos = commonPrefixLength(sorted[lo]!, sorted[hi - 1]!, from);
        for (let i = lo; i < hi; ) {
          const key = sorted[i]!.slice(0, pos + 1);
          // The run of names that start with key; a name that is all key is a run of its own.
          const end = sorted[i]!.length <= key.length ? i + 1 : partitionPoint(sorted, i + 1, hi, (n) => n.startsWith(key));
          if (end - i === 1) rules.push(rule(`${dir} ${sorted[i]}`, `-g ${target(sorted[i]!)}`));
          else {
            const child = `${name}${name === root ? '-' : ''}${key.slice(pos)}`;
            rules.push(rule(`${dir} ${key}+`, `-g ${child}`));
            build(child, key, i, end, pos + 1);
          }
          i = end;
        }
      }
      rules.push(rule('', '-j DROP'));
      out.push({ name, rules });
      built.set(name, { prefix, chains: out.slice(first) });
    }
  }
}

/** Length of the prefix two names share (of a sorted list: its first and last, so all of it), from `from` on. */
function commonPrefixLength(a: string, b: string, from: number): number {
  let pos = from;
  while (pos < a.length && a[pos] === b[pos]) pos++;
  return pos;
}

/**
 * The first index in `sorted[lo, hi)` where `before` stops holding (it holds
 * for a prefix of the range): where a name goes in a sorted list, or where a
 * run of names with one prefix ends.
 */
export function partitionPoint(sorted: readonly string[], lo: number, hi: number, before: (name: string) => boolean): number {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (before(sorted[mid]!)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
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
