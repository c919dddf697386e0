import type { Endpoint } from '../calc/model.js';
import type { DesiredState } from './tables.js';
import type { SetRef } from '../rules/types.js';
import { scopedSelector } from '../rules/policy.js';
import type { Matchers } from '../calc/selectors.js';
import { ipsetFamily } from '../names.js';

interface ActiveSet {
  ref: SetRef;
  count: number;
  /** selector sets: endpoints currently in the set */
  members?: Set<string>;
  match?: (labels: Record<string, string>) => boolean;
  /** selector sets: the selector in its namespace's scope */
  scoped?: string;
}

/**
 * IP sets referenced by rendered rules. A set exists while at least one
 * rendered chain refers to it. Selector sets follow endpoints (on every node)
 * as they come, go and change labels; net sets hold a fixed list.
 */
export class IpsetManager {
  private readonly active = new Map<string, ActiveSet>();

  constructor(
    private readonly out: DesiredState,
    private readonly matchers: Matchers,
    /** all known endpoints with their effective labels */
    private readonly endpoints: () => Iterable<[Endpoint, Record<string, string>]>,
  ) {}

  /** selector sets retained since the last finish(), which fills them */
  private pending: ActiveSet[] = [];

  retain(ref: SetRef): void {
    const a = this.active.get(ref.id);
    if (a) return void a.count++;
    if (ref.kind === 'nets') {
      this.active.set(ref.id, { ref, count: 1 });
      this.out.ipsets.setIpset(ref.id, 'hash:net', ipsetFamily(ref.version), ref.nets);
      return;
    }
    const scoped = scopedSelector(ref.selector, ref.namespace);
    const set: ActiveSet = { ref, count: 1, members: new Set(), match: this.matchers.get(scoped), scoped };
    this.active.set(ref.id, set);
    this.pending.push(set);
  }

  /**
   * Fill the selector sets retained since the last call, in one pass over
   * all endpoints: a cold start retains two sets (one per family) for every
   * selector in a rule, so a pass per set would walk all endpoints 2×S times.
   * Each selector is evaluated once per endpoint for both its sets, or not at
   * all when a set of the same selector is already filled (its members are
   * the answer). Called at the end of every calculation pass, before the
   * dataplane is written.
   */
  finish(): void {
    const todo = new Set(this.pending.filter((a) => this.active.get(a.ref.id) === a));
    this.pending = [];
    if (!todo.size) return;
    // Per selector: how to tell its endpoints, and its new sets with the addresses they get.
    const groups = new Map<string, { selects: (key: string, labels: Record<string, string>) => boolean; sets: { set: ActiveSet; ips: string[] }[] }>();
    for (const a of todo) {
      let g = groups.get(a.scoped!);
      if (!g) {
        let filled: Set<string> | undefined;
        for (const o of this.active.values()) if (o.scoped === a.scoped && !todo.has(o)) filled = o.members;
        const match = a.match!;
        g = { selects: filled ? (key) => filled.has(key) : (_key, labels) => match(labels), sets: [] };
        groups.set(a.scoped!, g);
      }
      g.sets.push({ set: a, ips: [] });
    }
    for (const [ep, labels] of this.endpoints()) {
      for (const g of groups.values()) {
        if (!g.selects(ep.key, labels)) continue;
        for (const { set, ips } of g.sets) {
          set.members!.add(ep.key);
          ips.push(...(set.ref.version === 4 ? ep.ipv4 : ep.ipv6));
        }
      }
    }
    for (const g of groups.values()) for (const { set, ips } of g.sets) this.out.ipsets.setIpset(set.ref.id, 'hash:ip', ipsetFamily(set.ref.version), ips);
  }

  release(id: string): void {
    const a = this.active.get(id);
    if (!a || --a.count > 0) return;
    this.active.delete(id);
    this.out.ipsets.removeIpset(id);
  }

  /** An endpoint appeared, changed or went away (`now` undefined). */
  onEndpoint(key: string, before: Endpoint | undefined, now: Endpoint | undefined, labels: Record<string, string> | undefined): void {
    for (const [id, a] of this.active) {
      if (!a.members) continue;
      const v = a.ref.version;
      const was = a.members.has(key);
      const is = !!now && !!labels && a.match!(labels);
      const oldIps = was && before ? (v === 4 ? before.ipv4 : before.ipv6) : [];
      const newIps = is && now ? (v === 4 ? now.ipv4 : now.ipv6) : [];
      for (const ip of oldIps) if (!newIps.includes(ip)) this.out.ipsets.removeMember(id, ip);
      for (const ip of newIps) if (!oldIps.includes(ip)) this.out.ipsets.addMember(id, ip);
      if (is) a.members.add(key);
      else a.members.delete(key);
    }
  }
}
