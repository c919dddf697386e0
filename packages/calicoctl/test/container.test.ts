// `calicoctl container …` and `calicoctl endpoint show` end to end: the real
// binary, a private etcd, real network namespaces and veths.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, rmdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ipam, ResourceClient, connectDatastore, defaultHandleId, etcdConfigFromEnv, run, type Datastore } from '@calico/libcalico';
import type { WorkloadEndpoint } from '@calico/libcalico/resources/spec';
import { createNetns, deleteNetns, inNs, requireRoot, runId, linkNames } from '../../../test/helpers/netns.js';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';

const MAIN = fileURLToPath(new URL('../dist/main.bundle.js', import.meta.url));
const id = runId();
const octet = parseInt(id.slice(0, 2), 16);
const HOST = `cch${id}`;
const NODE = `ctl-${id}`;
const POOL4 = `198.19.${octet}.0/24`;
const POOL6 = `fd00:19:${octet.toString(16)}::/112`;
const nsPath = (ns: string) => `/var/run/netns/${ns}`;
const created: string[] = [];
let etcd: TestEtcd;
let ds: Datastore;
let client: ResourceClient;

/** Run calicoctl against the test etcd; never throws (tests look at code/stdout/stderr). */
function ctl(args: string[], opts: { netns?: string; endpoint?: string; env?: NodeJS.ProcessEnv } = {}) {
  const env = { ...process.env, ETCD_ENDPOINTS: opts.endpoint ?? etcd.endpoint, NODENAME: NODE, ...opts.env };
  const cmd = ['node', MAIN, ...args];
  return run(opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...cmd] : cmd, { env, allowFail: true });
}
/** calicoctl with the host end of veths in HOST (calicoctl itself stays in the root netns, next to etcd). */
const ctlHost = (args: string[]) => ctl([...args, '--host-netns', nsPath(HOST)]);

async function newNetns(name: string): Promise<string> {
  created.push(name);
  await createNetns(name);
  return nsPath(name);
}


async function endpointsOf(workload: string): Promise<WorkloadEndpoint[]> {
  const all = (await client.list('WorkloadEndpoint')) as WorkloadEndpoint[];
  return all.filter((w) => w.spec.workload === workload);
}

beforeAll(async () => {
  requireRoot();
  etcd = await startEtcd();
  ds = await connectDatastore(etcdConfigFromEnv({ ETCD_ENDPOINTS: etcd.endpoint }));
  client = new ResourceClient(ds);
  await newNetns(HOST);
  await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p4' }, spec: { cidr: POOL4 } });
  await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p6' }, spec: { cidr: POOL6 } });
  for (const p of ['web', 'db', 'ops']) {
    await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: p }, spec: {} });
  }
});

afterAll(async () => {
  for (const ns of created) await deleteNetns(ns);
  await ds?.close();
  await etcd?.stop();
});

describe('calicoctl container', () => {
  it('add, ip add/remove, profile append/remove/set, endpoint show, remove', async () => {
    const ctr = `ccw${id}a`;
    const path = await newNetns(ctr);

    let r = await ctlHost(['container', 'add', path, 'ipv4', '--profile', 'web']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`Container ${path} added to Calico: eth0 198\\.19\\.${octet}\\.\\d+`));
    let [wep] = await endpointsOf(ctr);
    expect(wep).toBeDefined();
    expect(wep!.spec).toMatchObject({ node: NODE, orchestrator: 'calicoctl', workload: ctr, endpoint: 'eth0', profiles: ['web'] });
    const hostIf = wep!.spec.interfaceName!;
    expect(await linkNames(HOST)).toContain(hostIf);
    const v4 = wep!.spec.ipNetworks![0]!.split('/')[0]!;
    expect((await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout).toContain(`${v4}/32`);

    // addresses: an IPv6 from a named pool, then an explicit IPv4, then remove it
    r = await ctl(['container', path, 'ip', 'add', POOL6]);
    expect(r.code).toBe(0);
    const explicit = `198.19.${octet}.200`;
    r = await ctl(['container', path, 'ip', 'add', explicit]);
    expect(r.stdout).toContain(`IP ${explicit} added`);
    [wep] = await endpointsOf(ctr);
    expect(wep!.spec.ipNetworks).toHaveLength(3);
    expect(wep!.spec.ipNetworks).toContain(`${explicit}/32`);
    expect(wep!.spec.ipNetworks!.some((n) => n.startsWith('fd00:19:') && n.endsWith('/128'))).toBe(true);
    expect((await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout).toContain(`${explicit}/32`);
    r = await ctl(['container', path, 'ip', 'remove', explicit]);
    expect(r.code).toBe(0);
    [wep] = await endpointsOf(ctr);
    expect(wep!.spec.ipNetworks).not.toContain(`${explicit}/32`);
    expect((await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout).not.toContain(`${explicit}/32`);
    expect(await new Ipam(ds).getAttributes(explicit)).toBeUndefined();

    // profiles
    expect((await ctl(['container', path, 'profile', 'append', 'db'])).stdout).toContain('web, db');
    expect((await ctl(['container', path, 'profile', 'remove', 'web'])).stdout).toContain('Profiles of');
    [wep] = await endpointsOf(ctr);
    expect(wep!.spec.profiles).toEqual(['db']);
    await ctl(['container', path, 'profile', 'set', 'ops', 'web']);
    [wep] = await endpointsOf(ctr);
    expect(wep!.spec.profiles).toEqual(['ops', 'web']);
    r = await ctl(['container', path, 'profile', 'append', 'missing']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: profile: profile missing does not exist/);

    // endpoint show: one row per endpoint, filtered by host; detailed adds the MAC
    r = await ctl(['endpoint', 'show']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]!.split(/\s+/)).toEqual(['HOSTNAME', 'ORCHESTRATOR', 'WORKLOAD', 'ENDPOINT', 'INTERFACE', 'IPS', 'PROFILES', 'STATE']);
    const row = lines.find((l) => l.includes(ctr))!.split(/\s+/);
    expect(row.slice(0, 5)).toEqual([NODE, 'calicoctl', ctr, 'eth0', hostIf]);
    expect(row[5]).toContain(`${v4}/32`);
    expect(row[6]).toBe('ops,web');
    expect(row[7]).toBe('active');
    expect((await ctl(['endpoint', 'show', '--host', 'some-other-node'])).stdout).not.toContain(ctr);
    expect((await ctl(['endpoint', 'show', '--host', NODE])).stdout).toContain(ctr);
    r = await ctl(['endpoint', 'show', '--detailed']);
    expect(r.stdout.split('\n')[0]).toContain('MAC');
    expect(r.stdout).toContain(wep!.spec.mac!);
    r = await ctl(['endpoint', 'show', '-o', 'json']);
    const list = JSON.parse(r.stdout) as { kind: string; items: WorkloadEndpoint[] };
    expect(list.kind).toBe('WorkloadEndpointList');
    expect(list.items.map((i) => i.spec.workload)).toContain(ctr);

    // a second endpoint in the same container; remove takes both
    r = await ctlHost(['container', 'add', path, 'ipv6', '--interface', 'eth1']);
    expect(r.code).toBe(0);
    expect((await endpointsOf(ctr)).map((w) => w.spec.endpoint).sort()).toEqual(['eth0', 'eth1']);
    const hostIf1 = (await endpointsOf(ctr)).find((w) => w.spec.endpoint === 'eth1')!.spec.interfaceName!;

    // remove: veths, endpoints and addresses go; a second remove is fine
    r = await ctlHost(['container', 'remove', path]);
    expect(r.code).toBe(0);
    expect(await endpointsOf(ctr)).toEqual([]);
    expect(await linkNames(HOST)).not.toContain(hostIf1);
    expect(await linkNames(ctr)).not.toContain('eth1');
    expect(await linkNames(HOST)).not.toContain(hostIf);
    expect(await linkNames(ctr)).not.toContain('eth0');
    expect(await new Ipam(ds).getAttributes(v4)).toBeUndefined();
    r = await ctlHost(['container', 'remove', path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('nothing to remove');
  });

  it('refuses an address in use, outside every pool or from an unknown pool, leaving nothing behind', async () => {
    const a = await newNetns(`ccw${id}b`);
    const b = await newNetns(`ccw${id}c`);
    const ip = `198.19.${octet}.150`;
    expect((await ctlHost(['container', 'add', a, ip])).code).toBe(0);

    const typo = await ctlHost(['container', 'add', b, 'ipv4', '--profile', 'wbe']);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/profile: profile wbe does not exist/);

    const cases: [string, RegExp][] = [
      [ip, /already assigned/],
      ['198.18.250.1', /not in any IP pool/],
      ['198.19.255.0/24', /IP pool 198\.19\.255\.0\/24 does not exist/],
      ['bogus', /IP: "bogus" is not an IP address, a pool CIDR, ipv4 or ipv6/],
    ];
    for (const [spec, err] of cases) {
      const r = await ctlHost(['container', 'add', b, spec]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(err);
    }
    expect(await endpointsOf(`ccw${id}c`)).toEqual([]);
    expect(await linkNames(`ccw${id}c`)).not.toContain('eth0');
    expect(await new Ipam(ds).ipsByHandle(defaultHandleId({ node: NODE, orchestrator: 'calicoctl', workload: `ccw${id}c` }))).toEqual([]);
    expect(await new Ipam(ds).ipsByHandle(defaultHandleId({ node: NODE, orchestrator: 'calicoctl', workload: `ccw${id}b` }))).toEqual([ip]);

    // the interface already exists in the container: rolled back
    await run(['ip', '-n', `ccw${id}c`, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'x1']);
    const r = await ctlHost(['container', 'add', b, 'ipv4', '--interface', 'eth1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
    expect(await endpointsOf(`ccw${id}c`)).toEqual([]);
    expect(await new Ipam(ds).ipsByHandle(defaultHandleId({ node: NODE, orchestrator: 'calicoctl', workload: `ccw${id}c`, endpoint: 'eth1' }))).toEqual([]);

    // a missing namespace and a container that was never added
    expect((await ctlHost(['container', 'add', `/var/run/netns/none${id}`, 'ipv4'])).stderr).toMatch(/netnsPath: network namespace .* does not exist/);
    const ipOnUnknown = await ctl(['container', b, 'ip', 'add', 'ipv4']);
    expect(ipOnUnknown.code).toBe(1);
    expect(ipOnUnknown.stderr).toMatch(/has no Calico endpoint eth0/);
    const badVerb = await ctl(['container', b, 'frobnicate']);
    expect(badVerb.code).toBe(1);
    expect(badVerb.stderr).toMatch(/unrecognised container command/);

    expect((await ctlHost(['container', 'remove', a])).code).toBe(0);
  });

  it('runs inside the host netns itself (ip netns exec HOST calicoctl …), as the lab does', async () => {
    // etcd must be reachable from inside the host: run a second one there.
    const hostEtcd = await startEtcd({ netns: HOST });
    try {
      const ctr = `ccw${id}d`;
      const path = await newNetns(ctr);
      const inHost = (args: string[]) => ctl(args, { netns: HOST, endpoint: hostEtcd.endpoint });
      expect((await inHost(['pool', 'add', POOL4])).code).toBe(0);
      const r = await inHost(['container', 'add', path, 'ipv4']);
      expect(r.stderr).toBe('');
      const show = (await inHost(['endpoint', 'show'])).stdout;
      const hostIf = show.split('\n').find((l) => l.includes(ctr))!.split(/\s+/)[4]!;
      expect(await linkNames(HOST)).toContain(hostIf);
      expect((await inHost(['container', 'remove', path])).code).toBe(0);
      expect(await linkNames(HOST)).not.toContain(hostIf);
    } finally {
      await hostEtcd.stop();
    }
  });
});

/**
 * A private dockerd (no bridge, no iptables, vfs) inside its own netns, so the
 * containers' namespaces and the host ends live there, plus a one-binary
 * busybox image imported offline.
 */
async function startDockerd(netns: string): Promise<{ host: string; stop(): Promise<void> }> {
  for (const bin of ['dockerd', 'docker', 'busybox']) {
    if ((await run(['sh', '-c', `command -v ${bin}`], { allowFail: true })).code !== 0) {
      throw new Error(`${bin} is not installed: apt-get install docker.io busybox-static`);
    }
  }
  const dir = mkdtempSync(`/tmp/ccdocker-${id}-`);
  const host = `unix://${dir}/docker.sock`;
  // nsenter, not `ip netns exec` (which remounts /sys and hides the cgroup mounts)
  const proc = spawn(
    'nsenter',
    [`--net=${nsPath(netns)}`, 'dockerd', '--storage-driver=vfs', '--iptables=false', '--ip6tables=false', '--bridge=none',
      '-H', host, '--data-root', `${dir}/root`, '--exec-root', `${dir}/exec`, '--pidfile', `${dir}/pid`,
      '--containerd-namespace', `cc${id}`, '--containerd-plugins-namespace', `cc${id}-plugins`, '--cgroup-parent', `/ccdocker${id}`],
    { stdio: 'ignore' },
  );
  const stop = async () => {
    if (proc.exitCode === null) {
      const done = new Promise((r) => proc.once('close', r));
      proc.kill('SIGTERM');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
    // the (empty by now) cgroups the containers were put under, in each v1 hierarchy
    for (const h of readdirSync('/sys/fs/cgroup')) {
      const cg = join('/sys/fs/cgroup', h, `ccdocker${id}`);
      if (existsSync(cg)) rmdirSync(cg);
    }
  };
  try {
    const docker = (args: string[]) => run(['docker', '-H', host, ...args], { allowFail: true });
    for (let i = 0; (await docker(['version'])).code !== 0; i++) {
      if (proc.exitCode !== null || i > 300) throw new Error('dockerd did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    const rootfs = join(dir, 'rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    await run(['cp', (await run(['sh', '-c', 'command -v busybox'])).stdout.trim(), join(rootfs, 'bin/busybox')]);
    for (const tool of ['sh', 'sleep']) symlinkSync('busybox', join(rootfs, 'bin', tool));
    await run(['tar', '-C', rootfs, '-cf', join(dir, 'rootfs.tar'), '.']);
    await run(['docker', '-H', host, 'import', join(dir, 'rootfs.tar'), `ccbusybox${id}:1`]);
    return { host, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

describe('calicoctl container with a Docker container', () => {
  it('resolves a container name through docker inspect (DOCKER_HOST) and attaches its namespace', async () => {
    const dockerHost = `ccd${id}`;
    await newNetns(dockerHost);
    const dockerd = await startDockerd(dockerHost);
    try {
      const env = { DOCKER_HOST: dockerd.host };
      const name = `web_${id}`;
      await run(['docker', '-H', dockerd.host, 'run', '-d', '--net', 'none', '--name', name, `ccbusybox${id}:1`, '/bin/sleep', '600']);
      const [pid, cid] = (await run(['docker', '-H', dockerd.host, 'inspect', '-f', '{{.State.Pid}} {{.Id}}', name])).stdout.trim().split(' ');
      const dctl = (args: string[]) => ctl([...args, '--host-netns', nsPath(dockerHost)], { env });

      let r = await dctl(['container', 'add', name, 'ipv4', '--profile', 'web']);
      expect(r.stderr).toBe('');
      const [wep] = await endpointsOf(cid!);
      expect(wep!.spec).toMatchObject({ orchestrator: 'docker', workload: cid, containerID: cid, profiles: ['web'] });
      const v4 = wep!.spec.ipNetworks![0]!.split('/')[0]!;
      const inCtr = (args: string[]) => run(['nsenter', `--net=/proc/${pid}/ns/net`, ...args]);
      expect((await inCtr(['ip', 'addr', 'show', 'eth0'])).stdout).toContain(`${v4}/32`);
      expect((await inCtr(['ip', 'route'])).stdout).toContain('default via 169.254.1.1 dev eth0');
      expect(await linkNames(dockerHost)).toContain(wep!.spec.interfaceName);

      r = await ctl(['container', name, 'ip', 'add', 'ipv6'], { env });
      expect(r.code).toBe(0);
      expect((await inCtr(['ip', '-6', 'addr', 'show', 'eth0'])).stdout).toMatch(/fd00:19:.*\/128/);

      r = await dctl(['container', 'remove', name]);
      expect(r.code).toBe(0);
      expect(await endpointsOf(cid!)).toEqual([]);
      expect(await linkNames(dockerHost)).not.toContain(wep!.spec.interfaceName);

      // an unknown container is a clear error
      r = await dctl(['container', 'add', `nosuch${id}`, 'ipv4']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/not running \(or Docker does not know it\)/);
    } finally {
      await run(['docker', '-H', dockerd.host, 'rm', '-f', `web_${id}`], { allowFail: true });
      await dockerd.stop();
    }
  });
});
