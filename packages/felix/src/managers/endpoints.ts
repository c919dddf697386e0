import { CHAINS, fromWorkloadChain, toWorkloadChain, type IpVersion, type Marks } from '../names.js';
import { dispatchChains } from '../rules/dispatch.js';
import { endpointChains } from '../rules/endpoint.js';
import type { Endpoint, Policy, Profile } from '../calc/model.js';
import type { PolicyManager } from './policies.js';
import type { DesiredState } from './tables.js';

interface Programmed {
  ifname: string;
  policies: string[];
  profiles: string[];
  routes: string[];
  sysctls: string[];
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

/**
 * Local workload endpoints: their `cali-tw-/cali-fw-` chains, the dispatch
 * chains that lead to them, the /32 and /128 routes to their interface and
 * the interface's sysctls. Refers policies and profiles through PolicyManager.
 */
export class EndpointManager {
  private readonly programmed = new Map<string, Programmed>();
  private dispatchDirty = true;
  private dispatchNames = new Set<string>();

  constructor(
    private readonly out: DesiredState,
    private readonly policies: PolicyManager,
    private readonly marks: Marks,
  ) {}

  get count(): number {
    return this.programmed.size;
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

    for (const v of this.out.versions) {
      const chains = endpointChains(
        {
          ifname: ep.ifname,
          addresses: v === 4 ? ep.ipv4 : ep.ipv6,
          ingressPolicies: ingress.map((p) => p.id),
          egressPolicies: egress.map((p) => p.id),
          profiles: ep.profiles,
        },
        v,
        this.marks,
      );
      for (const c of chains) this.out.filter[v].setChain(c.name, c.rules);
    }
    const routes = ep.nets.filter((n) => this.out.versions.includes(n.includes(':') ? 6 : 4));
    for (const dst of routes) this.out.routes.setRoute(dst, ep.ifname);
    const sysctls = interfaceSysctls(ep, this.out.versions.includes(6));
    for (const [k, val] of sysctls) this.out.sysctls.set(k, val);

    if (old) {
      if (old.ifname !== ep.ifname) this.removeChains(old.ifname);
      for (const dst of old.routes) if (!routes.includes(dst) || old.ifname !== ep.ifname) this.out.routes.removeRoute(dst);
      if (old.ifname !== ep.ifname) for (const dst of routes) this.out.routes.setRoute(dst, ep.ifname);
      for (const k of old.sysctls) if (!sysctls.some(([s]) => s === k)) this.out.sysctls.remove(k);
    }
    if (!old || old.ifname !== ep.ifname) this.dispatchDirty = true;
    this.programmed.set(ep.key, { ifname: ep.ifname, policies: policyIds, profiles: ep.profiles, routes, sysctls: sysctls.map(([k]) => k) });
  }

  remove(key: string): void {
    const old = this.programmed.get(key);
    if (!old) return;
    this.programmed.delete(key);
    this.removeChains(old.ifname);
    for (const dst of old.routes) this.out.routes.removeRoute(dst);
    for (const k of old.sysctls) this.out.sysctls.remove(k);
    this.releaseRefs(old);
    this.dispatchDirty = true;
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

  /** Rebuild the dispatch trees if the set of local interfaces changed. */
  finish(force = false): void {
    if (!this.dispatchDirty && !force) return;
    this.dispatchDirty = false;
    const ifnames = [...new Set([...this.programmed.values()].map((p) => p.ifname))];
    for (const v of this.out.versions) this.writeDispatch(v, ifnames);
  }

  private writeDispatch(v: IpVersion, ifnames: string[]): void {
    const chains = [
      ...dispatchChains(CHAINS.fromWlDispatch, ifnames, '-i', fromWorkloadChain),
      ...dispatchChains(CHAINS.toWlDispatch, ifnames, '-o', toWorkloadChain),
    ];
    const names = new Set(chains.map((c) => c.name));
    for (const c of chains) this.out.filter[v].setChain(c.name, c.rules);
    for (const n of this.dispatchNames) if (!names.has(n)) this.out.filter[v].removeChain(n);
    if (v === this.out.versions[this.out.versions.length - 1]) this.dispatchNames = names;
  }
}
