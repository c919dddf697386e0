// Three hosts, each running `calicoctl node run` for real (supervisor → confd, bird,
// bird6, felix), node-to-node mesh, workloads attached with `calicoctl container add`:
// routed, unencapsulated reachability (v4 and v6), profiles across hosts, block
// borrowing, pool removal, BIRD restarts and a clean `node stop`.
import { appendFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@calico/libcalico';
import { Lab, REPO_ROOT, waitFor, type LabHost, type Workload } from '../lab/lab.js';

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
  await Promise.all([
    lab.calicoctl('fabric', ['pool', 'add', pool4, pool6]),
    lab.apply([
      { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'borrow' }, spec: { cidr: borrowPool, blockSize: 30, ipipMode: 'Never' } },
    ]),
    lab.calicoctl('fabric', ['profile', 'add', 'red']),
    lab.calicoctl('fabric', ['profile', 'add', 'blue']),
  ]);
  // h1's confd renders from its own copy of the templates, which a test breaks on purpose
  cpSync(join(REPO_ROOT, 'templates'), join(h1.dir, 'templates'), { recursive: true });
  h1.env.CONFD_TEMPLATES_DIR = join(h1.dir, 'templates');
  await lab.startNodes();
  const add = (h: LabHost, name: string, profile: string) => lab.addWorkload(h, { name, ip: pool4, ip6: pool6, profiles: [profile] });
  // hosts in parallel: concurrent IPAM block claims on one etcd
  [[red1, blue1], [red2], [red3, blue3]] = (await Promise.all([
    (async () => [await add(h1, 'red1', 'red'), await add(h1, 'blue1', 'blue')])(),
    (async () => [await add(h2, 'red2', 'red')])(),
    (async () => [await add(h3, 'red3', 'red'), await add(h3, 'blue3', 'blue')])(),
  ])) as [[Workload, Workload], [Workload], [Workload, Workload]];
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
    // other profile: denied (dropped), both directions, whatever the protocol, and on the same host too
    const [p1, p2, tcp, udp, sameHost] = await Promise.all([
      lab.ping(blue3, red1.ip4!),
      lab.ping(red2, blue1.ip6!),
      lab.tcpEcho(blue3, red2),
      lab.udpEcho(red1, blue3),
      lab.ping(blue1, red1.ip4!),
    ]);
    expect(p1.ok).toBe(false);
    expect(p2.ok).toBe(false);
    expect(tcp).toEqual({ ok: false, detail: 'timeout' });
    expect(udp.ok).toBe(false);
    expect(sameHost.ok).toBe(false);
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

  it('confd keeps the live BIRD config while a template is broken, and recovers when it is fixed', async () => {
    const o = lab.pool4.split('.')[2];
    const newPool = `198.19.${o}.224/28`;
    const template = join(h1.dir, 'templates', 'bird.cfg.hbs');
    const live = join(h1.env.CALICO_CONFD_DIR!, 'bird.cfg');
    const confdLog = join(h1.env.CALICO_LOG_DIR!, 'confd.log');
    const good = readFileSync(template, 'utf8');
    const before = readFileSync(live, 'utf8');
    const logSize = readFileSync(confdLog, 'utf8').length;
    // renders fine with Handlebars, but BIRD's parser (bird -p) rejects it
    appendFileSync(template, '\nthis is not a bird statement;\n');
    await lab.calicoctl('fabric', ['pool', 'add', newPool, '--block-size', '28']);
    await waitFor('confd to log the rejected config', () => readFileSync(confdLog, 'utf8').slice(logSize).includes('syntax error'));
    expect(readFileSync(live, 'utf8')).toBe(before);
    expect((await lab.bgpSessions(h1)).every((x) => x.info.startsWith('Established'))).toBe(true);
    expect((await lab.ping(red1, red2.ip4!)).ok).toBe(true);
    writeFileSync(template, good);
    const fixed = await waitFor('confd to render the new pool once the template is fixed', () => {
      const text = readFileSync(live, 'utf8');
      return text.includes(newPool) ? text : undefined;
    });
    expect(fixed).not.toContain('this is not a bird statement');
    await lab.waitEstablished([h1], { perHost: 2 });
    expect((await lab.waitPing(red1, red2.ip4!)).ttl).toBe(62);
    await lab.calicoctl('fabric', ['pool', 'remove', newPool]);
  });

  it('`node stop` ends every process of the node', async () => {
    // the node's long-running processes (a short-lived birdc from a probe, or confd's `bird -p`
    // check and `birdc configure` during a reload, may come and go; felix's own
    // ip/ipset/iptables-restore helpers end with it)
    const daemons = lab.processes(h3).map((p) => p.role).filter((r) => r !== 'birdc' && r !== 'felix-helper' && r !== 'confd-helper');
    expect(daemons.sort(), JSON.stringify(lab.processes(h3).map((p) => p.cmdline))).toEqual(['bird', 'bird6', 'confd', 'felix', 'supervisor']);
    const r = await lab.stopNode(h3);
    expect(r.code, r.stderr).toBe(0);
    expect(lab.processes(h3)).toEqual([]);
    const status = await lab.calicoctl(h3, ['node', 'status'], { allowFail: true });
    expect(status.stdout + status.stderr).toMatch(/not running/i);
  });
});
