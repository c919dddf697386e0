// Three hosts, each running `calicoctl node run` for real (supervisor → confd, bird,
// bird6, felix), node-to-node mesh, workloads attached with `calicoctl container add`:
// routed, unencapsulated reachability (v4 and v6), profiles across hosts, block
// borrowing, pool removal, BIRD restarts and a clean `node stop`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@calico/libcalico';
import { Lab, waitFor, type LabHost, type Workload } from '../lab/lab.js';

let lab: Lab;
let h1: LabHost, h2: LabHost, h3: LabHost;
// profile "red" on every host, profile "blue" on h1 and h3
let red1: Workload, red2: Workload, red3: Workload, blue1: Workload, blue3: Workload;
let pool4: string, pool6: string, borrowPool: string;

beforeAll(async () => {
  lab = await Lab.create({ hosts: 3 });
  [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
  const o = lab.pool4.split('.')[2];
  pool4 = `198.19.${o}.0/25`;
  pool6 = lab.pool6;
  // a one-block pool (/30 blocks): the first host to use it owns the block, the next must borrow
  borrowPool = `198.19.${o}.252/30`;
  await lab.calicoctl('fabric', ['pool', 'add', pool4]);
  await lab.calicoctl('fabric', ['pool', 'add', pool6]);
  await lab.apply([
    { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'borrow' }, spec: { cidr: borrowPool, blockSize: 30, ipipMode: 'Never' } },
  ]);
  await lab.calicoctl('fabric', ['profile', 'add', 'red']);
  await lab.calicoctl('fabric', ['profile', 'add', 'blue']);
  await lab.startNodes();
  red1 = await lab.addWorkload(h1, { name: 'red1', ip: pool4, ip6: pool6, profiles: ['red'] });
  red2 = await lab.addWorkload(h2, { name: 'red2', ip: pool4, ip6: pool6, profiles: ['red'] });
  red3 = await lab.addWorkload(h3, { name: 'red3', ip: pool4, ip6: pool6, profiles: ['red'] });
  blue1 = await lab.addWorkload(h1, { name: 'blue1', ip: pool4, ip6: pool6, profiles: ['blue'] });
  blue3 = await lab.addWorkload(h3, { name: 'blue3', ip: pool4, ip6: pool6, profiles: ['blue'] });
  await lab.waitEstablished();
}, 180_000);

afterAll(async () => {
  const problems = await lab?.teardown();
  if (problems?.length) console.warn(`lab teardown:\n${problems.join('\n')}`);
});

describe('3-host BGP mesh', () => {
  it('gives each workload an address from the pools', () => {
    for (const w of [red1, red2, red3, blue1, blue3]) {
      expect(w.ip4, `${w.name} v4`).toMatch(new RegExp(`^${pool4.split('.').slice(0, 3).join('\\.')}\\.`));
      expect(w.ip6, `${w.name} v6`).toMatch(new RegExp(`^${lab.pool6.split('::')[0]}:`));
    }
  });

  it('shows Established node-to-node mesh peers in `node status`', async () => {
    const r = await lab.calicoctl(h1, ['node', 'status']);
    for (const peer of [h2.ip4, h3.ip4, h2.ip6, h3.ip6]) {
      const line = r.stdout.split('\n').find((l) => l.includes(peer));
      expect(line, `${peer} in:\n${r.stdout}`).toBeDefined();
      expect(line).toMatch(/node-to-node mesh/);
      expect(line).toMatch(/Established/);
    }
  });

  it('routes between workloads on different hosts, two routed hops (ttl 62), IPv4 and IPv6', async () => {
    for (const [from, to] of [[red2, red1], [red1, red3], [red3, red2]] as const) {
      const v4 = await lab.waitPing(from, to.ip4!);
      expect(v4.ttl, `${from.name} -> ${to.name}`).toBe(62);
      const v6 = await lab.waitPing(from, to.ip6!);
      expect(v6.ttl, `${from.name} -> ${to.name} v6`).toBe(62);
    }
  });

  it('announces each host block by BGP (proto bird routes via the other host)', async () => {
    const routes = await lab.birdRoutes(h2);
    expect(routes.some((r) => r.includes(`via ${h1.ip4}`)), routes.join('\n')).toBe(true);
    expect(routes.some((r) => r.includes(`via ${h3.ip4}`)), routes.join('\n')).toBe(true);
    const routes6 = await lab.birdRoutes(h2, true);
    expect(routes6.some((r) => r.includes(`via ${h1.ip6}`)), routes6.join('\n')).toBe(true);
  });

  it('uses no encapsulation: no tunnel devices on any host and a full 1500-byte path', async () => {
    for (const h of lab.hosts) {
      const links = JSON.parse((await run(['ip', '-n', h.netns, '-d', '-j', 'link', 'show'])).stdout) as {
        ifname: string;
        link_type: string;
        linkinfo?: { info_kind?: string };
      }[];
      for (const l of links) {
        expect(['loopback', 'ether'], `${h.name} ${l.ifname}`).toContain(l.link_type);
        if (l.ifname !== 'lo') expect(l.linkinfo?.info_kind, `${h.name} ${l.ifname}`).toBe('veth');
      }
    }
    const v4 = await lab.ping(red2, red1.ip4!, { size: 1472, dontFragment: true });
    expect(v4.ok, v4.output).toBe(true);
    const v6 = await lab.ping(red2, red1.ip6!, { size: 1452, dontFragment: true });
    expect(v6.ok, v6.output).toBe(true);
  });

  it('allows traffic within a profile and denies it across profiles, across hosts', async () => {
    // same profile: allowed (ping, TCP and UDP, v4 and v6)
    expect((await lab.ping(red3, red1.ip4!)).ok).toBe(true);
    expect(await lab.tcpEcho(red3, red1)).toEqual({ ok: true, detail: 'ok' });
    expect(await lab.udpEcho(red2, red1, { v6: true })).toEqual({ ok: true, detail: 'ok' });
    expect((await lab.waitPing(blue3, blue1.ip4!)).ok).toBe(true);
    expect((await lab.tcpEcho(blue1, blue3, { v6: true })).ok).toBe(true);
    // other profile: denied, both directions, whatever the protocol
    expect((await lab.ping(blue3, red1.ip4!)).ok).toBe(false);
    expect((await lab.ping(red2, blue1.ip6!)).ok).toBe(false);
    expect(await lab.tcpEcho(blue3, red2)).toEqual({ ok: false, detail: 'timeout' });
    expect((await lab.udpEcho(red1, blue3)).ok).toBe(false);
    // and on the same host too
    expect((await lab.ping(blue1, red1.ip4!)).ok).toBe(false);
  });

  it('announces a borrowed address as a /32 from the borrowing host', async () => {
    const owner = await lab.addWorkload(h1, { name: 'owner', ip: borrowPool, profiles: ['red'] });
    const borrower = await lab.addWorkload(h2, { name: 'borrower', ip: borrowPool, profiles: ['red'] });
    expect(owner.ip4).toBeDefined();
    expect(borrower.ip4).toBeDefined();
    const ownerBlock = await waitFor('h3 learns the /30 block of h1', async () =>
      (await lab.birdRoutes(h3)).find((r) => r.startsWith(borrowPool) && r.includes(`via ${h1.ip4}`)));
    expect(ownerBlock).toBeDefined();
    const host32 = await waitFor(`h3 learns ${borrower.ip4}/32 from h2`, async () =>
      (await lab.birdRoutes(h3)).find((r) => r.split(' ')[0] === borrower.ip4 && r.includes(`via ${h2.ip4}`)));
    expect(host32).toBeDefined();
    // and the owner of the block (which blackholes the rest of it) learns the /32 too
    await waitFor(`h1 learns ${borrower.ip4}/32 from h2`, async () =>
      (await lab.birdRoutes(h1)).find((r) => r.split(' ')[0] === borrower.ip4 && r.includes(`via ${h2.ip4}`)));
    expect((await lab.waitPing(red3, borrower.ip4!)).ttl).toBe(62);
    expect((await lab.waitPing(owner, borrower.ip4!)).ttl).toBe(62);
  });

  it('withdraws the routes of a pool that is removed', async () => {
    const o = lab.pool4.split('.')[2];
    const extra = `198.19.${o}.128/26`;
    await lab.calicoctl('fabric', ['pool', 'add', extra]);
    const w = await lab.addWorkload(h3, { name: 'extra', ip: extra, profiles: ['red'] });
    await waitFor('h1 learns the block of the new pool', async () => (await lab.birdRoutes(h1)).some((r) => r.startsWith(`${extra} `)));
    await lab.removeWorkload(w);
    await lab.calicoctl('fabric', ['pool', 'remove', extra]);
    await waitFor('the block of the removed pool withdrawn from h1 and h2', async () => {
      const all = [...(await lab.birdRoutes(h1)), ...(await lab.birdRoutes(h2))];
      return !all.some((r) => r.startsWith(`${extra} `));
    });
    // the other pools keep routing
    expect((await lab.waitPing(red1, red3.ip4!)).ttl).toBe(62);
  });

  it('restarts a killed BIRD (supervisor) and its routes come back', async () => {
    const before = lab.processes(h1).find((p) => p.role === 'bird');
    expect(before, JSON.stringify(lab.processes(h1))).toBeDefined();
    process.kill(before!.pid, 'SIGKILL');
    // simulate what a host loses when its routing daemon dies uncleanly
    await run(['ip', '-n', h1.netns, 'route', 'flush', 'proto', 'bird']);
    const after = await waitFor('a new bird on h1', () => lab.processes(h1).find((p) => p.role === 'bird' && p.pid !== before!.pid), { timeoutMs: 30_000 });
    expect(after.pid).not.toBe(before!.pid);
    await lab.waitEstablished([h1], { perHost: 2, v4only: true });
    await waitFor('h1 routes to h2 and h3 blocks again', async () => {
      const r = await lab.birdRoutes(h1);
      return r.some((x) => x.includes(`via ${h2.ip4}`)) && r.some((x) => x.includes(`via ${h3.ip4}`));
    });
    expect((await lab.waitPing(red1, red2.ip4!)).ttl).toBe(62);
  });

  it('`node stop` ends every process of the node', async () => {
    expect(lab.processes(h3).map((p) => p.role).sort()).toEqual(['bird', 'bird6', 'confd', 'felix', 'supervisor']);
    const r = await lab.stopNode(h3);
    expect(r.code, r.stderr).toBe(0);
    expect(lab.processes(h3)).toEqual([]);
    const status = await lab.calicoctl(h3, ['node', 'status'], { allowFail: true });
    expect(status.stdout + status.stderr).toMatch(/not running/i);
  });
});
