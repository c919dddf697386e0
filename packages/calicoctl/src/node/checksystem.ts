import { accessSync, constants, existsSync } from 'node:fs';
import { findProgram, run } from '@calico/libcalico/exec';
import type { EtcdConfig } from '@calico/libcalico/config';
import { nodeBinary, type Backend } from './children.js';

/** One line of `node checksystem`: what was checked, OK or the precise problem and fix. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
}

export interface CheckOptions {
  backend: Backend;
  etcd: EtcdConfig;
  env?: NodeJS.ProcessEnv;
}

const ok = (name: string, detail = 'OK'): CheckResult => ({ name, ok: true, detail });
const fail = (name: string, detail: string): CheckResult => ({ name, ok: false, detail });

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** `PROG --version` (or -V) succeeds; returns its first line of output. */
async function version(prog: string, flag = '--version'): Promise<string | undefined> {
  try {
    const r = await run([prog, flag], { allowFail: true, timeoutMs: 5000 });
    if (r.code !== 0) return undefined;
    return (r.stdout.trim() || r.stderr.trim()).split('\n')[0];
  } catch {
    return undefined;
  }
}

function checkForwarding(): CheckResult {
  const name = 'IPv4 forwarding';
  const f = '/proc/sys/net/ipv4/ip_forward';
  if (!existsSync(f)) return fail(name, `${f} is missing: the kernel has no IPv4 networking`);
  if (!writable(f)) return fail(name, `${f} is not writable: run calicoctl as root in the host's network namespace`);
  return ok(name);
}

function checkIpv6(): CheckResult {
  const f = '/proc/sys/net/ipv6/conf/all/forwarding';
  // not fatal: a node without IPv6 still routes IPv4 (bird6 just has nothing to do)
  if (!existsSync(f)) return ok('IPv6 forwarding', 'not available: IPv6 is disabled here (no /proc/sys/net/ipv6), IPv4 only');
  return writable(f) ? ok('IPv6 forwarding') : fail('IPv6 forwarding', `${f} is not writable: run as root`);
}

function checkConntrack(): CheckResult {
  return existsSync('/proc/sys/net/netfilter/nf_conntrack_max') || existsSync('/proc/net/nf_conntrack')
    ? ok('conntrack')
    : fail('conntrack', 'connection tracking is not available: build the kernel with CONFIG_NF_CONNTRACK (felix needs it for ESTABLISHED/RELATED rules)');
}

async function checkIptables(env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const name = 'iptables';
  const backend = (env.FELIX_IPTABLESBACKEND ?? 'auto').toLowerCase();
  const candidates = backend === 'nft' ? ['iptables-nft'] : backend === 'legacy' ? ['iptables-legacy'] : ['iptables', 'iptables-nft', 'iptables-legacy'];
  for (const prog of candidates) {
    const bin = findProgram(prog, env);
    const v = bin && (await version(bin));
    if (v) return ok(name, `OK (${v})`);
  }
  return fail(name, `${candidates.join(' / ')} not found or not working: apt-get install iptables (FELIX_IPTABLESBACKEND=${backend})`);
}

async function checkIpset(env: NodeJS.ProcessEnv): Promise<CheckResult> {
  const bin = findProgram('ipset', env);
  if (!bin) return fail('ipset', 'ipset is not installed: apt-get install ipset');
  // listing names talks to the kernel without creating anything
  const r = await run([bin, 'list', '-n'], { allowFail: true, timeoutMs: 5000 });
  if (r.code !== 0) return fail('ipset', `the kernel rejected ipset (${r.stderr.trim()}): it needs CONFIG_IP_SET with hash:ip and hash:net`);
  return ok('ipset');
}

async function checkBird(env: NodeJS.ProcessEnv): Promise<CheckResult[]> {
  return Promise.all(
    ['bird', 'bird6', 'birdc', 'birdc6'].map(async (prog) => {
      const bin = findProgram(prog, env);
      if (!bin) return fail(prog, `${prog} is not installed: apt-get install bird (BIRD 1.6), or run with --backend none`);
      if (prog.startsWith('birdc')) return ok(prog, `OK (${bin})`);
      const v = await version(bin);
      if (!v) return fail(prog, `${bin} --version failed`);
      if (!/ 1\.\d/.test(v)) return fail(prog, `${v}: BIRD 1.x is required (bird.cfg uses the 1.6 syntax)`);
      return ok(prog, `OK (${v})`);
    }),
  );
}

function checkOurBinary(pkg: 'felix' | 'confd', env: NodeJS.ProcessEnv): CheckResult {
  const name = `calico-${pkg}`;
  let argv: string[];
  try {
    argv = nodeBinary(pkg, env);
  } catch (e) {
    return fail(name, `cannot locate @calico/${pkg}: ${(e as Error).message}`);
  }
  const file = argv[argv.length - 1]!;
  const envVar = pkg === 'felix' ? 'CALICO_FELIX_BIN' : 'CALICO_CONFD_BIN';
  return existsSync(file) ? ok(name, `OK (${file})`) : fail(name, `${file} does not exist: run \`npm run build\`, or set ${envVar}`);
}

async function checkEtcd(cfg: EtcdConfig): Promise<CheckResult> {
  const name = 'etcd';
  const where = cfg.endpoints.join(',');
  // etcd's JSON gateway, as the rest of calicoctl: loading the gRPC client
  // would cost `node run` more than the check itself.
  const { GatewayDatastore } = await import('@calico/libcalico/datastore/gateway');
  const ds = new GatewayDatastore(cfg);
  try {
    // the configured timeout, and one retry: on a loaded host a first read can miss it
    const read = () => ds.get('/calico/resources/v3/projectcalico.org/clusterinformations/default');
    await read().catch(read);
    return ok(name, `OK (${where})`);
  } catch (e) {
    return fail(name, `${(e as Error).message}: start etcd at ${where} or point ETCD_ENDPOINTS / --etcd-endpoints at it`);
  } finally {
    await ds.close().catch(() => {});
  }
}

/** Everything a node needs on this host; never throws, each problem is a failed line. */
export async function checkSystem(opts: CheckOptions): Promise<CheckResult[]> {
  const env = opts.env ?? process.env;
  // the slow checks (programs, etcd) run side by side; the order of the lines stays fixed
  const [iptables, ipset, bird, etcd] = await Promise.all([
    checkIptables(env),
    checkIpset(env),
    opts.backend === 'bird' ? checkBird(env) : Promise.resolve([]),
    checkEtcd(opts.etcd),
  ]);
  return [
    process.getuid?.() === 0 ? ok('running as root') : fail('running as root', 'calicoctl node needs root (sysctls, iptables, BIRD): run it as root'),
    checkForwarding(),
    checkIpv6(),
    checkConntrack(),
    iptables,
    ipset,
    ...bird,
    ...(opts.backend === 'bird' ? [checkOurBinary('confd', env)] : []),
    checkOurBinary('felix', env),
    etcd,
  ];
}

export function formatChecks(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length)) + 2;
  return results.map((r) => `${r.name.padEnd(width)}${r.ok ? r.detail : `FAIL: ${r.detail}`}`).join('\n') + '\n';
}
