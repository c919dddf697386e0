import type { Logger } from 'pino';
import { decodeResource, kindInfo, parseResourceKey, resourceKey, ValidationError, type KV, type WatchEvent, type Resource } from '@calico/libcalico';
import type { IPPoolSpec, PolicySpec, ProfileSpec, Rule, WorkloadEndpointSpec } from '@calico/libcalico/resources/spec';
import { byOrder, toEndpoint, toPolicy, toPool, toProfile, type Endpoint, type Policy, type Pool, type Profile } from './model.js';
import { Matchers, SelectorIndex } from './selectors.js';
import { scopedSelector } from '../rules/policy.js';

/** The decoded resource with its kind's spec type (decodeResource validated it). */
const typed = <S>(r: Resource): Resource<S> => r as unknown as Resource<S>;

/**
 * WorkloadEndpoints are by far the most numerous records (thousands per host),
 * so felix reads them with a light decode: the envelope here, and the fields
 * felix uses (node, interfaceName, ipNetworks, profiles) are checked by
 * toEndpoint, which is what guards the kernel. Everything else goes through
 * the full validation (decodeResource).
 */
function decodeEndpoint(kv: KV): Resource {
  let r: Resource;
  try {
    r = JSON.parse(kv.value) as Resource;
  } catch {
    throw new ValidationError(kv.key, 'stored value is not JSON');
  }
  if (!r || typeof r !== 'object' || r.kind !== 'WorkloadEndpoint' || typeof r.metadata?.name !== 'string') {
    throw new ValidationError(kv.key, 'not a WorkloadEndpoint resource');
  }
  if (r.metadata.labels !== undefined && (typeof r.metadata.labels !== 'object' || Object.values(r.metadata.labels).some((v) => typeof v !== 'string'))) {
    throw new ValidationError(`${kv.key}: metadata.labels`, 'must map strings to strings');
  }
  return r;
}

/** What the calculator hands on after each flush. */
export interface CalcSink {
  /** a local endpoint to (re)program, with the policies that apply in order */
  endpointUpdated(ep: Endpoint, ingress: Policy[], egress: Policy[]): void;
  endpointRemoved(key: string): void;
  /** any endpoint (every node) appeared, changed or went away: ipset membership */
  endpointLabels(key: string, before: Endpoint | undefined, now: Endpoint | undefined, labels: Record<string, string> | undefined): void;
  policyChanged(p: Policy | undefined, id: string): void;
  profileChanged(p: Profile | undefined, name: string): void;
  poolsChanged(pools: Iterable<Pool>): void;
  configChanged(global: Record<string, unknown> | undefined, node: Record<string, unknown> | undefined): void;
}

/**
 * The calculation layer: keeps the model built from datastore records
 * (endpoints of every node, profiles, policies, pools, this node's felix
 * configuration), works out which policies select each local endpoint, and
 * tells the managers what changed. Updates only mark things dirty; flush()
 * does the work, so a burst of events costs one pass.
 */
export class Calculator {
  readonly endpoints = new Map<string, Endpoint>();
  /** effective labels: profile labels, then the endpoint's own */
  private readonly labels = new Map<string, Record<string, string>>();
  readonly policies = new Map<string, Policy>();
  private readonly policyById = new Map<string, Policy>();
  readonly profiles = new Map<string, Profile>();
  private readonly pools = new Map<string, Pool>();
  private felixGlobal?: Record<string, unknown>;
  private felixNode?: Record<string, unknown>;
  /** local endpoint key → ids of the policies that select it */
  private readonly selected = new Map<string, Set<string>>();
  /** profile name → keys of endpoints that use it */
  private readonly profileUsers = new Map<string, Set<string>>();
  readonly matchers = new Matchers();
  /** what each endpoint looked like at the last flush (to withdraw its old ipset entries) */
  private readonly prevEndpoint = new Map<string, Endpoint>();
  /** selector, namespace, order and types of each policy at the last flush */
  private readonly policyShape = new Map<string, string>();

  private readonly dirtyEndpoints = new Map<string, Endpoint | undefined>();
  private readonly dirtyPolicies = new Map<string, Policy | undefined>();
  private readonly dirtyProfiles = new Map<string, Profile | undefined>();
  private poolsDirty = false;
  /** starts dirty so that the first flush resolves the configuration */
  private configDirty = true;
  /** malformed records (skipped) */
  private readonly skipped = new Set<string>();
  /** mod revision of each record last seen */
  private readonly revisions = new Map<string, string>();

  constructor(
    private readonly nodeName: string,
    private readonly sink: CalcSink,
    private readonly log: Logger,
    private readonly onMalformed: () => void = () => {},
  ) {}

  get dirty(): boolean {
    return this.dirtyEndpoints.size + this.dirtyPolicies.size + this.dirtyProfiles.size > 0 || this.poolsDirty || this.configDirty;
  }

  /** every endpoint with its effective labels (for ipset membership) */
  *allEndpoints(): Iterable<[Endpoint, Record<string, string>]> {
    for (const [k, ep] of this.endpoints) yield [ep, this.labels.get(k) ?? ep.labels];
  }

  /** the endpoints of this node, as last received (before any flush) */
  *localEndpoints(): Iterable<Endpoint> {
    for (const ep of this.endpoints.values()) if (ep.node === this.nodeName) yield ep;
  }

  /** A full listing: everything not in it is gone. */
  onSnapshot(kvs: KV[]): void {
    const present = new Set(kvs.map((kv) => kv.key));
    const known = [...this.endpoints.keys(), ...this.policies.keys(), ...this.profileKeys(), ...this.pools.keys(), ...this.configKeys(), ...this.skipped];
    for (const key of known) if (!present.has(key)) this.onDelete(key);
    this.skipped.clear();
    for (const kv of kvs) this.onPut(kv);
  }

  onUpdates(events: WatchEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'put') this.onPut(ev);
      else this.onDelete(ev.key);
    }
  }

  private profileKeys(): string[] {
    return [...this.profiles.keys()].map((n) => resourceKey(kindInfo('Profile')!, n));
  }

  private configKeys(): string[] {
    const info = kindInfo('FelixConfiguration')!;
    return [this.felixGlobal ? resourceKey(info, 'default') : '', this.felixNode ? resourceKey(info, `node.${this.nodeName}`) : ''].filter(Boolean);
  }

  private onPut(kv: KV): void {
    // A relist after an outage repeats every record: unchanged ones cost nothing.
    if (this.revisions.get(kv.key) === kv.revision) return;
    this.revisions.set(kv.key, kv.revision);
    const where = parseResourceKey(kv.key);
    if (!where) return;
    let r: Resource;
    /** a WorkloadEndpoint's model, built once: building it is also its check */
    let ep: Endpoint | undefined;
    try {
      r = where.info.kind === 'WorkloadEndpoint' ? decodeEndpoint(kv) : decodeResource(kv);
      if (where.info.kind === 'WorkloadEndpoint') ep = toEndpoint(kv.key, typed<WorkloadEndpointSpec>(r));
      this.check(where.info.kind, r);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      this.onMalformed();
      this.log.error({ key: kv.key, field: e.field, reason: e.reason }, 'malformed record skipped');
      // The previous good version (if any) is withdrawn: we no longer know what it says.
      this.onDelete(kv.key);
      this.skipped.add(kv.key);
      return;
    }
    this.skipped.delete(kv.key);
    switch (where.info.kind) {
      case 'WorkloadEndpoint':
        this.endpoints.set(kv.key, ep!);
        this.dirtyEndpoints.set(kv.key, ep!);
        return;
      case 'GlobalNetworkPolicy':
      case 'NetworkPolicy': {
        const p = toPolicy(kv.key, typed<PolicySpec>(r), where.info.namespaced);
        const old = this.policies.get(kv.key);
        if (old && old.id !== p.id) this.policyById.delete(old.id);
        this.policies.set(kv.key, p);
        this.policyById.set(p.id, p);
        this.dirtyPolicies.set(p.id, p);
        return;
      }
      case 'Profile': {
        const p = toProfile(typed<ProfileSpec>(r));
        this.profiles.set(p.name, p);
        this.dirtyProfiles.set(p.name, p);
        return;
      }
      case 'IPPool':
        this.pools.set(kv.key, toPool(kv.key, typed<IPPoolSpec>(r)));
        this.poolsDirty = true;
        return;
      case 'FelixConfiguration':
        if (r.metadata.name === 'default') this.felixGlobal = r.spec;
        else if (r.metadata.name === `node.${this.nodeName}`) this.felixNode = r.spec;
        else return;
        this.configDirty = true;
        return;
    }
  }

  /** Reject what would fail later: bad selectors anywhere in a policy or profile. */
  private check(kind: string, r: Resource): void {
    const sel = (text: string | undefined, field: string, ns?: string) => {
      if (!text) return;
      try {
        this.matchers.get(scopedSelector(text, ns));
      } catch (e) {
        throw new ValidationError(`${kind}(${r.metadata.name}).spec.${field}`, `bad selector ${JSON.stringify(text)}: ${(e as Error).message}`);
      }
    };
    const ns = kind === 'NetworkPolicy' ? (r.metadata.namespace ?? 'default') : undefined;
    if (kind === 'GlobalNetworkPolicy' || kind === 'NetworkPolicy') sel(typed<PolicySpec>(r).spec.selector, 'selector');
    if (kind === 'IPPool') toPool('', typed<IPPoolSpec>(r));
    const spec = r.spec as { ingress?: Rule[]; egress?: Rule[] };
    for (const dir of ['ingress', 'egress'] as const) {
      (spec[dir] ?? []).forEach((rule, i) => {
        for (const side of ['source', 'destination'] as const) {
          sel(rule?.[side]?.selector, `${dir}[${i}].${side}.selector`, ns);
          sel(rule?.[side]?.notSelector, `${dir}[${i}].${side}.notSelector`, ns);
        }
      });
    }
  }

  private onDelete(key: string): void {
    this.skipped.delete(key);
    this.revisions.delete(key);
    if (this.endpoints.has(key)) {
      this.endpoints.delete(key);
      this.dirtyEndpoints.set(key, undefined);
      return;
    }
    const pol = this.policies.get(key);
    if (pol) {
      this.policies.delete(key);
      this.policyById.delete(pol.id);
      this.dirtyPolicies.set(pol.id, undefined);
      return;
    }
    if (this.pools.delete(key)) return void (this.poolsDirty = true);
    const where = parseResourceKey(key);
    if (where?.info.kind === 'Profile' && this.profiles.delete(where.name)) {
      this.dirtyProfiles.set(where.name, undefined);
    } else if (where?.info.kind === 'FelixConfiguration') {
      if (where.name === 'default') this.felixGlobal = undefined;
      else if (where.name === `node.${this.nodeName}`) this.felixNode = undefined;
      this.configDirty = true;
    }
  }

  private computeLabels(ep: Endpoint): Record<string, string> {
    let labels = ep.labels;
    for (const name of ep.profiles) {
      const p = this.profiles.get(name);
      if (p && Object.keys(p.labels).length) labels = { ...p.labels, ...labels };
    }
    return labels;
  }

  private matches(p: Policy, ep: Endpoint, labels: Record<string, string>): boolean {
    if (p.namespace && p.namespace !== ep.namespace) return false;
    return this.matchers.get(p.selector)(labels);
  }

  /** Hand on only a configuration change (before the dataplane exists). */
  flushConfigOnly(): void {
    if (!this.configDirty) return;
    this.configDirty = false;
    this.sink.configChanged(this.felixGlobal, this.felixNode);
  }

  /** Work out everything the marked changes imply and tell the sink. */
  flush(): void {
    this.flushConfigOnly();
    // Profiles: labels they apply change their endpoints' labels.
    for (const [name, p] of this.dirtyProfiles) {
      for (const key of this.profileUsers.get(name) ?? []) if (!this.dirtyEndpoints.has(key)) this.dirtyEndpoints.set(key, this.endpoints.get(key));
      this.sink.profileChanged(p, name);
    }
    this.dirtyProfiles.clear();

    // Endpoints: labels, ipset membership; local ones are re-matched below.
    const relocal = new Set<string>();
    for (const [key, ep] of this.dirtyEndpoints) {
      const before = this.prevEndpoint.get(key);
      for (const name of before?.profiles ?? []) this.profileUsers.get(name)?.delete(key);
      if (ep) {
        const labels = this.computeLabels(ep);
        this.labels.set(key, labels);
        this.prevEndpoint.set(key, ep);
        for (const name of ep.profiles) {
          let s = this.profileUsers.get(name);
          if (!s) this.profileUsers.set(name, (s = new Set()));
          s.add(key);
        }
        this.sink.endpointLabels(key, before, ep, labels);
      } else {
        this.labels.delete(key);
        this.prevEndpoint.delete(key);
        this.sink.endpointLabels(key, before, undefined, undefined);
      }
      if (ep?.node === this.nodeName) relocal.add(key);
      else if (this.selected.has(key)) {
        this.selected.delete(key);
        this.sink.endpointRemoved(key);
      }
    }
    this.dirtyEndpoints.clear();

    // Policies: re-render, and re-match against local endpoints.
    for (const [id, p] of this.dirtyPolicies) {
      this.sink.policyChanged(p, id);
      const shape = p ? JSON.stringify([p.selector, p.namespace, p.order, p.types]) : undefined;
      const same = shape === this.policyShape.get(id);
      if (shape) this.policyShape.set(id, shape);
      else this.policyShape.delete(id);
      // Only the rules changed: the chain was re-rendered, no endpoint is affected.
      if (same) continue;
      for (const [key, sel] of this.selected) {
        if (relocal.has(key)) continue;
        const ep = this.endpoints.get(key)!;
        const now = !!p && this.matches(p, ep, this.labels.get(key)!);
        // Selected before or after: its chain list (membership or order) may change.
        if (now || sel.has(id)) relocal.add(key);
      }
    }
    this.dirtyPolicies.clear();

    const index = relocal.size ? new SelectorIndex([...this.policies.values()].sort(byOrder), (p) => this.matchers.node(p.selector)) : undefined;
    for (const key of relocal) {
      const ep = this.endpoints.get(key)!;
      const labels = this.labels.get(key)!;
      const mine = index!.candidates(labels).filter((p) => this.matches(p, ep, labels));
      this.selected.set(key, new Set(mine.map((p) => p.id)));
      this.sink.endpointUpdated(
        ep,
        mine.filter((p) => p.types.ingress),
        mine.filter((p) => p.types.egress),
      );
    }

    if (this.poolsDirty) {
      this.poolsDirty = false;
      this.sink.poolsChanged(this.pools.values());
    }
  }
}
