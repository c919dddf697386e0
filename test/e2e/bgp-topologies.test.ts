// BGP topologies other than the default full mesh, each on its own lab with real nodes:
// a route reflector (mesh off, one reflector with a cluster id, two clients peering with
// it through a global peer), and eBGP between two hosts with their own AS numbers and
// explicit node-specific peers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, waitFor, type LabHost, type Workload } from '../lab/lab.js';

/** `birdc show protocols all NAME` on a host, for the session details. */
async function protocolDetails(lab: Lab, h: LabHost, name: string, v6 = false): Promise<string> {
  const socket = `${h.env.CALICO_RUN_DIR}/${v6 ? 'bird6' : 'bird'}.ctl`;
  return (await lab.exec(h.netns, [v6 ? 'birdc6' : 'birdc', '-s', socket, 'show', 'protocols', 'all', name])).stdout;
}

async function setUpPoolsAndProfile(lab: Lab): Promise<void> {
  await Promise.all([
    lab.calicoctl('fabric', ['pool', 'add', lab.pool4, lab.pool6]),
    lab.calicoctl('fabric', ['profile', 'add', 'web']),
    lab.calicoctl('fabric', ['bgp', 'node-mesh', 'off']),
  ]);
}

describe('route reflector: mesh off, h1 reflects for h2 and h3', () => {
  let lab: Lab;
  let h1: LabHost, h2: LabHost, h3: LabHost;
  let w2: Workload, w3: Workload;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 3 });
    [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
    await setUpPoolsAndProfile(lab);
    await lab.startNodes();
    // h1 becomes a reflector: give its Node a cluster id
    const node = JSON.parse((await lab.calicoctl('fabric', ['get', 'node', 'h1', '-o', 'json'])).stdout);
    node.spec.bgp.routeReflectorClusterID = '224.0.0.1';
    delete node.metadata.resourceVersion;
    await lab.apply([node]);
    await Promise.all([
      // clients: a global peer (everyone but h1 itself peers with h1)
      lab.calicoctl('fabric', ['bgp', 'peer', 'add', h1.ip4, 'as', '64512']),
      lab.calicoctl('fabric', ['bgp', 'peer', 'add', h1.ip6, 'as', '64512']),
      // the reflector: node-specific peers to its clients
      ...[h2, h3].flatMap((c) => [
        lab.calicoctl(h1, ['node', 'bgp', 'peer', 'add', c.ip4, 'as', '64512']),
        lab.calicoctl(h1, ['node', 'bgp', 'peer', 'add', c.ip6, 'as', '64512']),
      ]),
    ]);
    [w2, w3] = await Promise.all([
      lab.addWorkload(h2, { name: 'w2', ip: lab.pool4, ip6: lab.pool6, profiles: ['web'] }),
      lab.addWorkload(h3, { name: 'w3', ip: lab.pool4, ip6: lab.pool6, profiles: ['web'] }),
    ]);
    await lab.waitEstablished([h1], { perHost: 2 });
    await lab.waitEstablished([h2, h3], { perHost: 1 });
  }, 180_000);

  afterAll(async () => {
    await lab?.teardown();
  });

  it('has only client ↔ reflector sessions, no mesh', async () => {
    for (const [h, n] of [[h1, 2], [h2, 1], [h3, 1]] as const) {
      for (const v6 of [false, true]) {
        const s = await lab.bgpSessions(h, v6);
        expect(s.map((x) => x.name).filter((x) => x.startsWith('Mesh_')), `${h.name}`).toEqual([]);
        expect(s.length, `${h.name} ${JSON.stringify(s)}`).toBe(n);
      }
    }
    const status = (await lab.calicoctl(h2, ['node', 'status'])).stdout;
    const line = status.split('\n').find((l) => l.includes(h1.ip4));
    expect(line, status).toMatch(/global/);
    expect(line).toMatch(/Established/);
  });

  it('the reflector treats its peers as route-reflector clients', async () => {
    const [s] = (await lab.bgpSessions(h1)).filter((x) => x.name.includes(h2.ip4.replace(/\./g, '_')));
    expect(s, JSON.stringify(await lab.bgpSessions(h1))).toBeDefined();
    expect(await protocolDetails(lab, h1, s!.name)).toMatch(/route-reflector/);
  });

  it('reflects routes between the clients, which reach each other (v4 and v6)', async () => {
    await waitFor('h3 learns the block of h2 through the reflector', async () =>
      (await lab.birdRoutes(h3)).some((r) => r.startsWith(`${w2.ip4!.split('.').slice(0, 3).join('.')}.`)));
    expect((await lab.waitPing(w3, w2.ip4!)).ok).toBe(true);
    expect((await lab.waitPing(w2, w3.ip6!)).ok).toBe(true);
    expect((await lab.tcpEcho(w2, w3)).ok).toBe(true);
  });
});

describe('eBGP: mesh off, explicit node-specific peers, one AS per host', () => {
  let lab: Lab;
  let h1: LabHost, h2: LabHost;
  let w1: Workload, w2: Workload;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: 2 });
    [h1, h2] = lab.hosts as [LabHost, LabHost];
    await setUpPoolsAndProfile(lab);
    await Promise.all([lab.startNode(h1, { as: 64601 }), lab.startNode(h2, { as: 64602 })]);
    await Promise.all([
      lab.calicoctl(h1, ['node', 'bgp', 'peer', 'add', h2.ip4, 'as', '64602']),
      lab.calicoctl(h1, ['node', 'bgp', 'peer', 'add', h2.ip6, 'as', '64602']),
      lab.calicoctl(h2, ['node', 'bgp', 'peer', 'add', h1.ip4, 'as', '64601']),
      lab.calicoctl(h2, ['node', 'bgp', 'peer', 'add', h1.ip6, 'as', '64601']),
    ]);
    [w1, w2] = await Promise.all([
      lab.addWorkload(h1, { name: 'w1', ip: lab.pool4, ip6: lab.pool6, profiles: ['web'] }),
      lab.addWorkload(h2, { name: 'w2', ip: lab.pool4, ip6: lab.pool6, profiles: ['web'] }),
    ]);
    await lab.waitEstablished([h1, h2], { perHost: 1 });
  }, 180_000);

  afterAll(async () => {
    await lab?.teardown();
  });

  it('brings up external sessions between the two AS numbers', async () => {
    const [s] = await lab.bgpSessions(h1);
    expect(s!.name).toMatch(/^Node_/);
    const details = await protocolDetails(lab, h1, s!.name);
    expect(details).toMatch(/Session:\s+external/);
    expect(details).toMatch(/Neighbor AS:\s+64602/);
    // and h2 sees h1's own AS (BIRD 1.6 does not print the local AS)
    const [back] = await lab.bgpSessions(h2);
    expect(await protocolDetails(lab, h2, back!.name)).toMatch(/Neighbor AS:\s+64601/);
    const status = (await lab.calicoctl(h2, ['node', 'status'])).stdout;
    for (const ip of [h1.ip4, h1.ip6]) {
      const line = status.split('\n').find((l) => l.includes(ip));
      expect(line, status).toMatch(/node specific/);
      expect(line).toMatch(/Established/);
    }
  });

  it('routes between the workloads (ttl 62), v4 and v6', async () => {
    expect((await lab.waitPing(w1, w2.ip4!)).ttl).toBe(62);
    expect((await lab.waitPing(w2, w1.ip6!)).ttl).toBe(62);
    expect((await lab.udpEcho(w1, w2)).ok).toBe(true);
  });

  it('drops the routes when the peers are removed (mesh is off, nothing else peers)', async () => {
    await lab.calicoctl(h1, ['node', 'bgp', 'peer', 'remove', h2.ip4]);
    await lab.calicoctl(h2, ['node', 'bgp', 'peer', 'remove', h1.ip4]);
    await waitFor('h2 forgets the block of h1', async () =>
      (await lab.bgpSessions(h2)).length === 0 && !(await lab.birdRoutes(h2)).some((r) => r.includes(`via ${h1.ip4}`)));
    const ping = await lab.ping(w2, w1.ip4!);
    expect(ping.ok).toBe(false);
    // IPv6 peers are still there
    expect((await lab.ping(w2, w1.ip6!)).ok).toBe(true);
  });
});
