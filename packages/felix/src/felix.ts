import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { kindInfo, kindPrefix, normaliseLevel, Syncer, type Datastore } from '@calico/libcalico';
import { Calculator, type CalcSink } from './calc/calculator.js';
import type { Endpoint, Policy, Pool, Profile } from './calc/model.js';
import { RESTART_PARAMS, resolveConfig, type FelixConfig } from './config.js';
import { Dataplane } from './dataplane.js';
import { detectBackend } from './drivers/backend.js';
import type { Backend } from './drivers/iptables.js';
import { LinkMonitor } from './drivers/links.js';
import { Metrics } from './drivers/metrics.js';
import { helperRunner, type Runner } from './drivers/runner.js';
import { Spawner } from './drivers/spawner.js';
import { ReadyFile, reportStatus, startHttp, type FelixState } from './status.js';

/** Kinds felix watches. */
const WATCHED = ['WorkloadEndpoint', 'Profile', 'GlobalNetworkPolicy', 'NetworkPolicy', 'IPPool', 'FelixConfiguration'];

export interface FelixOptions {
  env: NodeJS.ProcessEnv;
  nodeName: string;
  ds: Datastore;
  log: Logger;
  runDir: string;
  run?: Runner;
  /** called when felix cannot go on (bad environment, config change that needs a restart) */
  onFatal: (reason: string) => void;
  /** called once, when the dataplane is first programmed after the first full sync */
  onProgrammed?: () => void;
}

/**
 * How long deletions wait after the change that made them due: they cost an
 * RCU grace period (and, with large tables, a full re-validation), so they are
 * batched, at most one tidy pass a second, off the path of the changes.
 */
const TIDY_DELAY_MS = 1000;

/** A configuration problem felix refuses to run with. */
export class FatalConfigError extends Error {}

/**
 * The agent: datastore syncer → calculator → dataplane (managers → drivers).
 * Nothing touches the kernel until the first full sync; after that, an update
 * is applied as soon as felix is free (after `applyBatchDelay`, 0 by
 * default), and those that arrive while a pass runs go together in the next
 * one. Deletions (old rules, chains and sets no longer wanted) wait for a tidy
 * pass TIDY_DELAY_MS later, out of the way of the changes (see IptablesTable.apply).
 */
export class Felix implements CalcSink {
  readonly metrics = new Metrics();
  readonly state: FelixState = { inSync: false, programmed: false, startedAt: Date.now() };
  private readonly calc: Calculator;
  private readonly syncer: Syncer;
  private dp?: Dataplane;
  private config: FelixConfig;
  private readonly bootConfig: FelixConfig;
  private timer?: NodeJS.Timeout;
  private running = false;
  private again = false;
  private retryMs = 100;
  private tidyTimer?: NodeJS.Timeout;
  /** the next pass also makes the deletions */
  private tidy = false;
  private readonly intervals: NodeJS.Timeout[] = [];
  private servers: Server[] = [];
  private readonly ready: ReadyFile;
  private readonly run: Runner;
  /** starts every program felix runs (see Spawner) */
  private readonly spawner = new Spawner();
  private readonly m: { malformed: () => void; resyncs: () => void; inSync: (v: number) => void };
  private stopped = false;
  private layers: { global?: Record<string, unknown>; node?: Record<string, unknown> } = {};
  /** workload interfaces that come and go (started with the dataplane) */
  private readonly links: LinkMonitor;

  constructor(private readonly o: FelixOptions) {
    this.spawner.warm();
    this.run = o.run ?? helperRunner(this.spawner);
    this.bootConfig = this.config = resolveConfig({ env: o.env });
    this.ready = new ReadyFile(join(o.runDir, 'felix-ready'));
    this.m = {
      malformed: this.metrics.counter('felix_malformed_records_total', 'datastore records skipped as malformed'),
      resyncs: this.metrics.counter('felix_resyncs_total', 'datastore resyncs after a lost connection'),
      inSync: this.metrics.gauge('felix_in_sync', '1 when in sync with the datastore'),
    };
    // The limit felix's entry sets (main.ts): the check that it still holds.
    this.metrics.gauge('nodejs_heap_size_limit_bytes', "V8's heap size limit", () => getHeapStatistics().heap_size_limit);
    this.metrics.gauge('felix_dataplane_deletions_pending', '1 while deletions (rules, chains, sets no longer wanted) wait for the tidy pass', () =>
      this.tidyTimer || this.tidy || this.dp?.needsCleanup ? 1 : 0,
    );
    this.links = new LinkMonitor(this.spawner, (ifname, gone) => this.linkChanged(ifname, gone), o.log.child({ part: 'links' }));
    this.calc = new Calculator(o.nodeName, this, o.log.child({ part: 'calc' }), this.m.malformed);
    const prefixes = WATCHED.map((k) => kindPrefix(kindInfo(k)!));
    this.syncer = new Syncer(
      o.ds,
      prefixes,
      {
        onSnapshot: (kvs) => {
          this.calc.onSnapshot(kvs);
          this.schedule();
        },
        onUpdates: (evs) => {
          this.calc.onUpdates(evs);
          this.schedule();
        },
        onStatus: (s) => {
          const was = this.state.inSync;
          this.state.inSync = s === 'in-sync';
          this.m.inSync(this.state.inSync ? 1 : 0);
          if (s === 'resyncing' && was) this.m.resyncs();
          o.log.info({ status: s }, s === 'in-sync' ? 'in sync with the datastore' : 'lost the datastore; keeping the dataplane as it is');
          // The first apply has nothing to wait for: the whole snapshot is in.
          this.schedule(this.dp ? undefined : 0);
        },
      },
      o.log.child({ part: 'syncer' }),
    );
  }

  /** backend detection only reads the kernel: it runs while the datastore is still being listed */
  private earlyBackend?: Promise<Backend>;

  async start(): Promise<void> {
    const c = this.bootConfig;
    this.earlyBackend = detectBackend(this.run, c.iptablesBackend);
    this.earlyBackend.catch(() => {});
    // The datastore list first: the status servers start while etcd answers.
    this.syncer.start();
    if (c.healthEnabled) this.servers.push(await startHttp({ health: true, metrics: false }, c.healthHost, c.healthPort, this.state, this.metrics, this.o.log));
    if (c.prometheusMetricsEnabled) {
      this.servers.push(
        await startHttp({ health: false, metrics: true }, c.prometheusMetricsHost, c.prometheusMetricsPort, this.state, this.metrics, this.o.log),
      );
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.tidyTimer) clearTimeout(this.tidyTimer);
    this.dp?.close();
    this.links.close();
    this.spawner.close();
    for (const i of this.intervals) clearInterval(i);
    await this.syncer.stop();
    await Promise.all(this.servers.map((s) => new Promise((r) => s.close(r))));
    this.ready.clear();
  }

  private schedule(delay = this.config.applyBatchDelay): void {
    if (this.stopped || !this.state.inSync && !this.dp) return;
    if (this.running) return void (this.again = true);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.loop();
    }, delay);
  }

  private async loop(): Promise<void> {
    this.running = true;
    let retry = false;
    try {
      if (!this.dp) await this.init();
      const t0 = Date.now();
      this.calc.flush();
      this.dp!.finishFlush();
      const calcMs = Date.now() - t0;
      if (calcMs >= 100) this.o.log.info({ ms: calcMs }, 'slow calculation pass');
      const tidy = this.tidy;
      this.tidy = false;
      retry = await this.dp!.apply(tidy);
      if (!this.state.programmed && this.state.inSync) {
        this.state.programmed = true;
        this.ready.mark();
        this.o.log.info({ endpoints: this.dp!.localEndpoints }, 'dataplane programmed');
        this.o.onProgrammed?.();
        void this.report();
      }
    } catch (e) {
      if (e instanceof FatalConfigError) return this.o.onFatal(e.message);
      this.o.log.error({ err: (e as Error).stack }, 'apply failed');
      retry = true;
    } finally {
      this.running = false;
    }
    if (this.dp?.needsCleanup && !this.tidyTimer && !this.stopped) {
      this.tidyTimer = setTimeout(() => {
        this.tidyTimer = undefined;
        this.tidy = true;
        this.schedule(0);
      }, TIDY_DELAY_MS);
    }
    if (this.again || this.calc.dirty) {
      this.again = false;
      this.schedule();
    } else if (retry || this.dp?.pending) {
      this.schedule(this.retryMs);
      this.retryMs = Math.min(this.retryMs * 2, 10_000);
      return;
    }
    this.retryMs = 100;
  }

  /** First in-sync: the full config is known; check the host and build the dataplane. */
  private async init(): Promise<void> {
    this.calc.flushConfigOnly();
    const cfg = (this.config = this.resolve());
    const rpf = readFileSync('/proc/sys/net/ipv4/conf/all/rp_filter', 'utf8').trim();
    if (rpf === '2' && !cfg.ignoreLooseRPF) {
      throw new FatalConfigError(
        'net.ipv4.conf.all.rp_filter is 2 (loose): felix needs strict reverse-path filtering on workload interfaces for anti-spoofing. ' +
          'Set it to 0 or 1, or set FELIX_IGNORELOOSERPF=true to run anyway.',
      );
    }
    const backend = await (cfg.iptablesBackend === this.bootConfig.iptablesBackend && this.earlyBackend
      ? this.earlyBackend
      : detectBackend(this.run, cfg.iptablesBackend));
    this.o.log.info({ backend, ipv6: cfg.ipv6Support }, 'building dataplane');
    this.dp = new Dataplane({
      config: cfg,
      backend,
      run: this.run,
      spawner: this.spawner,
      metrics: this.metrics,
      log: this.o.log.child({ part: 'dataplane' }),
      endpoints: () => this.calc.allEndpoints(),
      profile: (n) => this.calc.profiles.get(n),
      matchers: this.calc.matchers,
    });
    this.dp.prefetch();
    this.dp.startSysctls(this.calc.localEndpoints());
    this.links.start();
    const every = (ms: number, f: () => void) => ms > 0 && this.intervals.push(setInterval(f, ms));
    every(cfg.iptablesRefreshInterval, () => (this.dp!.refresh('iptables'), this.schedule()));
    every(cfg.ipsetsRefreshInterval, () => (this.dp!.refresh('ipsets'), this.schedule()));
    every(cfg.routeRefreshInterval, () => (this.dp!.refresh('routes'), this.schedule()));
    every(cfg.reportingIntervalSecs, () => void this.report());
  }

  /**
   * A workload interface was deleted or made anew (a container restarted
   * under the same interface name, or created after its endpoint): its routes
   * and sysctls are written now, not at the next refresh or retry backoff.
   */
  private linkChanged(ifname: string, gone: boolean): void {
    if (!this.dp || !ifname.startsWith(this.config.interfacePrefix) || !this.dp.interfaceChanged(ifname, gone)) return;
    this.o.log.debug({ ifname }, 'workload interface appeared: programming its routes and sysctls');
    this.retryMs = 100;
    if (this.timer) (clearTimeout(this.timer), (this.timer = undefined));
    this.schedule();
  }

  private resolve(): FelixConfig {
    return resolveConfig({ env: this.o.env, ...this.layers }, (e) => this.o.log.warn({ field: e.field, reason: e.reason }, 'bad FelixConfiguration value ignored'));
  }

  private async report(): Promise<void> {
    try {
      await reportStatus(this.o.ds, this.o.nodeName, this.state);
    } catch (e) {
      this.o.log.debug({ err: (e as Error).message }, 'status report failed');
    }
  }

  // --- CalcSink ---
  configChanged(global: Record<string, unknown> | undefined, node: Record<string, unknown> | undefined): void {
    this.layers = { global, node };
    if (!this.dp) return;
    const next = this.resolve();
    const changed = RESTART_PARAMS.filter((p) => next[p] !== this.config[p]);
    if (changed.length) throw new FatalConfigError(`configuration changed (${changed.join(', ')}): restarting to apply it`);
    this.config = next;
    this.o.log.level = normaliseLevel(next.logSeverityScreen, this.o.log.level);
    this.dp.reconfigure(next);
  }
  endpointUpdated(ep: Endpoint, ingress: Policy[], egress: Policy[]): void {
    this.dp!.endpointUpdated(ep, ingress, egress);
  }
  endpointRemoved(key: string): void {
    this.dp!.endpointRemoved(key);
  }
  endpointLabels(key: string, before: Endpoint | undefined, now: Endpoint | undefined, labels: Record<string, string> | undefined): void {
    this.dp!.endpointLabels(key, before, now, labels);
  }
  policyChanged(p: Policy | undefined, id: string): void {
    this.dp!.policyChanged(p, id);
  }
  profileChanged(p: Profile | undefined, name: string): void {
    this.dp!.profileChanged(p, name);
  }
  poolsChanged(pools: Iterable<Pool>): void {
    this.dp!.poolsChanged(pools);
  }
}
