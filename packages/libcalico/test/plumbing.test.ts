// Workload plumbing against the real kernel: veths in network namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attachWorkload,
  detachWorkload,
  hostInterfaceName,
  addContainerIps,
  removeContainerIps,
  run,
  ValidationError,
  IPV6_GATEWAY,
  createHostVeth,
  Ipam,
  ResourceClient,
  connectDatastore,
  etcdConfigFromEnv,
  addWorkload,
  removeWorkload,
  addWorkloadIps,
  removeWorkloadIps,
  setWorkloadProfiles,
  listWorkloadEndpoints,
  defaultHandleId,
  type Datastore,
  type WorkloadContext,
} from '@calico/libcalico';
import { createNetns, deleteNetns, inNs, requireRoot, runId, linkNames } from '../../../test/helpers/netns.js';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';

const id = runId();
// 198.18.<n>.0/24 per run keeps parallel runs apart (third octet from the run id).
const octet = parseInt(id.slice(0, 2), 16);
const HOST = `plh${id}`;
const UPLINK_PEER = `plf${id}`;
const HOST_IP = `198.18.${octet}.1`;
const HOST_IP6 = `fd00:18:${octet.toString(16)}::1`;
const nsPath = (ns: string) => `/var/run/netns/${ns}`;
const created: string[] = [];
let etcd: TestEtcd | undefined;
let ds: Datastore | undefined;

async function newNetns(name: string): Promise<string> {
  created.push(name);
  await createNetns(name);
  return nsPath(name);
}


async function ping(ns: string, ip: string): Promise<boolean> {
  const r = await inNs(ns, ['ping', '-c', '1', '-W', '2', ip], { allowFail: true });
  return r.code === 0;
}

beforeAll(async () => {
  requireRoot();
  // A host netns with an uplink veth (no `dummy` here) and a default route via
  // a neighbour that does not exist: proxy ARP answers for 169.254.1.1 only
  // when the host has a unicast route to it through another interface.
  await newNetns(HOST);
  await newNetns(UPLINK_PEER);
  await run(['ip', '-n', HOST, 'link', 'add', 'uplink', 'type', 'veth', 'peer', 'name', 'uplink', 'netns', UPLINK_PEER]);
  await run(['ip', '-n', HOST, 'addr', 'add', `${HOST_IP}/24`, 'dev', 'uplink']);
  await run(['ip', '-n', HOST, 'addr', 'add', `${HOST_IP6}/64`, 'dev', 'uplink', 'nodad']);
  await run(['ip', '-n', HOST, 'link', 'set', 'uplink', 'up']);
  await run(['ip', '-n', UPLINK_PEER, 'link', 'set', 'uplink', 'up']);
  await run(['ip', '-n', HOST, 'route', 'add', 'default', 'via', `198.18.${octet}.254`, 'dev', 'uplink']);
});

afterAll(async () => {
  for (const ns of created) await deleteNetns(ns);
  await ds?.close();
  await etcd?.stop();
});

describe('hostInterfaceName', () => {
  it('is the prefix plus 11 hex chars of sha1(endpoint id), 15 in all', () => {
    const name = hostInterfaceName('node1-cni-abc-eth0');
    expect(name).toMatch(/^cali[0-9a-f]{11}$/);
    expect(hostInterfaceName('node1-cni-abc-eth0')).toBe(name);
    expect(hostInterfaceName('node1-cni-abd-eth0')).not.toBe(name);
    expect(hostInterfaceName('x', 'tap')).toMatch(/^tap[0-9a-f]{12}$/);
  });
  it('rejects a prefix that leaves no room for the hash', () => {
    expect(() => hostInterfaceName('x', 'averyveryverylongp')).toThrow(ValidationError);
  });
});

describe('attachWorkload / detachWorkload', () => {
  it('creates the veth, addresses and gateway routes; traffic flows once the host route exists; detach removes it', async () => {
    const ctr = `plc${id}a`;
    const ctrPath = await newNetns(ctr);
    const hostIf = hostInterfaceName(`${id}-a`);
    const ip4 = `198.18.${octet}.10`;
    const ip6 = `fd00:18:${octet.toString(16)}::10`;
    const res = await attachWorkload({
      netnsPath: ctrPath,
      hostNetns: nsPath(HOST),
      hostIfName: hostIf,
      containerIfName: 'eth0',
      ipv4: [ip4],
      ipv6: [ip6],
      mtu: 1400,
    });
    expect(res.hostIfName).toBe(hostIf);
    expect(res.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);

    // host end: fixed MAC, up, sysctls
    const host = JSON.parse((await inNs(HOST, ['ip', '-j', 'link', 'show', hostIf])).stdout)[0];
    expect(host.address).toBe('ee:ee:ee:ee:ee:ee');
    expect(host.mtu).toBe(1400);
    expect(host.flags).toContain('UP');
    const sys = (k: string) => inNs(HOST, ['cat', `/proc/sys/net/${k}`]).then((r) => r.stdout.trim());
    expect(await sys(`ipv4/conf/${hostIf}/proxy_arp`)).toBe('1');
    expect(await sys(`ipv4/neigh/${hostIf}/proxy_delay`)).toBe('0');
    expect(await sys(`ipv4/conf/${hostIf}/forwarding`)).toBe('1');

    // container end: addresses and routes
    const eth0 = JSON.parse((await inNs(ctr, ['ip', '-j', 'addr', 'show', 'eth0'])).stdout)[0];
    expect(eth0.address).toBe(res.mac);
    const addrs = (eth0.addr_info as { local: string; prefixlen: number }[]).map((a) => `${a.local}/${a.prefixlen}`);
    expect(addrs).toEqual(expect.arrayContaining([`${ip4}/32`, `${ip6}/128`]));
    const routes = (await inNs(ctr, ['ip', 'route'])).stdout;
    expect(routes).toContain('default via 169.254.1.1 dev eth0');
    expect(routes).toMatch(/169\.254\.1\.1 dev eth0 scope link/);
    expect((await inNs(ctr, ['ip', '-6', 'route'])).stdout).toContain(`default via ${IPV6_GATEWAY} dev eth0`);

    // Emulate felix: the /32 and /128 routes to the workload.
    await run(['ip', '-n', HOST, 'route', 'add', `${ip4}/32`, 'dev', hostIf, 'scope', 'link']);
    await run(['ip', '-n', HOST, '-6', 'route', 'add', `${ip6}/128`, 'dev', hostIf]);
    // IPv4 via the proxy-ARP'd 169.254.1.1, IPv6 via the host end's link-local.
    expect(await ping(ctr, HOST_IP)).toBe(true);
    expect(await ping(ctr, HOST_IP6)).toBe(true);
    expect((await inNs(ctr, ['ip', 'neigh', 'show', '169.254.1.1'])).stdout).toContain('ee:ee:ee:ee:ee:ee');

    // add / remove an address on the running workload
    const extra = `198.18.${octet}.11`;
    await addContainerIps({ netnsPath: ctrPath, containerIfName: 'eth0', ips: [extra] });
    expect((await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout).toContain(`${extra}/32`);
    await removeContainerIps({ netnsPath: ctrPath, containerIfName: 'eth0', ips: [extra] });
    expect((await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout).not.toContain(`${extra}/32`);
    await removeContainerIps({ netnsPath: ctrPath, containerIfName: 'eth0', ips: [extra] }); // idempotent

    await detachWorkload({ hostIfName: hostIf, hostNetns: nsPath(HOST) });
    expect(await linkNames(HOST)).not.toContain(hostIf);
    expect(await linkNames(ctr)).not.toContain('eth0');
    // the kernel dropped the /32 route with the device
    expect((await inNs(HOST, ['ip', 'route'])).stdout).not.toContain(ip4);
    await detachWorkload({ hostIfName: hostIf, hostNetns: nsPath(HOST) }); // idempotent
  });

  it('leaves nothing behind when the container interface name is taken', async () => {
    const ctr = `plc${id}b`;
    const ctrPath = await newNetns(ctr);
    await run(['ip', '-n', ctr, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
    const hostIf = hostInterfaceName(`${id}-b`);
    await expect(
      attachWorkload({ netnsPath: ctrPath, hostNetns: nsPath(HOST), hostIfName: hostIf, containerIfName: 'eth0', ipv4: [`198.18.${octet}.20`], ipv6: [] }),
    ).rejects.toThrow(/already exists/);
    expect(await linkNames(HOST)).not.toContain(hostIf);
  });

  it('does not delete a host interface that already existed', async () => {
    const ctr = `plc${id}c`;
    const ctrPath = await newNetns(ctr);
    const hostIf = hostInterfaceName(`${id}-c`);
    await run(['ip', '-n', HOST, 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', `x${id}c`]);
    await expect(
      attachWorkload({ netnsPath: ctrPath, hostNetns: nsPath(HOST), hostIfName: hostIf, containerIfName: 'eth0', ipv4: [`198.18.${octet}.21`], ipv6: [] }),
    ).rejects.toThrow(/already exists/);
    expect(await linkNames(HOST)).toContain(hostIf);
    expect(await linkNames(ctr)).not.toContain('eth0');
    await run(['ip', '-n', HOST, 'link', 'del', hostIf]);
  });

  it('rolls back the veth when configuring the container fails half-way', async () => {
    const ctr = `plc${id}d`;
    const ctrPath = await newNetns(ctr);
    const hostIf = hostInterfaceName(`${id}-d`);
    // Fails inside the container batch: the same address twice ("File exists").
    const ip = `198.18.${octet}.22`;
    await expect(
      attachWorkload({ netnsPath: ctrPath, hostNetns: nsPath(HOST), hostIfName: hostIf, containerIfName: 'eth0', ipv4: [ip, ip], ipv6: [] }),
    ).rejects.toThrow();
    expect(await linkNames(HOST)).not.toContain(hostIf);
    expect(await linkNames(ctr)).not.toContain('eth0');
  });

  it('rejects bad input before touching the kernel, naming the field', async () => {
    const base = { hostNetns: nsPath(HOST), hostIfName: hostInterfaceName(`${id}-e`), containerIfName: 'eth0', ipv4: [], ipv6: [] };
    await expect(attachWorkload({ ...base, netnsPath: `/var/run/netns/none${id}` })).rejects.toThrow(/netnsPath: .*does not exist/);
    await expect(attachWorkload({ ...base, netnsPath: nsPath(HOST), containerIfName: 'a-very-long-interface' })).rejects.toThrow(/containerIfName/);
    await expect(attachWorkload({ ...base, netnsPath: nsPath(HOST), ipv4: ['fd00::1'] })).rejects.toThrow(/ipv4/);
    await expect(attachWorkload({ ...base, netnsPath: nsPath(HOST), ipv4: ['300.1.1.1'] })).rejects.toThrow(/ipv4/);
    expect(await linkNames(HOST)).not.toContain(base.hostIfName);
  });
});

describe('createHostVeth (runtimes that move the container end themselves)', () => {
  it('leaves a configured host end and a bare peer in the host namespace; detach removes both', async () => {
    const hostIf = hostInterfaceName(`${id}-docker`);
    const peer = `tmp${id}`;
    const { peerMac } = await createHostVeth({ hostIfName: hostIf, peerIfName: peer, hostNetns: nsPath(HOST), mtu: 1450 });
    const show = (n: string) => inNs(HOST, ['ip', '-j', 'link', 'show', n]).then((r) => JSON.parse(r.stdout)[0]);
    const host = await show(hostIf);
    expect(host.address).toBe('ee:ee:ee:ee:ee:ee');
    expect(host.flags).toContain('UP');
    expect((await inNs(HOST, ['cat', `/proc/sys/net/ipv4/conf/${hostIf}/proxy_arp`])).stdout.trim()).toBe('1');
    const p = await show(peer);
    expect(p.address).toBe(peerMac);
    expect(p.mtu).toBe(1450);
    await expect(createHostVeth({ hostIfName: hostIf, peerIfName: `tmq${id}`, hostNetns: nsPath(HOST) })).rejects.toThrow(/already exists/);
    await detachWorkload({ hostIfName: hostIf, hostNetns: nsPath(HOST) });
    const left = await linkNames(HOST);
    expect(left).not.toContain(hostIf);
    expect(left).not.toContain(peer);
    expect(left).not.toContain(`tmq${id}`);
  });
});

describe('addWorkload / removeWorkload (real etcd, IPAM, netns)', () => {
  const POOL4 = `198.19.${octet}.0/24`;
  const POOL6 = `fd00:19:${octet.toString(16)}::/112`;
  const node = `node-${id}`;
  let ctx: WorkloadContext;
  let client: ResourceClient;

  beforeAll(async () => {
    etcd = await startEtcd();
    ds = await connectDatastore(etcdConfigFromEnv({ ETCD_ENDPOINTS: etcd.endpoint }));
    client = new ResourceClient(ds);
    ctx = { ds, ipam: new Ipam(ds) };
    await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'pool4' }, spec: { cidr: POOL4 } });
    await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'pool6' }, spec: { cidr: POOL6 } });
    for (const p of ['web', 'db']) await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: p }, spec: {} });
  });

  const ref = (workload: string) => ({ node, orchestrator: 'test', workload, endpoint: 'eth0' });
  const handleOf = (workload: string) => defaultHandleId(ref(workload));

  it('allocates, plumbs and writes the WorkloadEndpoint; remove undoes all of it and is idempotent', async () => {
    const ctrPath = await newNetns(`plw${id}a`);
    const wep = await addWorkload(ctx, {
      ...ref('wa'),
      netnsPath: ctrPath,
      hostNetns: nsPath(HOST),
      num4: 1,
      num6: 1,
      profiles: ['web'],
      labels: { app: 'a' },
    });
    expect(wep.metadata.name).toBe(`${node.replace(/-/g, '--')}-test-wa-eth0`);
    expect(wep.metadata.namespace).toBe('default');
    expect(wep.metadata.labels).toMatchObject({ app: 'a', 'projectcalico.org/orchestrator': 'test' });
    expect(wep.spec).toMatchObject({ node, orchestrator: 'test', workload: 'wa', endpoint: 'eth0', profiles: ['web'] });
    expect(wep.spec.interfaceName).toBe(hostInterfaceName(wep.metadata.name));
    const nets = wep.spec.ipNetworks!;
    expect(nets).toHaveLength(2);
    expect(nets[0]).toMatch(new RegExp(`^198\\.19\\.${octet}\\.\\d+/32$`));
    expect(nets[1]).toMatch(/^fd00:19:.*\/128$/);
    const ips = nets.map((n) => n.split('/')[0]!);
    expect((await ctx.ipam.ipsByHandle(handleOf('wa'))).sort()).toEqual([...ips].sort());
    expect(await linkNames(HOST)).toContain(wep.spec.interfaceName);
    const eth0 = JSON.parse((await inNs(`plw${id}a`, ['ip', '-j', 'addr', 'show', 'eth0'])).stdout)[0];
    expect(eth0.address).toBe(wep.spec.mac);
    // stored as written
    const stored = await client.get('WorkloadEndpoint', wep.metadata.name, 'default');
    expect(stored.spec).toEqual(wep.spec);
    expect((await listWorkloadEndpoints(ctx.ds, node)).map((w) => w.metadata.name)).toContain(wep.metadata.name);

    // felix's host routes, emulated: then the workload reaches the host
    await run(['ip', '-n', HOST, 'route', 'add', `${ips[0]}/32`, 'dev', wep.spec.interfaceName!, 'scope', 'link']);
    await run(['ip', '-n', HOST, '-6', 'route', 'add', `${ips[1]}/128`, 'dev', wep.spec.interfaceName!]);
    expect(await ping(`plw${id}a`, HOST_IP)).toBe(true);
    expect(await ping(`plw${id}a`, HOST_IP6)).toBe(true);

    const removed = await removeWorkload(ctx, { ...ref('wa'), hostNetns: nsPath(HOST) });
    expect(removed?.metadata.name).toBe(wep.metadata.name);
    expect(await linkNames(HOST)).not.toContain(wep.spec.interfaceName);
    expect(await client.tryGet('WorkloadEndpoint', wep.metadata.name, 'default')).toBeUndefined();
    expect(await ctx.ipam.ipsByHandle(handleOf('wa'))).toEqual([]);
    for (const ip of ips) expect(await ctx.ipam.getAttributes(ip)).toBeUndefined();
    expect(await removeWorkload(ctx, { ...ref('wa'), hostNetns: nsPath(HOST) })).toBeUndefined();
  });

  it('takes an explicit address from IPAM, and refuses one in use or outside every pool', async () => {
    const ctrPath = await newNetns(`plw${id}b`);
    const ip = `198.19.${octet}.77`;
    const wep = await addWorkload(ctx, { ...ref('wb'), netnsPath: ctrPath, hostNetns: nsPath(HOST), ips: [ip] });
    expect(wep.spec.ipNetworks).toEqual([`${ip}/32`]);
    expect((await ctx.ipam.getAttributes(ip))?.handleId).toBe(handleOf('wb'));

    const other = await newNetns(`plw${id}c`);
    await expect(addWorkload(ctx, { ...ref('wc'), netnsPath: other, hostNetns: nsPath(HOST), ips: [ip] })).rejects.toThrow(/already assigned/);
    await expect(addWorkload(ctx, { ...ref('wc'), netnsPath: other, hostNetns: nsPath(HOST), ips: ['198.18.200.1'] })).rejects.toThrow(/not in any IP pool/);
    // neither attempt left anything
    expect(await ctx.ipam.ipsByHandle(handleOf('wc'))).toEqual([]);
    expect(await linkNames(HOST)).not.toContain(hostInterfaceName(`${node.replace(/-/g, '--')}-test-wc-eth0`));
    expect(await linkNames(`plw${id}c`)).not.toContain('eth0');
    // the same workload endpoint twice is refused before allocating
    await expect(addWorkload(ctx, { ...ref('wb'), netnsPath: ctrPath, hostNetns: nsPath(HOST), num4: 1 })).rejects.toThrow(/already exists/);
    expect(await ctx.ipam.ipsByHandle(handleOf('wb'))).toEqual([ip]);
    await removeWorkload(ctx, { ...ref('wb'), hostNetns: nsPath(HOST) });
  });

  it('a failure half-way leaves no veth, no WorkloadEndpoint and no allocation', async () => {
    const ctr = `plw${id}d`;
    const ctrPath = await newNetns(ctr);
    await run(['ip', '-n', ctr, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'taken0']);
    const ip = `198.19.${octet}.88`;
    await expect(addWorkload(ctx, { ...ref('wd'), netnsPath: ctrPath, hostNetns: nsPath(HOST), ips: [ip], num6: 1 })).rejects.toThrow(/already exists/);
    await expect(addWorkload(ctx, { ...ref('wd'), netnsPath: `/var/run/netns/gone${id}`, hostNetns: nsPath(HOST), ips: [ip] })).rejects.toThrow(/netnsPath/);
    const name = `${node.replace(/-/g, '--')}-test-wd-eth0`;
    expect(await client.tryGet('WorkloadEndpoint', name, 'default')).toBeUndefined();
    expect(await ctx.ipam.ipsByHandle(handleOf('wd'))).toEqual([]);
    expect(await ctx.ipam.getAttributes(ip)).toBeUndefined();
    expect(await linkNames(HOST)).not.toContain(hostInterfaceName(name));
    // bad input is refused before anything is allocated
    await expect(addWorkload(ctx, { ...ref('wd'), netnsPath: ctrPath, hostNetns: nsPath(HOST), num4: 1, labels: { 'bad key!': 'x' } })).rejects.toThrow(ValidationError);
    await expect(addWorkload(ctx, { ...ref('wd'), netnsPath: ctrPath, hostNetns: nsPath(HOST) })).rejects.toThrow(/at least one address/);
    expect(await ctx.ipam.ipsByHandle(handleOf('wd'))).toEqual([]);
  });

  it('uses addresses the caller already allocated, and leaves them to the caller on failure', async () => {
    const ctr = `plw${id}f`;
    const ctrPath = await newNetns(ctr);
    const ip = `198.19.${octet}.66`;
    await ctx.ipam.assignIp({ ip, handleId: `net.${id}`, hostname: node });
    await run(['ip', '-n', ctr, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'taken0']);
    await expect(addWorkload(ctx, { ...ref('wf'), netnsPath: ctrPath, hostNetns: nsPath(HOST), allocated: [ip] })).rejects.toThrow(/already exists/);
    expect((await ctx.ipam.getAttributes(ip))?.handleId).toBe(`net.${id}`);
    await run(['ip', '-n', ctr, 'link', 'del', 'eth0']);
    const wep = await addWorkload(ctx, { ...ref('wf'), netnsPath: ctrPath, hostNetns: nsPath(HOST), allocated: [ip], handleId: `net.${id}` });
    expect(wep.spec.ipNetworks).toEqual([`${ip}/32`]);
    await expect(addWorkload(ctx, { ...ref('wg'), netnsPath: ctrPath, allocated: [ip], num4: 1 })).rejects.toThrow(/not both/);
    await removeWorkload(ctx, { ...ref('wf'), hostNetns: nsPath(HOST), handleId: `net.${id}` });
    expect(await ctx.ipam.getAttributes(ip)).toBeUndefined();
  });

  it('adds and removes addresses and profiles on a running workload', async () => {
    const ctr = `plw${id}e`;
    const ctrPath = await newNetns(ctr);
    const wep = await addWorkload(ctx, { ...ref('we'), netnsPath: ctrPath, hostNetns: nsPath(HOST), num4: 1 });
    const first = wep.spec.ipNetworks![0]!.split('/')[0]!;

    const [v6] = await addWorkloadIps(ctx, { ...ref('we'), netnsPath: ctrPath, num6: 1, pools: [POOL6] });
    const extra = `198.19.${octet}.99`;
    await addWorkloadIps(ctx, { ...ref('we'), netnsPath: ctrPath, ips: [extra] });
    let cur = await client.get('WorkloadEndpoint', wep.metadata.name, 'default');
    expect(cur.spec.ipNetworks).toEqual([`${first}/32`, `${v6}/128`, `${extra}/32`]);
    const addrs = (await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout;
    expect(addrs).toContain(`${extra}/32`);
    expect(addrs).toContain(`${v6}/128`);
    expect((await inNs(ctr, ['ip', '-6', 'route'])).stdout).toContain(`default via ${IPV6_GATEWAY}`);
    expect((await ctx.ipam.ipsByHandle(handleOf('we'))).sort()).toEqual([first, v6!, extra].sort());
    await expect(addWorkloadIps(ctx, { ...ref('we'), netnsPath: ctrPath, ips: [extra] })).rejects.toThrow(/already assigned/);

    await removeWorkloadIps(ctx, { ...ref('we'), netnsPath: ctrPath, ips: [extra] });
    cur = await client.get('WorkloadEndpoint', wep.metadata.name, 'default');
    expect(cur.spec.ipNetworks).toEqual([`${first}/32`, `${v6}/128`]);
    expect((await inNs(ctr, ['ip', 'addr', 'show', 'eth0'])).stdout).not.toContain(`${extra}/32`);
    expect(await ctx.ipam.getAttributes(extra)).toBeUndefined();
    await expect(removeWorkloadIps(ctx, { ...ref('we'), netnsPath: ctrPath, ips: [extra] })).rejects.toThrow(/not assigned/);

    expect((await setWorkloadProfiles(ctx.ds, ref('we'), 'append', ['web'])).spec.profiles).toEqual(['web']);
    expect((await setWorkloadProfiles(ctx.ds, ref('we'), 'append', ['db', 'web'])).spec.profiles).toEqual(['web', 'db']);
    expect((await setWorkloadProfiles(ctx.ds, ref('we'), 'remove', ['web'])).spec.profiles).toEqual(['db']);
    expect((await setWorkloadProfiles(ctx.ds, ref('we'), 'set', ['web'])).spec.profiles).toEqual(['web']);
    await expect(setWorkloadProfiles(ctx.ds, ref('we'), 'append', ['nope'])).rejects.toThrow(/profile nope does not exist/);
    await expect(setWorkloadProfiles(ctx.ds, ref('we'), 'remove', ['db'])).rejects.toThrow(/does not have/);

    await removeWorkload(ctx, { ...ref('we'), hostNetns: nsPath(HOST) });
    expect(await ctx.ipam.ipsByHandle(handleOf('we'))).toEqual([]);
  });
});
