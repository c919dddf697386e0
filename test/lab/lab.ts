// The multi-host lab (DESIGN.md §5): hosts are network namespaces joined by a bridge
// in a fabric namespace; etcd runs inside the fabric (so every host reaches it over the
// bridge); each host runs `calicoctl node run` for real; workloads are namespaces
// attached with `calicoctl container add`. Every name carries the run id, every process
// lives in a namespace the lab created (so teardown ends them by PID), and teardown
// also runs from the process exit handler after a failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type ExecResult, type ExecOptions } from '@calico/libcalico';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { requireRoot, runId } from '../helpers/netns.js';
import { destroySync, labDir, netnsPids, saveState, type LabState } from './cleanup.js';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CALICOCTL = join(REPO_ROOT, 'packages/calicoctl/dist/main.bundle.js');
const ECHO = join(REPO_ROOT, 'test/lab/echo.mjs');

export interface LabHost {
  /** node name (`h1`, `h2`, …); the etcd is private to the lab, so short names are unique */
  name: string;
  index: number;
  netns: string;
  /** the host's uplink interface (inside `netns`) */
  uplink: string;
  ip4: string;
  ip6: string;
  /** per-host run/log/confd dirs live under here */
  dir: string;
  /** env for every calicoctl / node process of this host */
  env: Record<string, string>;
  nodeRunning: boolean;
}

export interface Workload {
  name: string;
  netns: string;
  host: LabHost;
  ip4?: string;
  ip6?: string;
  profiles: string[];
}

export interface PingResult {
  ok: boolean;
  ttl?: number;
  rttMs?: number;
  output: string;
}

export interface EchoResult {
  ok: boolean;
  /** `ok`, `timeout`, `ECONNREFUSED`, … */
  detail: string;
}

export interface NodeProcess {
  pid: number;
  /** supervisor, felix, confd, bird, bird6 or the command name */
  role: string;
  rssKiB: number;
  /**
   * Its private pages (smaps Private_Clean + Private_Dirty). RSS adds the
   * pages it shares (the node binary and libraries, mapped by every node
   * process), so RSS summed over processes counts those once per process.
   */
  privateKiB: number;
  /** CPU time used so far (user + system), in seconds */
  cpuS: number;
  cmdline: string;
}

export interface BgpSession {
  /** BIRD protocol name: Mesh_…, Node_…, Global_… */
  name: string;
  state: string;
  /** `Established`, `Active Socket: …`, … */
  info: string;
}

export interface LabOptions {
  /** hosts to add at once (default 0; `addHost()` adds more) */
  hosts?: number;
  /** progress output (the demo prints it; tests leave it quiet) */
  log?: (line: string) => void;
  /** extra env for every node (e.g. `FELIX_LOGSEVERITYSCREEN`) */
  nodeEnv?: Record<string, string>;
}

export interface StartNodeOptions {
  as?: number;
  /** give the node an IPv6 address (default true) */
  ip6?: boolean;
  extraArgs?: string[];
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `fn` until it returns something truthy; the error names what was awaited and the last value seen. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, opts: WaitOptions = {}): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e instanceof Error ? e.message : e;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`);
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

// Labs still up in this process: the exit handler destroys them if a run dies half-way.
const live = new Set<Lab>();
let handlersInstalled = false;
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const lab of live) destroySync(lab.state);
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)));
  }
}

export class Lab {
  readonly id: string;
  readonly dir: string;
  readonly fabric: string;
  readonly bridge: string;
  /** 198.18.<k>.0/24 for the fabric, picked from the run id */
  readonly subnet4: string;
  readonly subnet6: string;
  /** the fabric's own address: etcd listens here and hosts route default via it */
  readonly fabricIp4: string;
  readonly fabricIp6: string;
  /** suggested workload pools for this run (inside 198.18.0.0/15 and fd00::/8) */
  readonly pool4: string;
  readonly pool6: string;
  readonly hosts: LabHost[] = [];
  readonly workloads: Workload[] = [];
  readonly state: LabState;
  etcd!: TestEtcd;
  private readonly log: (line: string) => void;
  private readonly nodeEnv: Record<string, string>;
  private readonly octet: number;
  private readonly v6prefix: string;
  private echoServers = new Map<string, { proc: ChildProcess; ready: Promise<void> }>();
  private workloadSeq = 0;
  private hostSeq = 0;
  private tornDown = false;

  private constructor(opts: LabOptions) {
    this.id = runId();
    this.dir = labDir(this.id);
    this.fabric = `${this.id}fab`;
    this.bridge = `${this.id}br`;
    this.octet = parseInt(this.id.slice(0, 2), 16);
    this.v6prefix = `fd00:${parseInt(this.id.slice(0, 4), 16).toString(16)}`; // canonical (no leading zeros), as ip prints it
    this.subnet4 = `198.18.${this.octet}.0/24`;
    this.subnet6 = `${this.v6prefix}::/64`;
    this.fabricIp4 = `198.18.${this.octet}.254`;
    this.fabricIp6 = `${this.v6prefix}::fe`;
    this.pool4 = `198.19.${this.octet}.0/24`;
    this.pool6 = `${this.v6prefix}:1::/112`;
    this.log = opts.log ?? (() => {});
    this.nodeEnv = opts.nodeEnv ?? {};
    this.state = { id: this.id, dir: this.dir, netns: [], dirs: [] };
  }

  /** Fabric + bridge + etcd (inside the fabric), then `opts.hosts` hosts. */
  static async create(opts: LabOptions = {}): Promise<Lab> {
    requireRoot();
    if (!existsSync(CALICOCTL)) {
      throw new Error(`calicoctl is not built (${CALICOCTL} missing): run \`npx tsc -b\` or \`npm run setup\``);
    }
    const lab = new Lab(opts);
    mkdirSync(lab.dir, { recursive: false });
    saveState(lab.state);
    live.add(lab);
    installExitHandlers();
    try {
      await lab.createFabric();
      for (let i = 0; i < (opts.hosts ?? 0); i++) await lab.addHost();
    } catch (e) {
      await lab.teardown();
      throw e;
    }
    return lab;
  }

  /** `ETCD_ENDPOINTS` value (reachable from the hosts and the fabric, not from the root namespace). */
  get etcdEndpoints(): string {
    return this.etcd.endpoint;
  }

  private async addNetns(name: string): Promise<void> {
    await run(['ip', 'netns', 'add', name]);
    this.state.netns.push(name);
    saveState(this.state);
    await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  }

  private async createFabric(): Promise<void> {
    const t0 = Date.now();
    const f = this.fabric;
    await this.addNetns(f);
    await run(['ip', '-n', f, 'link', 'add', this.bridge, 'type', 'bridge']);
    await run(['ip', '-n', f, 'addr', 'add', `${this.fabricIp4}/24`, 'dev', this.bridge]);
    await run(['ip', '-n', f, '-6', 'addr', 'add', `${this.fabricIp6}/64`, 'dev', this.bridge, 'nodad']);
    await run(['ip', '-n', f, 'link', 'set', this.bridge, 'up']);
    this.etcd = await startEtcd({ netns: f, host: this.fabricIp4 });
    this.state.dirs.push(this.etcd.dir);
    saveState(this.state);
    this.log(`fabric ${f}: bridge ${this.bridge} ${this.subnet4} ${this.subnet6}, etcd ${this.etcd.endpoint} (${Date.now() - t0} ms)`);
  }

  /** A host namespace with an uplink on the fabric bridge and a default route via the fabric. */
  async addHost(): Promise<LabHost> {
    const index = ++this.hostSeq; // reserved at once, so concurrent calls get distinct hosts
    if (index > 250) throw new Error('lab: at most 250 hosts');
    const name = `h${index}`;
    const netns = `${this.id}${name}`;
    const uplink = `${this.id}up`;
    const port = `${this.id}p${index}`;
    const ip4 = `198.18.${this.octet}.${index}`;
    const ip6 = `${this.v6prefix}::${index.toString(16)}`;
    const dir = join(this.dir, name);
    for (const d of ['run', 'log', 'confd']) mkdirSync(join(dir, d), { recursive: true });
    await this.addNetns(netns);
    await run(['ip', 'link', 'add', uplink, 'netns', netns, 'type', 'veth', 'peer', 'name', port, 'netns', this.fabric]);
    await run(['ip', '-n', this.fabric, 'link', 'set', port, 'master', this.bridge, 'up']);
    await run(['ip', '-n', netns, 'addr', 'add', `${ip4}/24`, 'dev', uplink]);
    await run(['ip', '-n', netns, '-6', 'addr', 'add', `${ip6}/64`, 'dev', uplink, 'nodad']);
    await run(['ip', '-n', netns, 'link', 'set', uplink, 'up']);
    // A real host has an upstream router; without a unicast route to 169.254.1.1 through
    // another interface, proxy ARP never answers for the workloads' gateway (lab-notes §3).
    await run(['ip', '-n', netns, 'route', 'add', 'default', 'via', this.fabricIp4, 'dev', uplink]);
    await run(['ip', '-n', netns, '-6', 'route', 'add', 'default', 'via', this.fabricIp6, 'dev', uplink]);
    const host: LabHost = {
      name,
      index,
      netns,
      uplink,
      ip4,
      ip6,
      dir,
      nodeRunning: false,
      env: {
        ETCD_ENDPOINTS: this.etcd.endpoint,
        NODENAME: name,
        CALICO_RUN_DIR: join(dir, 'run'),
        CALICO_LOG_DIR: join(dir, 'log'),
        CALICO_CONFD_DIR: join(dir, 'confd'),
        ...this.nodeEnv,
      },
    };
    this.hosts.push(host);
    this.hosts.sort((a, b) => a.index - b.index);
    this.log(`host ${name}: netns ${netns}, ${uplink} ${ip4} ${ip6}`);
    return host;
  }

  host(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`lab: no host ${name}`);
    return h;
  }

  /** Run a command inside a namespace (host, workload or fabric). */
  exec(netns: string, cmd: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', netns, ...cmd], opts);
  }

  /** Env for calicoctl: the host's own (per-host dirs, node name) or, for the fabric, just etcd. */
  private ctlEnv(target: LabHost | 'fabric'): NodeJS.ProcessEnv {
    const base: NodeJS.ProcessEnv = { ...process.env };
    for (const k of Object.keys(base)) if (/^(ETCD_|CALICO_|FELIX_|NODENAME$)/.test(k)) delete base[k];
    return target === 'fabric' ? { ...base, ETCD_ENDPOINTS: this.etcd.endpoint } : { ...base, ...target.env };
  }

  /** `calicoctl ARGS` run inside a host (or the fabric), as an operator on that host would. */
  calicoctl(target: LabHost | 'fabric', args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const ns = target === 'fabric' ? this.fabric : target.netns;
    return this.exec(ns, [process.execPath, CALICOCTL, ...args], { timeoutMs: 60_000, ...opts, env: this.ctlEnv(target) });
  }

  /** `calicoctl node run` on a host; on failure the error carries the tail of the node's logs. */
  async startNode(host: LabHost, opts: StartNodeOptions = {}): Promise<void> {
    const t0 = Date.now();
    const args = ['node', 'run', '--name', host.name, '--ip', host.ip4];
    if (opts.ip6 ?? true) args.push('--ip6', host.ip6);
    if (opts.as !== undefined) args.push('--as', String(opts.as));
    args.push(...(opts.extraArgs ?? []));
    host.nodeRunning = true; // teardown must try `node stop` even if this fails half-way
    const r = await this.calicoctl(host, args, { allowFail: true, timeoutMs: 90_000 });
    if (r.code !== 0) {
      throw new Error(`calicoctl ${args.join(' ')} on ${host.netns} exited ${r.code}: ${(r.stderr || r.stdout).trim()}\n${this.logTail(host)}`);
    }
    this.log(`node ${host.name}: running (${Date.now() - t0} ms)`);
  }

  /** Start nodes on all hosts (or the given ones) in parallel; waits for every `node run` before reporting a failure. */
  async startNodes(hosts: LabHost[] = this.hosts, opts: StartNodeOptions = {}): Promise<void> {
    const results = await Promise.allSettled(hosts.map((h) => this.startNode(h, opts)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length) throw failed[0]!.reason;
  }

  async stopNode(host: LabHost): Promise<ExecResult> {
    const r = await this.calicoctl(host, ['node', 'stop'], { allowFail: true, timeoutMs: 30_000 });
    if (r.code === 0) host.nodeRunning = false;
    return r;
  }

  /** The last lines of every log file of a host (for error messages). */
  logTail(host: LabHost, lines = 15): string {
    const dir = join(host.dir, 'log');
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else {
          const text = readFileSync(p, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
          out.push(`--- ${p}\n${text}`);
        }
      }
    };
    if (existsSync(dir)) walk(dir);
    return out.join('\n');
  }

  /**
   * A workload namespace attached to `host` by `calicoctl container add` (run inside
   * the host). `ip` is an address, a pool CIDR, `ipv4` or `ipv6`; `ip6` adds a second
   * (IPv6) address with `calicoctl container ip add`. The addresses are read back
   * from the workload's interface.
   */
  async addWorkload(
    host: LabHost,
    opts: { name?: string; ip?: string; ip6?: string; profiles?: string[]; netns?: string } = {},
  ): Promise<Workload> {
    const netns = opts.netns ?? (await this.workloadNetns());
    const name = opts.name ?? netns.slice(this.id.length);
    const profiles = opts.profiles ?? [];
    const path = `/var/run/netns/${netns}`;
    const add = ['container', 'add', path, opts.ip ?? 'ipv4', ...profiles.flatMap((p) => ['--profile', p])];
    await this.calicoctl(host, add);
    if (opts.ip6) await this.calicoctl(host, ['container', path, 'ip', 'add', opts.ip6]);
    const w: Workload = { name, netns, host, profiles, ...(await this.workloadAddresses(netns)) };
    this.workloads.push(w);
    this.log(`workload ${name} on ${host.name}: netns ${netns} ${[w.ip4, w.ip6].filter(Boolean).join(' ')} profiles [${profiles.join(', ')}]`);
    return w;
  }

  /** A new, empty workload namespace (the "container" before `calicoctl container add`). */
  async workloadNetns(): Promise<string> {
    const netns = `${this.id}w${++this.workloadSeq}`;
    await this.addNetns(netns);
    return netns;
  }

  async removeWorkload(w: Workload): Promise<void> {
    await this.calicoctl(w.host, ['container', 'remove', `/var/run/netns/${w.netns}`]);
    this.workloads.splice(this.workloads.indexOf(w), 1);
  }

  /** Global addresses inside a workload namespace. */
  async workloadAddresses(netns: string): Promise<{ ip4?: string; ip6?: string }> {
    const r = await run(['ip', '-n', netns, '-j', 'addr', 'show']);
    const ifs = JSON.parse(r.stdout) as { ifname: string; addr_info: { family: string; local: string; scope: string }[] }[];
    const addrs = ifs.filter((i) => i.ifname !== 'lo').flatMap((i) => i.addr_info.filter((a) => a.scope === 'global'));
    return {
      ip4: addrs.find((a) => a.family === 'inet')?.local,
      ip6: addrs.find((a) => a.family === 'inet6')?.local,
    };
  }

  /** One ping from a workload (or any namespace of the lab); `ok` with the reply's TTL. */
  async ping(from: Workload | string, to: string, opts: { timeoutS?: number; size?: number; dontFragment?: boolean } = {}): Promise<PingResult> {
    const ns = typeof from === 'string' ? from : from.netns;
    const args = ['ping', '-n', '-c', '1', '-W', String(opts.timeoutS ?? 1)];
    if (to.includes(':')) args.push('-6');
    if (opts.size !== undefined) args.push('-s', String(opts.size));
    if (opts.dontFragment) args.push('-M', 'do');
    args.push(to);
    const r = await this.exec(ns, args, { allowFail: true, timeoutMs: (opts.timeoutS ?? 1) * 1000 + 5000 });
    const ttl = /ttl=(\d+)/.exec(r.stdout);
    const rtt = /time=([\d.]+) ms/.exec(r.stdout);
    return {
      ok: r.code === 0,
      ttl: ttl ? Number(ttl[1]) : undefined,
      rttMs: rtt ? Number(rtt[1]) : undefined,
      output: (r.stdout + r.stderr).trim(),
    };
  }

  /** Wait until `from` can ping `to` (routes converge asynchronously). */
  waitPing(from: Workload | string, to: string, opts: WaitOptions = {}): Promise<PingResult> {
    return waitFor(`ping ${typeof from === 'string' ? from : from.name} -> ${to}`, async () => {
      const r = await this.ping(from, to, { timeoutS: 0.5 });
      return r.ok ? r : undefined;
    }, { intervalMs: 100, ...opts });
  }

  /** An echo server (TCP and UDP on `port`) inside the workload, started once (concurrent callers share it). */
  private echoServer(w: Workload, port: number): Promise<void> {
    const key = `${w.netns}:${port}`;
    const known = this.echoServers.get(key);
    if (known) return known.ready;
    const proc = spawn('ip', ['netns', 'exec', w.netns, process.execPath, ECHO, 'serve', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = new Promise<void>((resolve, reject) => {
      let err = '';
      proc.stderr!.on('data', (d) => (err += d));
      proc.stdout!.once('data', () => resolve());
      proc.once('exit', (c) => reject(new Error(`echo server in ${w.netns} exited ${c}: ${err}`)));
    });
    this.echoServers.set(key, { proc, ready });
    return ready;
  }

  private async echo(proto: 'tcp' | 'udp', from: Workload, to: Workload, opts: { port?: number; v6?: boolean; timeoutMs?: number }): Promise<EchoResult> {
    const port = opts.port ?? 7007;
    const ip = opts.v6 ? to.ip6 : to.ip4;
    if (!ip) throw new Error(`workload ${to.name} has no ${opts.v6 ? 'IPv6' : 'IPv4'} address`);
    await this.echoServer(to, port);
    const r = await this.exec(from.netns, [process.execPath, ECHO, 'send', proto, ip, String(port), String(opts.timeoutMs ?? 1000)], { allowFail: true });
    return { ok: r.code === 0, detail: (r.stdout.trim() || r.stderr.trim()) };
  }

  /** A TCP round trip from one workload to an echo server in another. */
  tcpEcho(from: Workload, to: Workload, opts: { port?: number; v6?: boolean; timeoutMs?: number } = {}): Promise<EchoResult> {
    return this.echo('tcp', from, to, opts);
  }

  udpEcho(from: Workload, to: Workload, opts: { port?: number; v6?: boolean; timeoutMs?: number } = {}): Promise<EchoResult> {
    return this.echo('udp', from, to, opts);
  }

  /** Routes BIRD installed in a host's kernel (`proto bird`), as `ip route` lines. */
  async birdRoutes(host: LabHost, v6 = false): Promise<string[]> {
    const r = await run(['ip', '-n', host.netns, ...(v6 ? ['-6'] : []), 'route', 'show', 'proto', 'bird']);
    return r.stdout.split('\n').filter(Boolean);
  }

  /** BGP sessions of a host's BIRD (`birdc show protocols`, BGP rows only). */
  async bgpSessions(host: LabHost, v6 = false): Promise<BgpSession[]> {
    const socket = join(host.env.CALICO_RUN_DIR!, v6 ? 'bird6.ctl' : 'bird.ctl');
    const r = await this.exec(host.netns, [v6 ? 'birdc6' : 'birdc', '-s', socket, 'show', 'protocols'], { allowFail: true, timeoutMs: 5000 });
    if (r.code !== 0) throw new Error(`birdc on ${host.name}: ${(r.stdout + r.stderr).trim()}`);
    return r.stdout
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter((t) => t[1] === 'BGP')
      .map((t) => ({ name: t[0]!, state: t[3]!, info: t.slice(5).join(' ') }))
      .map((s) => (/^\d/.test(s.info) ? { ...s, info: s.info.replace(/^\S+\s*/, '') } : s));
  }

  /**
   * Wait until every given host has at least `perHost` BGP sessions (default: one per
   * other host, the full mesh) and all of them are Established, for IPv4 and (unless
   * `v4only`) IPv6.
   */
  async waitEstablished(hosts: LabHost[] = this.hosts, opts: WaitOptions & { perHost?: number; v4only?: boolean } = {}): Promise<void> {
    const want = opts.perHost ?? hosts.length - 1;
    await Promise.all(
      hosts.flatMap((h) =>
        (opts.v4only ? [false] : [false, true]).map((v6) =>
          waitFor(`${want} Established BGP${v6 ? ' (IPv6)' : ''} sessions on ${h.name}`, async () => {
            const s = await this.bgpSessions(h, v6);
            return s.length >= want && s.every((x) => x.info.startsWith('Established')) ? s : undefined;
          }, { timeoutMs: 30_000, intervalMs: 100, ...opts }),
        ),
      ),
    );
  }

  /** `calicoctl apply -f -` (from the fabric) with the given resources. */
  async apply(resources: object[]): Promise<void> {
    const input = resources.map((r) => JSON.stringify(r)).join('\n---\n');
    await this.calicoctl('fabric', ['apply', '-f', '-'], { input });
  }

  /** Processes living in a host's namespace, with their role, resident memory and CPU time. */
  processes(host: LabHost): NodeProcess[] {
    const procs = netnsPids(host.netns).flatMap((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const rss = /VmRSS:\s+(\d+)/.exec(status);
        // /proc/PID/stat after "(comm) ": state, ppid, …; fields 14 and 15 (utime, stime) in clock ticks (USER_HZ = 100)
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (f[0] === 'Z') return []; // exited, not yet reaped
        const cpuS = (Number(f[11]) + Number(f[12])) / 100;
        return [{ pid, ppid: Number(f[1]), role: roleOf(argv), rssKiB: rss ? Number(rss[1]) : 0, privateKiB: privateKiB(pid), cpuS, cmdline: argv.join(' ') }];
      } catch {
        return []; // exited meanwhile
      }
    });
    // A child between fork and exec still shows its parent's command line
    // (for ~5 ms on these machines: confd starting a birdc looked like a second confd).
    const cmdline = new Map(procs.map((p) => [p.pid, p.cmdline]));
    const started = procs.filter((p) => cmdline.get(p.ppid) !== p.cmdline);
    // Children of felix (its long-running ip / ipset / iptables-nft-restore) and
    // of confd (a `bird -p` config check, a `birdc configure`, for a moment each)
    // are helpers of theirs, whatever they run.
    const byPid = new Map(started.map((p) => [p.pid, p]));
    const helperOf = (p: (typeof started)[number]): string | undefined => {
      for (let up = byPid.get(p.ppid); up; up = byPid.get(up.ppid)) if (up.role === 'felix' || up.role === 'confd') return up.role;
      return undefined;
    };
    return started.map((p) => {
      const owner = helperOf(p);
      const { ppid: _, ...rest } = p;
      return owner ? { ...rest, role: `${owner}-helper` } : rest;
    });
  }

  /** Keep the lab running after this process exits (demo --keep): no exit-handler teardown. */
  detach(): void {
    live.delete(this);
    this.etcd.proc.unref();
    for (const s of this.echoServers.values()) s.proc.unref();
  }

  /**
   * `calicoctl node stop` on every host that ran a node, then end whatever still lives
   * in the lab's namespaces (by PID), delete the namespaces and the dirs. Never throws;
   * returns the problems it met (a node stop that failed, processes that had to be killed).
   */
  async teardown(): Promise<string[]> {
    if (this.tornDown) return [];
    this.tornDown = true;
    const problems: string[] = [];
    const t0 = Date.now();
    await Promise.all(
      this.hosts.filter((h) => h.nodeRunning).map(async (h) => {
        try {
          const r = await this.stopNode(h);
          if (r.code !== 0) problems.push(`node stop on ${h.name} exited ${r.code}: ${(r.stderr || r.stdout).trim()}`);
        } catch (e) {
          problems.push(`node stop on ${h.name}: ${(e as Error).message}`);
        }
      }),
    );
    for (const h of this.hosts) {
      const left = this.processes(h);
      if (left.length) problems.push(`left running on ${h.name} after node stop: ${left.map((p) => `${p.role}(${p.pid})`).join(', ')}`);
    }
    destroySync(this.state);
    live.delete(this);
    this.log(`teardown: ${this.state.netns.length} namespaces removed (${Date.now() - t0} ms)`);
    return problems;
  }
}

/** A process's private memory (smaps Private_Clean + Private_Dirty), in KiB: see NodeProcess.privateKiB. */
export function privateKiB(pid: number): number {
  const smaps = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return [...smaps.matchAll(/^Private_(?:Clean|Dirty):\s+(\d+) kB/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

/** Which node component a process is, from its argv. */
export function roleOf(argv: string[]): string {
  const exe = (argv[0] ?? '').split('/').pop() ?? '';
  if (exe === 'bird' || exe === 'bird6' || exe === 'etcd') return exe;
  // the script is the first argument that is not a node flag (felix runs with V8 flags)
  const script = argv.slice(1).find((a) => !a.startsWith('-')) ?? '';
  if (/felix/.test(script)) return 'felix';
  if (/confd/.test(script)) return 'confd';
  if (/calicoctl/.test(script)) return 'supervisor';
  return exe;
}
