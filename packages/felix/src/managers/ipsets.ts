import type { Endpoint } from '../calc/model.js';
import type { DesiredState } from './tables.js';
import type { SetRef } from '../rules/types.js';
import { scopedSelector } from '../rules/policy.js';
import type { Matchers } from '../calc/selectors.js';

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

  retain(ref: SetRef): void {
    const a = this.active.get(ref.id);
    if (a) return void a.count++;
    const family = ref.version === 4 ? 'inet' : 'inet6';
    if (ref.kind === 'nets') {
      this.active.set(ref.id, { ref, count: 1 });
      this.out.ipsets.setIpset(ref.id, 'hash:net', family, ref.nets);
      return;
    }
    const scoped = scopedSelector(ref.selector, ref.namespace);
    const match = this.matchers.get(scoped);
    // The other family's set of the same selector holds the same endpoints:
    // its members spare evaluating the selector on every endpoint again.
    let sibling: Set<string> | undefined;
    for (const a of this.active.values()) if (a.scoped === scoped) sibling = a.members;
    const selects = sibling ? (ep: Endpoint) => sibling.has(ep.key) : (ep: Endpoint, labels: Record<string, string>) => match(labels);
    const members = new Set<string>();
    const ips: string[] = [];
    for (const [ep, labels] of this.endpoints()) {
      if (!selects(ep, labels)) continue;
      members.add(ep.key);
      ips.push(...(ref.version === 4 ? ep.ipv4 : ep.ipv6));
    }
    this.active.set(ref.id, { ref, count: 1, members, match, scoped });
    this.out.ipsets.setIpset(ref.id, 'hash:ip', family, ips);
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
