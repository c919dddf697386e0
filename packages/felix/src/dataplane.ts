import type { Logger } from 'pino';
import type { FelixConfig } from './config.js';
import { IpBatch, IpsetBatch } from './drivers/coprocess.js';
import { IptablesTable, type Backend } from './drivers/iptables.js';
import { IpsetsDriver } from './drivers/ipsets.js';
import type { Metrics } from './drivers/metrics.js';
import { RouteTable } from './drivers/routes.js';
import { RestoreSessions, type Runner } from './drivers/runner.js';
import type { Spawner } from './drivers/spawner.js';
import { Sysctls } from './drivers/sysctls.js';
import type { CalcSink } from './calc/calculator.js';
import type { Endpoint, Policy, Pool, Profile } from './calc/model.js';
import type { Matchers } from './calc/selectors.js';
import { EndpointManager } from './managers/endpoints.js';
import { IpsetManager } from './managers/ipsets.js';
import { NatManager } from './managers/nat.js';
import { PolicyManager } from './managers/policies.js';
import type { DesiredState } from './managers/tables.js';
import { marksFromMask, type IpVersion, type Marks } from './names.js';
import { FILTER_HOOKS, RAW_HOOKS, staticFilterChains, staticRawChains } from './rules/static.js';
import { rule } from './rules/types.js';

export interface DataplaneDeps {
  config: FelixConfig;
  backend: Backend;
  run: Runner;
  /** starts the long-running tools (see Spawner) */
  spawner: Spawner;
  metrics: Metrics;
  log: Logger;
  /** all endpoints with effective labels (for ipsets built on demand) */
  endpoints: () => Iterable<[Endpoint, Record<string, string>]>;
  profile: (name: string) => Profile | undefined;
  matchers: Matchers;
}

/** Refresh classes: each re-reads its part of the kernel and repairs drift. */
export type RefreshKind = 'iptables' | 'ipsets' | 'routes';

/**
 * The Linux dataplane: the managers (turn calculation results into desired
 * kernel state, no I/O) and the drivers (read the kernel back, diff, write
 * one batch each). apply() runs the drivers in a safe order.
 */
export class Dataplane implements Omit<CalcSink, 'configChanged'> {
  readonly out: DesiredState;
  private readonly ipsetMgr: IpsetManager;
  private readonly policyMgr: PolicyManager;
  private readonly endpointMgr: EndpointManager;
  private readonly natMgr: NatManager;
  private pools: Pool[] = [];
  private config: FelixConfig;
  private readonly marks: Marks;
  /** long-running `ip -batch` and `ipset` that the route and set drivers write through */
  private readonly ipBatch: IpBatch;
  private readonly ipsetBatch: IpsetBatch;
  /** long-running iptables-nft-restore --noflush per family that small changes are written to (see RestoreSessions) */
  private readonly restores: RestoreSessions;
  private readonly m: ReturnType<typeof dataplaneMetrics>;

  constructor(private readonly deps: DataplaneDeps) {
    const { config, backend, run, log } = deps;
    this.config = config;
    this.ipBatch = new IpBatch(deps.spawner);
    this.ipsetBatch = new IpsetBatch(deps.spawner);
    this.restores = new RestoreSessions(deps.spawner, run);
    this.marks = marksFromMask(config.iptablesMarkMask);
    const m = (this.m = dataplaneMetrics(deps.metrics));
    const versions: IpVersion[] = config.ipv6Support ? [4, 6] : [4];
    const tableCounters = { restore: () => (m.restores(), m.writes()), save: m.saves, rulesWritten: m.rules };
    // nft: deletions wait for a tidy pass (see IptablesTable.apply).
    const nft = backend === 'nft';
    const restoreRun = nft ? this.restores.run : run;
    const table = (name: string, v: IpVersion) =>
      new IptablesTable(name, v, backend, restoreRun, tableCounters, log.child({ table: `${name}${v}` }), config.chainInsertMode, nft);
    this.out = {
      versions,
      filter: { 4: table('filter', 4), 6: table('filter', 6) },
      nat: { 4: table('nat', 4), 6: table('nat', 6) },
      raw: { 4: table('raw', 4), 6: table('raw', 6) },
      ipsets: new IpsetsDriver(run, this.ipsetBatch, { restore: () => (m.ipsetRestores(), m.writes()), membersWritten: m.ipsetMembers }, log),
      routes: new RouteTable(run, this.ipBatch, { batch: () => (m.routeBatches(), m.writes()), routesWritten: m.routes }, log, versions.includes(6)),
      sysctls: new Sysctls({ written: (n) => (m.sysctls(n), m.writes(n)) }, undefined, async () => (await run(['ip', '-o', 'netconf', 'show'])).stdout),
    };
    this.ipsetMgr = new IpsetManager(this.out, deps.matchers, deps.endpoints);
    this.policyMgr = new PolicyManager(this.out, this.ipsetMgr, log, this.marks, config.logPrefix);
    this.endpointMgr = new EndpointManager(this.out, this.policyMgr, this.marks, config.sharedEndpointChains);
    this.natMgr = new NatManager(this.out);
    this.writeStatic();
    this.natMgr.update([], config.natOutgoingAddress);
  }

  /** Every iptables table of every family, each family's in the order they are written. */
  private get tables(): IptablesTable[] {
    return this.out.versions.flatMap((v) => this.familyTables(v));
  }

  /** nat and raw (a few static chains) before filter: on a cold start they go in before the big table. */
  private familyTables(v: IpVersion): IptablesTable[] {
    return [this.out.nat[v], this.out.raw[v], this.out.filter[v]];
  }

  get localEndpoints(): number {
    return this.endpointMgr.count;
  }

  /** Stop the long-running tools. */
  close(): void {
    this.ipBatch.close();
    this.ipsetBatch.close();
    this.restores.close();
  }

  /** Settings that can change live (the others need a restart: see RESTART_PARAMS). */
  reconfigure(config: FelixConfig): void {
    this.config = config;
    this.writeStatic();
    this.natMgr.update(this.pools, config.natOutgoingAddress);
  }

  private writeStatic(): void {
    const c = this.config;
    const sys = this.out.sysctls;
    sys.set('net/ipv4/ip_forward', '1');
    if (this.out.versions.includes(6)) sys.set('net/ipv6/conf/all/forwarding', '1');
    this.writeStaticFilter();
    for (const v of this.out.versions) {
      const t = this.out.filter[v];
      for (const [hook, chain] of Object.entries(FILTER_HOOKS)) t.setInsertions(hook, [rule('', `-j ${chain}`)]);
      const raw = this.out.raw[v];
      for (const ch of staticRawChains(c)) raw.setChain(ch.name, ch.rules);
      for (const [hook, chain] of Object.entries(RAW_HOOKS)) raw.setInsertions(hook, [rule('', `-j ${chain}`)]);
    }
    this.endpointMgr.finish(true);
  }

  /** whether the static chains were last written for egress rules that log (see staticFilterChains) */
  private egressLogs = false;

  private writeStaticFilter(): void {
    const c = this.config;
    this.egressLogs = this.policyMgr.egressLogs;
    for (const v of this.out.versions) {
      const chains = staticFilterChains(v, { interfacePrefix: c.interfacePrefix, defaultEndpointToHostAction: c.defaultEndpointToHostAction, marks: this.marks, egressLogs: this.egressLogs });
      for (const ch of chains) this.out.filter[v].setChain(ch.name, ch.rules);
    }
  }

  // --- CalcSink: called by the calculator's flush (no I/O) ---
  endpointUpdated(ep: Endpoint, ingress: Policy[], egress: Policy[]): void {
    this.endpointMgr.update(ep, ingress, egress, this.deps.profile);
  }
  endpointRemoved(key: string): void {
    this.endpointMgr.remove(key);
  }
  endpointLabels(key: string, before: Endpoint | undefined, now: Endpoint | undefined, labels: Record<string, string> | undefined): void {
    this.ipsetMgr.onEndpoint(key, before, now, labels);
  }
  policyChanged(p: Policy | undefined, id: string): void {
    this.policyMgr.render('policy', id, p);
  }
  profileChanged(p: Profile | undefined, name: string): void {
    this.policyMgr.render('profile', name, p);
  }
  poolsChanged(pools: Iterable<Pool>): void {
    this.pools = [...pools];
    this.natMgr.update(this.pools, this.config.natOutgoingAddress);
  }
  /** after a flush: dispatch chains follow the set of local interfaces; the path to the host, egress logging */
  finishFlush(): void {
    this.ipsetMgr.finish();
    this.endpointMgr.finish();
    if (this.policyMgr.egressLogs !== this.egressLogs) this.writeStaticFilter();
  }

  /**
   * Start every driver's read-back now, before the first calculation pass: the
   * tools run on another core while the calculation keeps this one busy, and
   * the apply that follows collects their output.
   */
  prefetch(): void {
    const o = this.out;
    o.ipsets.prefetch();
    for (const t of this.tables) t.prefetch();
    o.routes.prefetch();
  }

  /**
   * Write the interface sysctls of the local endpoints now, on a worker
   * thread, while the first calculation pass keeps the main thread busy: on a
   * cold start with thousands of interfaces they are otherwise written during
   * the apply, competing for the second core with iptables-restore. apply()
   * waits for them (Sysctls.apply runs one pass after another).
   */
  startSysctls(local: Iterable<Endpoint>): void {
    this.endpointMgr.presetSysctls(local);
    this.out.sysctls.apply().catch(() => {}); // failures stay pending: the apply's own pass reports them
  }

  /**
   * A local interface was deleted or has appeared (LinkMonitor). Returns true
   * if we program something through it: then an apply is due.
   */
  interfaceChanged(ifname: string, gone: boolean): boolean {
    return this.endpointMgr.interfaceChanged(ifname, gone) && !gone;
  }

  /** Re-read part of the kernel on the next apply and repair what drifted. */
  refresh(kind: RefreshKind): void {
    if (kind === 'iptables') {
      for (const t of this.tables) t.invalidate();
      this.restores.close(); // the repair starts from a fresh read, in new sessions
    }
    else if (kind === 'ipsets') this.out.ipsets.invalidate();
    else (this.out.routes.invalidate(), this.out.sysctls.invalidate());
  }

  /** Deletions are due (old rules, chains or sets no longer wanted): a tidy pass is needed. */
  get needsCleanup(): boolean {
    const o = this.out;
    return o.ipsets.needsCleanup || this.tables.some((t) => t.needsCleanup);
  }

  get pending(): boolean {
    const o = this.out;
    return o.ipsets.pending || o.routes.pending || o.sysctls.pending || this.tables.some((t) => t.pending);
  }

  /**
   * Write everything pending, in an order that never leaves a rule pointing
   * at a missing set or chain: new sets (created and filled) → iptables
   * additions → routes, with the sysctls, the member changes of existing
   * sets and the removal of routes meanwhile, and in a `tidy` pass then the deletions:
   * iptables (IptablesTable.cleanup) → sets (destroy). A family's routes go in as
   * soon as that family's tables are written (the IPv4 routes while the IPv6
   * tables are restored): a route of one family never carries traffic that
   * the other family's rules police. When no table was written (an endpoint
   * joining a shared chain group), both families' routes go in one batch.
   * Returns true if something must be retried.
   */
  async apply(tidy = false): Promise<boolean> {
    const started = Date.now();
    const o = this.out;
    let retry = false;
    const took: Record<string, number> = {};
    const stage = async (what: string, f: () => Promise<unknown>): Promise<boolean> => {
      const t0 = Date.now();
      try {
        await f();
        took[what] = Date.now() - t0;
        return true;
      } catch (e) {
        this.m.errors();
        this.deps.log.error({ err: (e as Error).message, stage: what }, 'dataplane update failed; will retry');
        retry = true;
        return false;
      }
    };
    const routes = (family?: IpVersion, removalsOnly = false) =>
      stage(removalsOnly ? 'routes removed' : family ? `routes${family}` : 'routes', async () => {
        if ((await o.routes.apply(family, removalsOnly)) > 0) retry = true;
      });
    // Route passes, chained so that they never overlap: first the routes no
    // longer wanted (taking one away never lets traffic through, and traffic
    // to a deleted workload stops at once), then each family's once that
    // family's tables are in place.
    let earlyRoutes: Promise<unknown> = o.routes.pending ? routes(undefined, true) : Promise.resolve();
    const early = new Set<IpVersion>();
    let tablesOk = false;
    // Sysctls are independent of everything else: written meanwhile (by a worker thread when there are many).
    const sysctls = stage('sysctls', async () => {
      if ((await o.sysctls.apply()) > 0) retry = true;
    });
    // New sets go in before the rules that use them; member changes alone go
    // in beside the tables (they cannot leave a rule pointing at nothing).
    const setsFirst = o.ipsets.createsSets;
    const sets = stage('ipsets', () => o.ipsets.applyUpdates());
    if (!setsFirst || (await sets)) {
      const writes = (async () => {
        let ok = true;
        // Every table is read back before any is written (reads are cheap before the big writes).
        for (const t of this.tables) ok = (await stage(`iptables-save ${t.table}${t.version}`, () => t.readIfNeeded())) && ok;
        const family = async (v: IpVersion): Promise<boolean> => {
          let done = true;
          let wrote = false;
          for (const t of this.familyTables(v)) {
            done = (await stage(`iptables ${t.table}${t.version}`, async () => (wrote = (await t.apply()) || wrote))) && done;
          }
          // Chained, so the two route passes never overlap.
          if (done && wrote) (early.add(v), (earlyRoutes = earlyRoutes.then(() => routes(v))));
          return done;
        };
        // nft: the two families are written at once (their parsing overlaps;
        // a commit that finds the other family's first only re-reads the
        // chain list). Legacy restores share one lock, so for them this would
        // only be waiting.
        if (this.deps.backend === 'nft') return (await Promise.all(o.versions.map(family))).every(Boolean) && ok;
        for (const v of o.versions) ok = (await family(v)) && ok;
        return ok;
      })();
      tablesOk = await writes;
    }
    await sets;
    await sysctls;
    // Routes last: traffic reaches a workload only once its policy is in place.
    // A family whose tables failed still gets its routes here (the retry repairs the tables).
    await earlyRoutes;
    const late = o.versions.filter((v) => !early.has(v));
    if (late.length) await routes(late.length === o.versions.length ? undefined : late[0]);
    // Deletions, after everything that a change needs is in place (see IptablesTable.apply).
    if (tidy) {
      for (const t of this.tables) tablesOk = (await stage(`iptables cleanup ${t.table}${t.version}`, () => t.cleanup())) && tablesOk;
      if (tablesOk) await stage('ipset removal', () => o.ipsets.applyDeletions());
    }
    this.m.applies();
    const ms = Date.now() - started;
    this.m.applyMs(ms);
    // Slow passes are worth a line: they show which driver the time went to.
    if (ms >= 200) this.deps.log.info({ ms, stages: took }, 'slow dataplane apply');
    else this.deps.log.debug({ ms, stages: took }, 'dataplane apply');
    this.m.endpoints(this.endpointMgr.count);
    return retry;
  }
}

function dataplaneMetrics(m: Metrics) {
  return {
    writes: m.counter('felix_kernel_writes_total', 'Kernel write operations (iptables-restore, ipset restore, route batches, sysctl writes)'),
    restores: m.counter('felix_iptables_restore_calls_total', 'iptables-restore runs'),
    saves: m.counter('felix_iptables_save_calls_total', 'iptables-save runs'),
    rules: m.counter('felix_iptables_rules_written_total', 'iptables rules written'),
    ipsetRestores: m.counter('felix_ipset_restore_calls_total', 'ipset restore runs'),
    ipsetMembers: m.counter('felix_ipset_members_written_total', 'ipset members added or removed'),
    routeBatches: m.counter('felix_route_batches_total', 'ip -batch runs'),
    routes: m.counter('felix_route_writes_total', 'routes added, replaced or removed'),
    sysctls: m.counter('felix_sysctl_writes_total', 'sysctl files written'),
    applies: m.counter('felix_dataplane_applies_total', 'dataplane apply passes'),
    errors: m.counter('felix_dataplane_apply_errors_total', 'failed dataplane updates (retried)'),
    applyMs: m.gauge('felix_dataplane_last_apply_ms', 'duration of the last apply pass'),
    endpoints: m.gauge('felix_active_local_endpoints', 'local workload endpoints programmed'),
  };
}
