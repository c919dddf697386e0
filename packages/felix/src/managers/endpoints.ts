import { hostCidr } from '@calico/libcalico/net';
import { CHAINS, chainName, fromWorkloadChain, hashedSetId, ipsetFamily, ipsetName, toWorkloadChain, WORKLOAD_ADDRS_SET, type IpVersion, type Marks } from '../names.js';
import { DispatchTree, groupDispatchChains, partitionPoint } from '../rules/dispatch.js';
import { bodyChains, endpointChains, type EndpointPolicies } from '../rules/endpoint.js';
import type { Chain } from '../rules/types.js';
import type { Endpoint, Policy, Profile } from '../calc/model.js';
import type { PolicyManager } from './policies.js';
import type { DesiredState } from './tables.js';

interface Programmed {
  ifname: string;
  policies: string[];
  profiles: string[];
  routes: string[];
  sysctls: string[];
  /** the key of the endpoint's group (its EndpointPolicies) */
  group: string;
  /** shared mode: the endpoint's `<ip>,<if>` members of the workload address set, per version */
  addrs?: Record<IpVersion, string[]>;
}

/** One body chain pair for all endpoints with the same policies and profiles. */
interface Group {
  refs: number;
  tw: string;
  fw: string;
  /** shared mode: the interfaces of its endpoints (`0.0.0.0/0,<if>`), one set per IP version */
  sets?: Record<IpVersion, string>;
}

/** Per-interface kernel settings for a workload interface (Felix's configureInterface). */
function interfaceSysctls(ep: Endpoint, ipv6: boolean): [string, string][] {
  const i = ep.ifname;
  const out: [string, string][] = [
    [`net/ipv4/conf/${i}/rp_filter`, '1'],
    [`net/ipv4/conf/${i}/proxy_arp`, '1'],
    [`net/ipv4/neigh/${i}/proxy_delay`, '0'],
  ];
  if (ipv6 && ep.ipv6.length) out.push([`net/ipv6/conf/${i}/proxy_ndp`, '1'], [`net/ipv6/conf/${i}/forwarding`, '1']);
  return out;
}

const ANY: Record<IpVersion, string> = { 4: '0.0.0.0/0', 6: '::/0' };

/**
 * Local workload endpoints: their endpoint chains, the dispatch chains that
 * lead to them, the /32 and /128 routes to their interface and the
 * interface's sysctls. Refers policies and profiles through PolicyManager.
 *
 * Endpoints with the same policies and profiles (a group) share one pair
 * of body chains (Calico writes the body into every endpoint's chains; the
 * kernel re-validates all of it on each commit, README: iptables layout).
 * Two layouts lead to them. Per endpoint (the default, Calico's chain names):
 * `cali-tw-<if>` / `cali-fw-<if>` for each interface, reached through a prefix
 * tree of dispatch chains, go to the group's body (anti-spoofing is the raw
 * table's reverse-path check, for both layouts). Shared
 * (FELIX_SHAREDENDPOINTCHAINS): the dispatch reaches the body through an
 * ipset of the group's interfaces, checking the source against an ipset of
 * `<ip>,<if>` pairs as well; an endpoint that joins an existing group then changes
 * ipset members only, and the ruleset the kernel re-validates on every commit
 * stops growing with the number of endpoints (README: felix-incremental).
 */
export class EndpointManager {
  private readonly programmed = new Map<string, Programmed>();
  private readonly groups = new Map<string, Group>();
  private dispatchDirty = true;
  private dispatchNames = new Set<string>();
  // Per endpoint: the local interface names, distinct, with how many
  // endpoints use each, and those added or removed since the last dispatch.
  // Kept sorted, but a name that does not go at the end is appended and the
  // list sorted when next needed: a cold start's thousands of names then cost
  // one sort, not an insertion each (quadratic: ~17 ms at 5,000, ~70 at 10,000).
  private readonly ifnames: string[] = [];
  private ifnamesSorted = true;
  private readonly ifnameUsers = new Map<string, number>();
  private readonly ifnamesChanged = new Set<string>();
  private readonly dispatchTrees = {
    from: new DispatchTree(CHAINS.fromWlDispatch, '-i', fromWorkloadChain),
    to: new DispatchTree(CHAINS.toWlDispatch, '-o', toWorkloadChain),
  };

  constructor(
    private readonly out: DesiredState,
    private readonly policies: PolicyManager,
    private readonly marks: Marks,
    private readonly shared = false,
  ) {
    if (shared) for (const v of out.versions) out.ipsets.setIpset(ipsetName(v, WORKLOAD_ADDRS_SET), 'hash:net,iface', ipsetFamily(v), []);
  }

  get count(): number {
    return this.programmed.size;
  }

  /**
   * Declare the interface settings of endpoints about to be programmed, ahead
   * of the calculation (see Dataplane.startSysctls).
   */
  presetSysctls(eps: Iterable<Endpoint>): void {
    for (const ep of eps) for (const [k, val] of interfaceSysctls(ep, this.out.versions.includes(6))) this.out.sysctls.set(k, val);
  }

  /** Program (or re-program) a local endpoint with the policies that select it, in order. */
  update(ep: Endpoint, ingress: Policy[], egress: Policy[], profile: (name: string) => Profile | undefined): void {
    const old = this.programmed.get(ep.key);
    const policyIds = [...new Set([...ingress, ...egress].map((p) => p.id))];
    const byId = new Map([...ingress, ...egress].map((p) => [p.id, p]));
    // Retain new references before releasing old ones, so shared chains are not re-rendered.
    for (const id of policyIds) this.policies.retain('policy', id, byId.get(id));
    for (const name of ep.profiles) this.policies.retain('profile', name, profile(name));
    if (old) this.releaseRefs(old);

    const pols: EndpointPolicies = { ingressPolicies: ingress.map((p) => p.id), egressPolicies: egress.map((p) => p.id), profiles: ep.profiles };
    const now: Programmed = { ifname: ep.ifname, policies: policyIds, profiles: ep.profiles, routes: [], sysctls: [], group: JSON.stringify(pols) };
    if (this.shared) {
      now.addrs = { 4: [], 6: [] };
      for (const v of this.out.versions) now.addrs[v] = (v === 4 ? ep.ipv4 : ep.ipv6).map((a) => `${hostCidr(a)},${ep.ifname}`);
      // Join before leaving: a group the endpoint stays in is never torn down and rebuilt.
      if (old?.group !== now.group || old.ifname !== ep.ifname) this.joinGroup(now.group, pols, ep.ifname);
      for (const v of this.out.versions) for (const m of now.addrs[v]) this.out.ipsets.addMember(ipsetName(v, WORKLOAD_ADDRS_SET), m);
    } else {
      // Retained before the old group is released, as above.
      const body = this.retainGroup(now.group, pols);
      const chains = endpointChains(ep.ifname, body);
      for (const v of this.out.versions) for (const c of chains) this.out.filter[v].setChain(c.name, c.rules);
    }
    now.routes = ep.nets.filter((n) => this.out.versions.includes(n.includes(':') ? 6 : 4));
    for (const dst of now.routes) this.out.routes.setRoute(dst, ep.ifname);
    const sysctls = interfaceSysctls(ep, this.out.versions.includes(6));
    for (const [k, val] of sysctls) this.out.sysctls.set(k, val);
    now.sysctls = sysctls.map(([k]) => k);

    if (old) {
      if (this.shared) {
        if (old.group !== now.group || old.ifname !== ep.ifname) this.leaveGroup(old.group, old.ifname);
        for (const v of this.out.versions) {
          for (const m of old.addrs![v]) if (!now.addrs![v].includes(m)) this.out.ipsets.removeMember(ipsetName(v, WORKLOAD_ADDRS_SET), m);
        }
      } else {
        if (old.ifname !== ep.ifname) this.removeChains(old.ifname);
        this.releaseGroup(old.group);
      }
      for (const dst of old.routes) if (!now.routes.includes(dst) || old.ifname !== ep.ifname) this.out.routes.removeRoute(dst);
      if (old.ifname !== ep.ifname) for (const dst of now.routes) this.out.routes.setRoute(dst, ep.ifname);
      for (const k of old.sysctls) if (!now.sysctls.includes(k)) this.out.sysctls.remove(k);
    }
    if (!this.shared && (!old || old.ifname !== ep.ifname)) {
      this.useIfname(ep.ifname);
      if (old) this.dropIfname(old.ifname);
    }
    this.programmed.set(ep.key, now);
  }

  /**
   * A workload interface was deleted (the kernel dropped its routes and
   * sysctls) or made anew (they are due again). Returns true if an endpoint
   * of ours uses it.
   */
  interfaceChanged(ifname: string, gone: boolean): boolean {
    let ours = false;
    for (const p of this.programmed.values()) {
      if (p.ifname !== ifname) continue;
      ours = true;
      for (const dst of p.routes) this.out.routes.forget(dst, !gone);
      for (const key of p.sysctls) this.out.sysctls.forget(key, !gone);
    }
    return ours;
  }

  remove(key: string): void {
    const old = this.programmed.get(key);
    if (!old) return;
    this.programmed.delete(key);
    if (this.shared) {
      this.leaveGroup(old.group, old.ifname);
      for (const v of this.out.versions) for (const m of old.addrs![v]) this.out.ipsets.removeMember(ipsetName(v, WORKLOAD_ADDRS_SET), m);
    } else {
      this.removeChains(old.ifname);
      this.releaseGroup(old.group);
      this.dropIfname(old.ifname);
    }
    for (const dst of old.routes) this.out.routes.removeRoute(dst);
    for (const k of old.sysctls) this.out.sysctls.remove(k);
    this.releaseRefs(old);
  }

  private releaseRefs(p: Programmed): void {
    for (const id of p.policies) this.policies.release('policy', id);
    for (const name of p.profiles) this.policies.release('profile', name);
  }

  private removeChains(ifname: string): void {
    for (const v of this.out.versions) {
      this.out.filter[v].removeChain(toWorkloadChain(ifname));
      this.out.filter[v].removeChain(fromWorkloadChain(ifname));
    }
  }

  /** Take a reference on a group's body chains (and, shared, its interface sets), made on first use. */
  private retainGroup(key: string, pols: EndpointPolicies): Group {
    let g = this.groups.get(key);
    if (!g) {
      const id = hashedSetId('g', key);
      g = { refs: 0, tw: chainName('cali-tw-', id), fw: chainName('cali-fw-', id) };
      if (this.shared) g.sets = { 4: ipsetName(4, id), 6: ipsetName(6, id) };
      this.groups.set(key, g);
      // The same for both families: built once (and so hashed once, see desiredChain).
      const body = bodyChains(g, pols, this.marks);
      for (const v of this.out.versions) {
        if (g.sets) this.out.ipsets.setIpset(g.sets[v], 'hash:net,iface', ipsetFamily(v), []);
        for (const c of body) this.out.filter[v].setChain(c.name, c.rules);
      }
      // Shared: the dispatch has a rule per group.
      if (this.shared) this.dispatchDirty = true;
    }
    g.refs++;
    return g;
  }

  private releaseGroup(key: string): void {
    const g = this.groups.get(key)!;
    if (--g.refs > 0) return;
    this.groups.delete(key);
    for (const v of this.out.versions) {
      this.out.filter[v].removeChain(g.tw);
      this.out.filter[v].removeChain(g.fw);
      if (g.sets) this.out.ipsets.removeIpset(g.sets[v]);
    }
    if (this.shared) this.dispatchDirty = true;
  }

  private joinGroup(key: string, pols: EndpointPolicies, ifname: string): void {
    const g = this.retainGroup(key, pols);
    for (const v of this.out.versions) this.out.ipsets.addMember(g.sets![v], `${ANY[v]},${ifname}`);
  }

  private leaveGroup(key: string, ifname: string): void {
    const g = this.groups.get(key)!;
    for (const v of this.out.versions) this.out.ipsets.removeMember(g.sets![v], `${ANY[v]},${ifname}`);
    this.releaseGroup(key);
  }

  /** Rebuild the dispatch chains if the set of local interfaces (or, shared, of groups) changed. */
  finish(force = false): void {
    if (!this.dispatchDirty && !force) return;
    this.dispatchDirty = false;
    // Per endpoint, both families have the same dispatch chains: built once.
    const perEndpoint = this.shared ? undefined : this.interfaceDispatch(force);
    for (const v of this.out.versions) this.writeDispatch(v, perEndpoint ?? this.groupDispatch(v));
  }

  /** Both directions' interface dispatch chains; `all`: rebuilt whole, not from the changes since the last call. */
  private interfaceDispatch(all: boolean): Chain[] {
    const changed = all ? undefined : this.ifnamesChanged;
    const names = this.sortedIfnames();
    const chains = [...this.dispatchTrees.from.chains(names, changed), ...this.dispatchTrees.to.chains(names, changed)];
    this.ifnamesChanged.clear();
    return chains;
  }

  private sortedIfnames(): string[] {
    if (!this.ifnamesSorted) (this.ifnames.sort(), (this.ifnamesSorted = true));
    return this.ifnames;
  }

  private useIfname(name: string): void {
    const n = this.ifnameUsers.get(name) ?? 0;
    this.ifnameUsers.set(name, n + 1);
    if (n > 0) return;
    const last = this.ifnames[this.ifnames.length - 1];
    this.ifnames.push(name);
    if (last !== undefined && last > name) this.ifnamesSorted = false;
    this.ifnamesChanged.add(name);
    this.dispatchDirty = true;
  }

  private dropIfname(name: string): void {
    const n = this.ifnameUsers.get(name)!;
    if (n > 1) return void this.ifnameUsers.set(name, n - 1);
    this.ifnameUsers.delete(name);
    const names = this.sortedIfnames();
    names.splice(partitionPoint(names, 0, names.length, (n) => n < name), 1);
    this.ifnamesChanged.add(name);
    this.dispatchDirty = true;
  }

  private groupDispatch(v: IpVersion): Chain[] {
    const groups = [...this.groups.values()].sort((a, b) => (a.fw < b.fw ? -1 : 1)).map((g) => ({ set: g.sets![v], tw: g.tw, fw: g.fw }));
    return groupDispatchChains(groups, ipsetName(v, WORKLOAD_ADDRS_SET));
  }

  private writeDispatch(v: IpVersion, chains: Chain[]): void {
    const names = new Set(chains.map((c) => c.name));
    for (const c of chains) this.out.filter[v].setChain(c.name, c.rules);
    for (const n of this.dispatchNames) if (!names.has(n)) this.out.filter[v].removeChain(n);
    if (v === this.out.versions[this.out.versions.length - 1]) this.dispatchNames = names;
  }
}
