import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceClient, run, type Resource } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { affinityKey } from '@calico/libcalico/ipam/keys';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';
import { createNetns, deleteNetns, inNs, requireRoot, runId } from '../../../test/helpers/netns.js';
import { AFFINITY_CONFIRMED } from './helpers.js';

/**
 * The rendered configs do what Calico's do, between two real BIRDs: two hosts
 * (netns joined by a veth) render with `calico-confd --onetime` (which also
 * reloads a running BIRD) and must
 *   - bring the mesh up (one passive side) for IPv4 and IPv6,
 *   - install each other's blocks, and their own blocks as blackholes,
 *   - announce a /32 borrowed from the other host's block (learnt from a
 *     felix-style `dev cali…` route), but not the /32s inside their own block,
 *   - run eBGP when a node gets its own AS,
 *   - withdraw the routes of a deleted pool;
 * and, on three more hosts sharing one L2 segment with the mesh off, route
 * reflection: clients learn each other's blocks through the reflector, with
 * the next hop of the client that owns them.
 */
const CONFD = fileURLToPath(new URL('../dist/main.bundle.js', import.meta.url));
const API = 'projectcalico.org/v3';
const id = runId();
const hosts = [
  { ns: `cfs1-${id}`, name: `h1-${id}`, ip4: '198.18.78.1', ip6: 'fd00:78::1', block4: '198.19.1.0/26', block6: 'fd00:19:0:1::/122' },
  { ns: `cfs2-${id}`, name: `h2-${id}`, ip4: '198.18.78.2', ip6: 'fd00:78::2', block4: '198.19.2.0/26', block6: 'fd00:19:0:2::/122' },
] as const;
type Host = (typeof hosts)[number];

let etcd: TestEtcd;
let ds: EtcdDatastore;
let client: ResourceClient;
let tmp: string;
const procs: ChildProcess[] = [];
const nsCreated: string[] = [];

const dirOf = (h: { name: string }) => join(tmp, h.name);
const sock = (h: { name: string }, f: 4 | 6) => join(dirOf(h), f === 4 ? 'bird.ctl' : 'bird6.ctl');

function startBirds(h: { ns: string; name: string }): void {
  for (const [bin, cfg, f] of [
    ['bird', 'bird.cfg', 4],
    ['bird6', 'bird6.cfg', 6],
  ] as const) {
    procs.push(spawn('ip', ['netns', 'exec', h.ns, bin, '-f', '-c', join(dirOf(h), cfg), '-s', sock(h, f)], { stdio: 'ignore' }));
  }
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function render(h: { name: string }): Promise<void> {
  const env = { ...process.env, NODENAME: h.name, ETCD_ENDPOINTS: etcd.endpoint, CALICO_CONFD_DIR: dirOf(h), CALICO_RUN_DIR: dirOf(h) };
  const res = await run(['node', CONFD, '--onetime'], { env, allowFail: true, timeoutMs: 30_000 });
  if (res.code !== 0) throw new Error(`calico-confd --onetime for ${h.name} failed: ${res.stderr}`);
}

const birdc = async (h: { name: string }, f: 4 | 6, ...args: string[]) =>
  (await run([f === 4 ? 'birdc' : 'birdc6', '-s', sock(h, f), ...args], { allowFail: true })).stdout;
const routes = async (h: { ns: string }, f: 4 | 6) => (await inNs(h.ns, ['ip', `-${f}`, 'route', 'show'])).stdout;
const established = async (h: Host, f: 4 | 6, other: Host) => {
  const name = f === 4 ? `Mesh_${other.ip4.replace(/\./g, '_')}` : `Mesh_${other.ip6.replace(/:/g, '_')}`;
  return new RegExp(`^${name}\\s.*Established`, 'm').test(await birdc(h, f, 'show', 'protocols'));
};

beforeAll(async () => {
  requireRoot();
  etcd = await startEtcd();
  ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
  client = new ResourceClient(ds);
  tmp = mkdtempSync(`/tmp/confd-sessions-${id}-`);
  for (const h of hosts) {
    mkdirSync(dirOf(h));
    await createNetns(h.ns);
    nsCreated.push(h.ns);
  }
  const [h1, h2] = hosts;
  await run(['ip', 'link', 'add', 'eth0', 'netns', h1.ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h2.ns]);
  for (const h of hosts) {
    await run(['ip', '-n', h.ns, 'addr', 'add', `${h.ip4}/24`, 'dev', 'eth0']);
    await run(['ip', '-n', h.ns, '-6', 'addr', 'add', `${h.ip6}/64`, 'dev', 'eth0', 'nodad']);
    await run(['ip', '-n', h.ns, 'link', 'set', 'eth0', 'up']);
    await inNs(h.ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await client.create({ apiVersion: API, kind: 'Node', metadata: { name: h.name }, spec: { bgp: { ipv4Address: `${h.ip4}/24`, ipv6Address: `${h.ip6}/64` } } });
    await ds.put(affinityKey(h.name, 4, h.block4), AFFINITY_CONFIRMED);
    await ds.put(affinityKey(h.name, 6, h.block6), AFFINITY_CONFIRMED);
  }
  await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool4' }, spec: { cidr: '198.19.0.0/16' } });
  await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool6' }, spec: { cidr: 'fd00:19::/48' } });
  for (const h of hosts) {
    await render(h);
    startBirds(h);
  }
}, 90_000);

afterAll(async () => {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) {
      const done = new Promise((r) => p.once('close', r));
      p.kill('SIGKILL');
      await done;
    }
  }
  for (const ns of nsCreated) await deleteNetns(ns);
  await ds?.close();
  await etcd?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('two hosts running the rendered configs', () => {
  const [h1, h2] = hosts;

  it('bring the IPv4 and IPv6 mesh up', async () => {
    for (const f of [4, 6] as const) {
      await waitFor(`IPv${f} mesh Established on both sides`, async () => (await established(h1, f, h2)) && (await established(h2, f, h1)));
    }
  });

  it('install each other\'s blocks (via the peer) and their own as blackholes', async () => {
    await waitFor('h1 block on h2', async () => /198\.19\.1\.0\/26 via 198\.18\.78\.1 .*proto bird/.test(await routes(h2, 4)));
    await waitFor('h2 block on h1', async () => /198\.19\.2\.0\/26 via 198\.18\.78\.2 .*proto bird/.test(await routes(h1, 4)));
    await waitFor('h1 v6 block on h2', async () => /fd00:19:0:1::\/122 via fd00:78::1 .*proto bird/.test(await routes(h2, 6)));
    expect(await routes(h1, 4)).toMatch(/blackhole 198\.19\.1\.0\/26 proto bird/);
  });

  it('announce a borrowed /32 but keep the /32s of their own block local', async () => {
    const cali = `cali${id}`;
    await run(['ip', 'link', 'add', cali, 'netns', h1.ns, 'type', 'veth', 'peer', 'name', `wl${id}`, 'netns', h1.ns]);
    await run(['ip', '-n', h1.ns, 'link', 'set', cali, 'up']);
    // felix-style routes on h1: one address from h2's block (borrowed), one from its own
    await run(['ip', '-n', h1.ns, 'route', 'add', '198.19.2.5/32', 'dev', cali, 'scope', 'link']);
    await run(['ip', '-n', h1.ns, 'route', 'add', '198.19.1.5/32', 'dev', cali, 'scope', 'link']);
    await waitFor('the borrowed /32 on h2', async () => /198\.19\.2\.5 via 198\.18\.78\.1 .*proto bird/.test(await routes(h2, 4)));
    expect(await routes(h2, 4)).not.toMatch(/198\.19\.1\.5/);
  });

  it('run eBGP when a node gets its own AS', async () => {
    const node = await client.get<{ bgp: Record<string, unknown> }>('Node', h2.name);
    await client.update({ ...node, spec: { bgp: { ...node.spec.bgp, asNumber: 64513 } } } as Resource);
    await render(h1);
    await render(h2);
    await waitFor('an external session', async () => /Session:\s+external/.test(await birdc(h1, 4, 'show', 'protocols', 'all', `Mesh_198_18_78_2`)));
    await waitFor('eBGP Established', async () => (await established(h1, 4, h2)) && (await established(h2, 4, h1)));
    await waitFor('h1 block on h2 over eBGP', async () => /198\.19\.1\.0\/26 via 198\.18\.78\.1 .*proto bird/.test(await routes(h2, 4)));
  });

  it('withdraw the routes of a deleted pool', async () => {
    await client.delete('IPPool', 'pool4');
    await render(h1);
    await waitFor('h1 block withdrawn from h2', async () => !/198\.19\.1\.0\/26/.test(await routes(h2, 4)));
  });
});

describe('route reflection (mesh off, one reflector, two clients)', () => {
  const rr = { ns: `cfr0-${id}`, name: `rr-${id}`, ip4: '198.18.79.10', labels: { rrtest: 'reflector' }, cluster: '224.0.0.1' };
  const c1 = { ns: `cfr1-${id}`, name: `c1-${id}`, ip4: '198.18.79.21', labels: { rrtest: 'client' }, block: '198.19.21.0/26' };
  const c2 = { ns: `cfr2-${id}`, name: `c2-${id}`, ip4: '198.18.79.22', labels: { rrtest: 'client' }, block: '198.19.22.0/26' };

  beforeAll(async () => {
    for (const h of [rr, c1, c2]) {
      mkdirSync(dirOf(h));
      await createNetns(h.ns);
      nsCreated.push(h.ns);
    }
    // one L2 segment: a bridge in the reflector's namespace, a veth to each client
    await run(['ip', '-n', rr.ns, 'link', 'add', 'br0', 'type', 'bridge']);
    await run(['ip', '-n', rr.ns, 'link', 'set', 'br0', 'up']);
    await run(['ip', '-n', rr.ns, 'addr', 'add', `${rr.ip4}/24`, 'dev', 'br0']);
    for (const [i, c] of [c1, c2].entries()) {
      const port = `p${i}-${id}`;
      await run(['ip', 'link', 'add', 'eth0', 'netns', c.ns, 'type', 'veth', 'peer', 'name', port, 'netns', rr.ns]);
      await run(['ip', '-n', rr.ns, 'link', 'set', port, 'master', 'br0', 'up']);
      await run(['ip', '-n', c.ns, 'addr', 'add', `${c.ip4}/24`, 'dev', 'eth0']);
      await run(['ip', '-n', c.ns, 'link', 'set', 'eth0', 'up']);
      await ds.put(affinityKey(c.name, 4, c.block), AFFINITY_CONFIRMED);
    }
    await client.apply({ apiVersion: API, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec: { nodeToNodeMeshEnabled: false } });
    await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool4-rr' }, spec: { cidr: '198.19.0.0/16' } });
    await client.create({ apiVersion: API, kind: 'Node', metadata: { name: rr.name, labels: rr.labels }, spec: { bgp: { ipv4Address: `${rr.ip4}/24`, routeReflectorClusterID: rr.cluster } } });
    for (const c of [c1, c2]) {
      await client.create({ apiVersion: API, kind: 'Node', metadata: { name: c.name, labels: c.labels }, spec: { bgp: { ipv4Address: `${c.ip4}/24` } } });
    }
    const peerSpec = (nodeSelector: string, peerSelector: string) => ({ nodeSelector, peerSelector });
    await client.create({ apiVersion: API, kind: 'BGPPeer', metadata: { name: 'rrtest-clients' }, spec: peerSpec("rrtest == 'client'", "rrtest == 'reflector'") });
    await client.create({ apiVersion: API, kind: 'BGPPeer', metadata: { name: 'rrtest-reflector' }, spec: peerSpec("rrtest == 'reflector'", "rrtest == 'client'") });
    for (const h of [rr, c1, c2]) {
      await render(h);
      startBirds(h);
    }
  }, 90_000);

  it('the reflector has a session to each client, the clients none to each other', async () => {
    for (const c of [c1, c2]) {
      const name = `Node_${c.ip4.replace(/\./g, '_')}`;
      await waitFor(`${name} Established on the reflector`, async () => new RegExp(`^${name}\\s.*Established`, 'm').test(await birdc(rr, 4, 'show', 'protocols')));
    }
    expect(await birdc(c1, 4, 'show', 'protocols')).not.toMatch(/Mesh_|198_18_79_22/);
    expect(await birdc(rr, 4, 'show', 'protocols', 'all', 'Node_198_18_79_21')).toMatch(/Session:.*route-reflector/);
  });

  it('clients learn each other\'s blocks through it, with the owner as next hop', async () => {
    await waitFor('c2 block on c1', async () => /198\.19\.22\.0\/26 via 198\.18\.79\.22 .*proto bird/.test(await routes(c1, 4)));
    await waitFor('c1 block on c2', async () => /198\.19\.21\.0\/26 via 198\.18\.79\.21 .*proto bird/.test(await routes(c2, 4)));
  });
});
