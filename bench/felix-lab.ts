// Shared set-up for the felix benchmarks: one host netns with N workload
// interfaces (veths created in bulk, their other ends in a throwaway netns),
// N WorkloadEndpoints, 100 profiles and 100 policies with selectors in a
// private etcd; felix runs inside the host netns. Everything is removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { run, workloadEndpointName } from '@calico/libcalico';
import { Lab, RES, sleep, startUnixEtcd, type UnixEtcd } from '../packages/felix/test/helpers.js';
import { createNetns, deleteNetns } from '../test/helpers/netns.js';

export const PROFILES = 100;
export const POLICIES = 100;

/**
 * The endpoint chain layouts the felix benchmarks measure: Calico's chains per
 * endpoint (the default) and shared chains (FELIX_SHAREDENDPOINTCHAINS).
 * FELIX_BENCH_LAYOUTS=shared (or per-endpoint) measures one.
 */
export function layouts(): [string, Record<string, string>][] {
  const all: [string, Record<string, string>][] = [['per-endpoint', {}], ['shared', { FELIX_SHAREDENDPOINTCHAINS: 'true' }]];
  const wanted = process.env.FELIX_BENCH_LAYOUTS?.split(',');
  return wanted ? all.filter(([name]) => wanted.includes(name)) : all;
}

/** The endpoint counts measured: 1,000 and 5,000, or FELIX_BENCH_SIZES (e.g. `1000`). */
export function sizes(): number[] {
  return (process.env.FELIX_BENCH_SIZES ?? '1000,5000').split(',').map(Number);
}

export class FelixBenchLab {
  lab!: Lab;
  etcd!: UnixEtcd;
  sink = '';
  n = 0;

  ifname(i: number): string {
    return `cali${this.lab.id}${i.toString(16).padStart(5, '0')}`;
  }
  ip(i: number): string {
    return `198.19.${i >> 8}.${i & 255}`;
  }
  ip6(i: number): string {
    return `fd00:19::${i.toString(16)}`;
  }

  /** Host with `n` programmed-to-be endpoints plus `spare` interfaces without an endpoint yet. */
  async setup(n: number, spare = 0): Promise<void> {
    this.n = n;
    this.etcd = await startUnixEtcd();
    this.lab = new Lab(this.etcd);
    await this.lab.up();
    this.sink = await createNetns(`fxs-${this.lab.id}`);
    const total = n + spare;
    const add: string[] = [];
    const up: string[] = [];
    for (let i = 0; i < total; i++) {
      add.push(`link add ${this.ifname(i)} netns ${this.lab.host} type veth peer name e${i} netns ${this.sink}`);
      up.push(`link set ${this.ifname(i)} up`);
    }
    // ip -batch keeps open each netns it opens (two per `link add … netns … peer … netns`): at
    // most 4,000 lines per batch, under the fd limit (20,000 here; 10,000 lines hit it).
    for (let i = 0; i < add.length; i += 4000) await run(['ip', '-batch', '-'], { input: add.slice(i, i + 4000).join('\n') + '\n', timeoutMs: 600_000 });
    await run(['ip', '-n', this.lab.host, '-batch', '-'], { input: up.join('\n') + '\n' });

    const puts: [string, unknown][] = [];
    for (let j = 0; j < PROFILES; j++) {
      puts.push([`${RES}/profiles/prof-${j}`, this.resource('Profile', `prof-${j}`, {
        ingress: [
          { action: 'Allow', protocol: 'TCP', source: { selector: `app == 'a${j % 10}'` }, destination: { ports: [80, 443, '8000:8100'] } },
          { action: 'Allow', protocol: 'ICMP' },
        ],
        egress: [{ action: 'Allow' }],
      })]);
    }
    for (let j = 0; j < POLICIES; j++) puts.push([`${RES}/globalnetworkpolicies/pol-${j}`, this.resource('GlobalNetworkPolicy', `pol-${j}`, this.policySpec(j, 0))]);
    for (let i = 0; i < n; i++) puts.push([this.wepKey(i), this.wep(i)]);
    await this.putAll(puts);
  }

  policySpec(j: number, version: number): Record<string, unknown> {
    return {
      order: j,
      selector: `group == 'g${j}'`,
      types: ['Ingress', 'Egress'],
      ingress: [
        { action: 'Deny', protocol: 'UDP', destination: { ports: [53] } },
        { action: 'Allow', protocol: 'TCP', source: { selector: `app == 'a${(j + 1) % 10}'` }, destination: { ports: [1000 + j + version] } },
        { action: 'Pass' },
      ],
      egress: [{ action: 'Allow', destination: { nets: ['198.18.0.0/15'] } }, { action: 'Pass' }],
    };
  }

  private resource(kind: string, name: string, spec: unknown, namespace?: string, labels?: Record<string, string>) {
    return { apiVersion: 'projectcalico.org/v3', kind, metadata: { name, ...(namespace ? { namespace } : {}), ...(labels ? { labels } : {}) }, spec };
  }

  wepName(i: number): string {
    return workloadEndpointName({ node: this.lab.node, orchestrator: 'cni', workload: `w${i}`, endpoint: 'eth0' });
  }
  wepKey(i: number): string {
    return `${RES}/workloadendpoints/default/${this.wepName(i)}`;
  }
  wep(i: number): unknown {
    return this.resource(
      'WorkloadEndpoint',
      this.wepName(i),
      { orchestrator: 'cni', node: this.lab.node, workload: `w${i}`, endpoint: 'eth0', interfaceName: this.ifname(i), profiles: [`prof-${i % PROFILES}`], ipNetworks: [`${this.ip(i)}/32`, `${this.ip6(i)}/128`] },
      'default',
      { group: `g${i % POLICIES}`, app: `a${i % 10}` },
    );
  }

  async putAll(puts: [string, unknown][], concurrency = 64): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < puts.length) {
        const [k, v] = puts[next++]!;
        await this.etcd.ds.put(k, JSON.stringify(v));
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
  }

  /** The sysctls felix writes, as the host had them before felix first ran (see resetKernel). */
  private pristine?: string;

  /** Note the host's sysctls before felix first runs: resetKernel() puts them back. */
  async notePristine(): Promise<void> {
    const one = this.ifname(0);
    const files = ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding', `net/ipv4/conf/${one}/rp_filter`, `net/ipv4/conf/${one}/proxy_arp`, `net/ipv4/neigh/${one}/proxy_delay`, `net/ipv6/conf/${one}/proxy_ndp`, `net/ipv6/conf/${one}/forwarding`];
    const values = (await this.lab.hostRun(['sh', '-c', files.map((f) => `cat /proc/sys/${f}`).join('; ')])).stdout.trim().split('\n');
    if (values.length !== files.length) throw new Error(`could not read the host's sysctls: ${values.join(' ')}`);
    const [fwd4, fwd6, rp, arp, delay, ndp, fwd6if] = values;
    // all/forwarding first: the kernel copies it to every interface.
    this.pristine = [
      `echo ${fwd4} > /proc/sys/net/ipv4/ip_forward; echo ${fwd6} > /proc/sys/net/ipv6/conf/all/forwarding`,
      `for d in /proc/sys/net/ipv4/conf/cali*; do echo ${rp} > $d/rp_filter; echo ${arp} > $d/proxy_arp; done`,
      `for d in /proc/sys/net/ipv4/neigh/cali*; do echo ${delay} > $d/proxy_delay; done`,
      `for d in /proc/sys/net/ipv6/conf/cali*; do echo ${ndp} > $d/proxy_ndp; echo ${fwd6if} > $d/forwarding; done`,
    ].join('\n');
  }

  /** Remove the ruleset, the sets and our routes from the host netns. */
  async clearDataplane(): Promise<void> {
    const h = (cmd: string[]) => this.lab.hostRun(cmd);
    await h(['nft', 'flush', 'ruleset']);
    await h(['ipset', 'destroy']);
    await h(['ip', '-4', 'route', 'flush', 'proto', '80']);
    await h(['ip', '-6', 'route', 'flush', 'proto', '80']);
  }

  /**
   * Undo what felix (or the raw load) wrote, for another cold start in the same
   * lab: the dataplane, and the sysctls as notePristine() saw them.
   */
  async resetKernel(): Promise<void> {
    if (!this.pristine) throw new Error('notePristine() first');
    await this.clearDataplane();
    await this.lab.hostRun(['sh', '-c', this.pristine]);
  }

  /**
   * Wait (at most 10 s) until the machine is nearly idle: deleting thousands of
   * interfaces (the previous lab's teardown) leaves the kernel busy for seconds
   * afterwards, which would otherwise land on whichever side is measured next.
   */
  async waitQuiet(): Promise<void> {
    for (const end = Date.now() + 10_000; Date.now() < end; ) if ((await withCpuBusy(() => sleep(250))).busy < 0.1) return;
  }

  /**
   * Start felix; resolves with the ms from spawn to a programmed dataplane (its
   * ready file). Waits on an inotify watch of the run dir, not a poll: a 2 ms
   * poll cost this process ~20-30 ms of CPU a second, taken from the 2 cores
   * that felix's start is measured on.
   */
  async startFelix(env: Record<string, string> = {}): Promise<number> {
    const ready = join(this.lab.runDir, 'felix-ready');
    const t0 = performance.now();
    const p = await this.lab.startFelix({ FELIX_LOGSEVERITYSCREEN: 'info', FELIX_IPTABLESREFRESHINTERVAL: '90', FELIX_ROUTEREFRESHINTERVAL: '90', FELIX_IPSETSREFRESHINTERVAL: '90', FELIX_REPORTINGINTERVALSECS: '30', ...env });
    await new Promise<void>((resolve, reject) => {
      const done = (e?: Error) => {
        watcher.close();
        p.off('exit', exited);
        if (e) reject(e);
        else resolve();
      };
      const exited = (code: number | null) => done(new Error(`felix exited ${code}: ${this.lab.log().slice(-2000)}`));
      const watcher = watch(this.lab.runDir, () => existsSync(ready) && done());
      p.once('exit', exited);
      if (existsSync(ready)) done();
    });
    return performance.now() - t0;
  }

  get felixPid(): number {
    return this.lab.felix!.pid!;
  }

  /** Long-running watcher inside the host netns (ip monitor, nft monitor); lines go to onLine. */
  monitor(cmd: string[], onLine: (line: string) => void): ChildProcess {
    const p = spawn('ip', ['netns', 'exec', this.lab.host, 'stdbuf', '-oL', ...cmd], { stdio: ['ignore', 'pipe', 'ignore'] });
    let buf = '';
    p.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    return p;
  }

  async teardown(): Promise<void> {
    await this.lab?.stopFelix();
    if (this.sink) await deleteNetns(this.sink);
    await this.lab?.down();
    await this.etcd?.stop();
  }
}

/** Jiffies of all CPUs from /proc/stat: idle (idle + iowait) and total. */
function cpuTimes(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: f[3]! + f[4]!, total: f.reduce((a, b) => a + b, 0) };
}

/** Run f, and say how busy the machine's CPUs were meanwhile (0-1, all cores together). */
export async function withCpuBusy<T>(f: () => Promise<T>): Promise<{ value: T; busy: number }> {
  const a = cpuTimes();
  const value = await f();
  const b = cpuTimes();
  return { value, busy: b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0 };
}

export const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
