// Lab for felix tests: a host netns with an uplink to a fabric netns, workload
// netns attached by cali veths, etcd reachable from inside the host netns
// through a unix socket (the filesystem is shared across network namespaces;
// the test process itself uses etcd's loopback TCP port), and felix as a child
// process inside the host netns.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { attachWorkload, run, workloadEndpointName } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { shebangNodeFlags } from '@calico/libcalico/exec';
import { freePort } from '../../../test/helpers/etcd.js';
import { createNetns, deleteNetns, inNs, requireRoot, runId } from '../../../test/helpers/netns.js';

export const FELIX_MAIN = resolve(import.meta.dirname, '../dist/main.bundle.js');
const ECHO = resolve(import.meta.dirname, 'echo.mjs');

export const RES = '/calico/resources/v3/projectcalico.org';

/** etcd listening on 127.0.0.1:<port> (for the test) and on a unix socket (for felix in a netns). */
export interface UnixEtcd {
  tcp: string;
  /** `unix:///…/etcd.sock:0`, usable as ETCD_ENDPOINTS inside any netns */
  unix: string;
  ds: EtcdDatastore;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

export async function startUnixEtcd(): Promise<UnixEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'fx-etcd-'));
  const [cport, pport] = [await freePort(), await freePort()];
  const tcp = `http://127.0.0.1:${cport}`;
  // etcd takes a unix listen URL as unix://<host>:<port> and creates the socket
  // file "<host>:<port>" in its working directory: run it in `dir`.
  const sock = `unix://etcd.sock:${cport}`;
  const args = [
    '--name', 'fx', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `${tcp},${sock}`, '--advertise-client-urls', tcp,
    '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
    '--initial-cluster', `fx=http://127.0.0.1:${pport}`, '--log-level', 'error',
  ];
  let proc: ChildProcess;
  const launch = () => {
    rmSync(join(dir, `etcd.sock:${cport}`), { force: true }); // left behind by a kill -9
    proc = spawn('etcd', args, { cwd: dir, stdio: 'ignore', env: { ...process.env, ETCD_HEARTBEAT_INTERVAL: '10', ETCD_ELECTION_TIMEOUT: '100' } });
    proc.on('error', () => {});
  };
  const ds = new EtcdDatastore({ endpoints: [tcp], timeoutMs: 2000 });
  const healthy = async () => {
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode}`);
      if (await ds.get('/health').then(() => true, () => false)) return;
      await sleep(50);
    }
    throw new Error('etcd did not become ready');
  };
  const kill = async () => {
    if (proc.exitCode !== null || proc.signalCode) return;
    const done = new Promise((r) => proc.once('close', r));
    proc.kill('SIGKILL');
    await done;
  };
  launch();
  await healthy();
  return {
    tcp,
    unix: `unix://${join(dir, `etcd.sock:${cport}`)}`,
    ds,
    kill,
    restart: async () => {
      await kill();
      launch();
      await healthy();
    },
    stop: async () => {
      await ds.close();
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until f() is truthy (generous deadline: this is about convergence, not speed). */
export async function eventually<T>(f: () => Promise<T>, what: string, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(100);
  }
}

export interface Workload {
  ns: string;
  workload: string;
  ifname: string;
  ipv4: string[];
  ipv6: string[];
  key: string;
}

/**
 * One host: netns `fxh-<id>` with eth0 198.18.0.1/24 (+ fd00:18::1/64) to a
 * fabric netns (198.18.0.254, the upstream router stand-in, needed for proxy
 * ARP to answer), workloads in netns `fxw<n>-<id>`.
 */
export class Lab {
  readonly id = runId();
  readonly host = `fxh-${this.id}`;
  readonly fabric = `fxf-${this.id}`;
  readonly node = `node-${this.id}`;
  readonly runDir = mkdtempSync(join(tmpdir(), `fx-run-${this.id}-`));
  readonly workloads: Workload[] = [];
  felix?: ChildProcess;
  private logFd?: number;
  readonly logPath = join(this.runDir, 'felix.log');
  metricsPort = 0;

  constructor(readonly etcd: UnixEtcd) {}

  async up(opts: { rpFilterAll?: string } = {}): Promise<void> {
    requireRoot();
    await createNetns(this.host);
    await createNetns(this.fabric);
    await run(['ip', 'link', 'add', 'eth0', 'netns', this.host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', this.fabric]);
    await run(['ip', '-n', this.host, '-batch', '-'], {
      input: [
        'addr add 198.18.0.1/24 dev eth0',
        'addr add fd00:18::1/64 dev eth0 nodad',
        'link set eth0 up',
        'route add default via 198.18.0.254 dev eth0',
        'route add default via fd00:18::254 dev eth0',
      ].join('\n'),
    });
    await run(['ip', '-n', this.fabric, '-batch', '-'], {
      input: ['addr add 198.18.0.254/24 dev eth0', 'addr add fd00:18::254/64 dev eth0 nodad', 'link set eth0 up'].join('\n'),
    });
    if (opts.rpFilterAll) await inNs(this.host, ['sysctl', '-qw', `net.ipv4.conf.all.rp_filter=${opts.rpFilterAll}`]);
  }

  /** A workload netns with a cali veth into the host (the WorkloadEndpoint is written separately). */
  async addWorkload(n: number, ipv4: string[], ipv6: string[] = []): Promise<Workload> {
    const ns = await createNetns(`fxw${n}-${this.id}`);
    const ifname = `cali${this.id}w${n}`.slice(0, 15);
    await attachWorkload({ netnsPath: `/var/run/netns/${ns}`, hostNetns: `/var/run/netns/${this.host}`, hostIfName: ifname, containerIfName: 'eth0', ipv4, ipv6 });
    const name = workloadEndpointName({ node: this.node, orchestrator: 'cni', workload: `w${n}`, endpoint: 'eth0' });
    const w = { ns, ifname, ipv4, ipv6, workload: `w${n}`, key: `${RES}/workloadendpoints/default/${name}` };
    this.workloads.push(w);
    return w;
  }

  /** The veth of a workload made again, same names and addresses (after its host end was deleted). */
  async recreateWorkloadInterface(w: Workload): Promise<void> {
    await attachWorkload({ netnsPath: `/var/run/netns/${w.ns}`, hostNetns: `/var/run/netns/${this.host}`, hostIfName: w.ifname, containerIfName: 'eth0', ipv4: w.ipv4, ipv6: w.ipv6 });
  }

  /** Write (or rewrite) a workload's WorkloadEndpoint. */
  async putEndpoint(w: Workload, profiles: string[], labels: Record<string, string> = {}, node = this.node): Promise<void> {
    const name = w.key.split('/').pop()!;
    await this.etcd.ds.put(
      w.key,
      JSON.stringify({
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: { name, namespace: 'default', labels },
        spec: {
          orchestrator: 'cni', node, workload: w.workload, endpoint: 'eth0', interfaceName: w.ifname, profiles,
          ipNetworks: [...w.ipv4.map((i) => `${i}/32`), ...w.ipv6.map((i) => `${i}/128`)],
        },
      }),
    );
  }

  async put(kind: string, name: string, spec: unknown, extra: { namespace?: string; labels?: Record<string, string> } = {}): Promise<void> {
    const plural = { Profile: 'profiles', GlobalNetworkPolicy: 'globalnetworkpolicies', NetworkPolicy: 'networkpolicies', IPPool: 'ippools', FelixConfiguration: 'felixconfigurations' }[kind]!;
    const key = extra.namespace ? `${RES}/${plural}/${extra.namespace}/${name}` : `${RES}/${plural}/${name}`;
    const metadata = { name, ...(extra.namespace ? { namespace: extra.namespace } : {}), ...(extra.labels ? { labels: extra.labels } : {}) };
    await this.etcd.ds.put(key, JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind, metadata, spec }));
  }

  async del(key: string): Promise<void> {
    await this.etcd.ds.delete(key).catch(() => {});
  }

  async startFelix(env: Record<string, string> = {}): Promise<ChildProcess> {
    this.metricsPort = 9000 + Math.floor(Math.random() * 1000);
    this.logFd = openSync(this.logPath, 'a');
    // The node flags of felix's shebang, then FX_NODE_ARGS: extra ones (e.g. --cpu-prof when profiling a benchmark)
    const nodeArgs = [...shebangNodeFlags(FELIX_MAIN), ...(process.env.FX_NODE_ARGS?.split(' ').filter(Boolean) ?? [])];
    const p = spawn('ip', ['netns', 'exec', this.host, process.execPath, ...nodeArgs, FELIX_MAIN], {
      stdio: ['ignore', this.logFd, this.logFd],
      env: {
        PATH: process.env.PATH,
        NODENAME: this.node,
        ETCD_ENDPOINTS: this.etcd.unix,
        CALICO_RUN_DIR: this.runDir,
        FELIX_LOGSEVERITYSCREEN: 'debug',
        FELIX_PROMETHEUSMETRICSENABLED: 'true',
        FELIX_PROMETHEUSMETRICSPORT: String(this.metricsPort),
        FELIX_HEALTHENABLED: 'true',
        FELIX_IPTABLESREFRESHINTERVAL: '2',
        FELIX_ROUTEREFRESHINTERVAL: '2',
        FELIX_IPSETSREFRESHINTERVAL: '2',
        FELIX_REPORTINGINTERVALSECS: '1',
        ...env,
      },
    });
    p.on('error', () => {});
    this.felix = p;
    return p;
  }

  async stopFelix(): Promise<void> {
    const p = this.felix;
    this.felix = undefined;
    if (p && p.exitCode === null && !p.signalCode) {
      const done = new Promise((r) => p.once('close', r));
      p.kill('SIGTERM');
      await done;
    }
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
  }

  log(): string {
    return readFileSync(this.logPath, 'utf8');
  }

  /** Felix's Prometheus metrics (fetched from inside the host netns). */
  async metrics(): Promise<Record<string, number>> {
    const js = `fetch('http://127.0.0.1:${this.metricsPort}/metrics').then(r=>r.text()).then(t=>process.stdout.write(t))`;
    const r = await inNs(this.host, [process.execPath, '-e', js]);
    const out: Record<string, number> = {};
    for (const line of r.stdout.split('\n')) {
      const m = /^(\w+) (\S+)$/.exec(line);
      if (m) out[m[1]!] = Number(m[2]);
    }
    return out;
  }

  async waitReady(): Promise<void> {
    await eventually(async () => {
      if (this.felix && this.felix.exitCode !== null) throw new Error(`felix exited ${this.felix.exitCode}:\n${this.log().slice(-3000)}`);
      return (await inNs(this.host, ['test', '-e', join(this.runDir, 'felix-ready')], { allowFail: true })).code === 0;
    }, 'felix ready');
  }

  /**
   * Wait until felix has nothing left to do: no apply for a moment, and no
   * deletions waiting for the tidy pass (it comes a second after a change).
   * Periodic refreshes go on, and write nothing when nothing drifted.
   */
  async settle(): Promise<void> {
    let last = -1;
    let m: Record<string, number> = {};
    await eventually(async () => {
      m = await this.metrics();
      const n = m.felix_dataplane_deletions_pending ? -1 : m.felix_dataplane_applies_total ?? 0;
      const same = n >= 0 && n === last;
      last = n;
      return same;
    }, 'felix to settle').catch((e: Error) => {
      const problems = this.log().split('\n').filter((l) => /"level":(40|50|60)/.test(l)).slice(-10);
      throw new Error(`${e.message}; metrics ${JSON.stringify(m)}; felix's last warnings and errors:\n${problems.join('\n')}`);
    });
  }

  ip(args: string[]) {
    return run(['ip', '-n', this.host, ...args]);
  }

  hostRun(cmd: string[]) {
    return inNs(this.host, cmd, { allowFail: true });
  }

  hostRunInput(cmd: string[], input: string) {
    return inNs(this.host, cmd, { allowFail: true, input, timeoutMs: 600_000 });
  }

  async ping(from: Workload, to: string): Promise<boolean> {
    const r = await inNs(from.ns, ['ping', to.includes(':') ? '-6' : '-4', '-c1', '-W1', to], { allowFail: true });
    return r.code === 0;
  }

  /** TCP or UDP round trip through the echo server in `to` (see echo.mjs). */
  async connect(from: Workload, proto: 'tcp' | 'udp', ip: string, port: number): Promise<boolean> {
    const r = await inNs(from.ns, [process.execPath, ECHO, 'client', proto, ip, String(port)], { allowFail: true });
    return r.code === 0;
  }

  /** Start echo servers (tcp and udp) on the given ports inside a workload; killed by down(). */
  async serve(w: Workload, ports: number[]): Promise<void> {
    const p = spawn('ip', ['netns', 'exec', w.ns, process.execPath, ECHO, 'server', ...ports.map(String)], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.servers.push(p);
    await new Promise<void>((res, rej) => {
      p.stdout!.once('data', () => res());
      p.once('exit', (c) => rej(new Error(`echo server exited ${c}`)));
    });
  }
  private readonly servers: ChildProcess[] = [];

  async down(): Promise<void> {
    await this.stopFelix();
    for (const s of this.servers) if (s.exitCode === null) s.kill('SIGKILL');
    for (const w of this.workloads) await deleteNetns(w.ns);
    await deleteNetns(this.host);
    await deleteNetns(this.fabric);
    rmSync(this.runDir, { recursive: true, force: true });
  }
}
