// IPAM against a real etcd: allocation, release, borrowing, affinity, pools, limits, check.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { Ipam, IpamError, MemoryDatastore, ResourceClient, ValidationError, checkIpam, ipamUsage, parseCidr, cidrContainsIp, parseIp } from '@calico/libcalico';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';

let etcd: TestEtcd;
let ds: EtcdDatastore;
let rc: ResourceClient;

beforeAll(async () => {
  etcd = await startEtcd();
  ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
  rc = new ResourceClient(ds);
});
afterAll(async () => {
  await ds?.close();
  await etcd?.stop();
});
// Every test starts from an empty datastore (the etcd is private to this file).
beforeEach(async () => {
  await ds.client.delete().prefix('/calico/');
});

async function pool(name: string, cidr: string, extra: Record<string, unknown> = {}): Promise<void> {
  await rc.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr, ...extra } });
}

const inCidr = (ip: string, cidr: string): boolean => {
  const { family, value } = parseIp(ip);
  return cidrContainsIp(parseCidr(cidr), family, value);
};

async function raw(key: string): Promise<unknown> {
  const kv = await ds.get(key);
  return kv ? JSON.parse(kv.value) : undefined;
}

describe('autoAssign', () => {
  it('adds an address of another family to an existing handle from the first block it claims', async () => {
    // `container ip add` does this: the handle already holds the IPv4 address.
    await pool('p4', '198.18.0.0/24');
    await pool('p6', 'fd00:18::/112');
    const ipam = new Ipam(ds);
    await ipam.autoAssign({ num4: 1, num6: 0, handleId: 'net.c2', hostname: 'node1', pools: ['198.18.0.0/24'] });
    const r = await ipam.autoAssign({ num4: 0, num6: 1, handleId: 'net.c2', hostname: 'node1', pools: ['fd00:18::/112'] });
    expect(r.ipv6).toHaveLength(1);
    const affinities = (await ds.list('/calico/ipam/v2/host/node1/ipv6/block/')).kvs;
    expect(affinities).toHaveLength(1);
    expect((await ipam.ipsByHandle('net.c2')).length).toBe(2);
  });

  it('allocates IPv4 and IPv6 from a block affine to the host and records the handle', async () => {
    await pool('p4', '198.18.0.0/24');
    await pool('p6', 'fd00:18::/120');
    const ipam = new Ipam(ds);
    const r = await ipam.autoAssign({ num4: 2, num6: 1, handleId: 'net.c1', hostname: 'node1', attrs: { pod: 'a' } });
    expect(r.ipv4).toHaveLength(2);
    expect(r.ipv6).toHaveLength(1);
    expect(r.ipv4.every((ip) => inCidr(ip, '198.18.0.0/24'))).toBe(true);
    expect(inCidr(r.ipv6[0]!, 'fd00:18::/120')).toBe(true);

    // Calico's keys and JSON shapes.
    const v4Block = `198.18.0.${Number(r.ipv4[0]!.split('.')[3]) & ~63}/26`;
    const block = (await raw(`/calico/ipam/v2/assignment/ipv4/block/${v4Block.replace('/', '-')}`)) as Record<string, unknown>;
    expect(block).toMatchObject({ cidr: v4Block, affinity: 'host:node1', strictAffinity: false });
    expect((block.allocations as unknown[]).length).toBe(64);
    expect(block.attributes).toEqual([{ handle_id: 'net.c1', secondary: { pod: 'a' } }]);
    expect(await raw(`/calico/ipam/v2/host/node1/ipv4/block/${v4Block.replace('/', '-')}`)).toBeDefined();
    const handle = (await raw('/calico/ipam/v2/handle/net.c1')) as { block: Record<string, number> };
    expect(Object.values(handle.block).sort()).toEqual([1, 2]);

    expect((await ipam.ipsByHandle('net.c1')).sort()).toEqual([...r.ipv4, ...r.ipv6].sort());
    expect(await ipam.getAttributes(r.ipv4[0]!)).toMatchObject({ handleId: 'net.c1', attrs: { pod: 'a' }, block: v4Block });

    // The same host keeps using its block; another host gets its own.
    const again = await ipam.autoAssign({ num4: 1, handleId: 'net.c2', hostname: 'node1' });
    expect(inCidr(again.ipv4[0]!, v4Block)).toBe(true);
    const other = await ipam.autoAssign({ num4: 1, handleId: 'net.c3', hostname: 'node2' });
    expect(inCidr(other.ipv4[0]!, v4Block)).toBe(false);
    expect(new Set([...r.ipv4, ...again.ipv4, ...other.ipv4]).size).toBe(4);
  });

  it('releases by IP and by handle, idempotently, and deletes emptied blocks without affinity', async () => {
    await pool('p4', '198.18.1.0/24', { blockSize: 28 });
    const ipam = new Ipam(ds);
    const a = await ipam.autoAssign({ num4: 3, handleId: 'net.a', hostname: 'node1' });
    const b = await ipam.autoAssign({ num4: 1, handleId: 'net.b', hostname: 'node1' });

    // Release one of a's by IP (plus one never allocated): the handle shrinks.
    const unknown = '198.18.1.200';
    expect(await ipam.releaseIps([a.ipv4[0]!, unknown])).toEqual([unknown]);
    expect((await ipam.ipsByHandle('net.a')).sort()).toEqual(a.ipv4.slice(1).sort());
    expect(await ipam.releaseIps([a.ipv4[0]!])).toEqual([a.ipv4[0]]);

    expect((await ipam.releaseByHandle('net.a')).sort()).toEqual(a.ipv4.slice(1).sort());
    expect(await ipam.releaseByHandle('net.a')).toEqual([]);
    expect(await ds.get('/calico/ipam/v2/handle/net.a')).toBeNull();
    expect(await ipam.getAttributes(a.ipv4[1]!)).toBeUndefined();

    // A released address goes to the back of the free list: not reused next.
    const c = await ipam.autoAssign({ num4: 1, handleId: 'net.c', hostname: 'node1' });
    expect(a.ipv4).not.toContain(c.ipv4[0]);

    // The host gives up its blocks: the block still in use loses its affinity;
    // once emptied it is deleted.
    const gone = await ipam.releaseHostAffinities('node1');
    expect(gone.released).toHaveLength(1);
    expect((await ds.list('/calico/ipam/v2/host/')).kvs).toHaveLength(0);
    await ipam.releaseByHandle('net.b');
    await ipam.releaseByHandle('net.c');
    expect((await ds.list('/calico/ipam/v2/assignment/')).kvs).toHaveLength(0);
    expect((await checkIpam(ds)).ok).toBe(true);
  });

  it('releases a removed host’s blocks: empty ones are deleted, used ones lose their affinity', async () => {
    await pool('p4', '198.18.14.0/24', { blockSize: 28 });
    const ipam = new Ipam(ds);
    const first = await ipam.autoAssign({ num4: 16, handleId: 'h.full', hostname: 'gone' });
    const second = await ipam.autoAssign({ num4: 1, handleId: 'h.tmp', hostname: 'gone' });
    await ipam.releaseByHandle('h.tmp'); // its block stays, empty and affine to the host
    const emptyBlock = `198.18.14.${Number(second.ipv4[0]!.split('.')[3]) & ~15}/28`;
    const usedBlock = `198.18.14.${Number(first.ipv4[0]!.split('.')[3]) & ~15}/28`;
    expect(await ipam.releaseHostAffinities('gone')).toEqual({ deleted: [emptyBlock], released: [usedBlock] });
    expect(await ds.get(`/calico/ipam/v2/assignment/ipv4/block/${emptyBlock.replace('/', '-')}`)).toBeNull();
    expect(await raw(`/calico/ipam/v2/assignment/ipv4/block/${usedBlock.replace('/', '-')}`)).toMatchObject({ affinity: null });
    expect((await ds.list('/calico/ipam/v2/host/gone/')).kvs).toEqual([]);
    expect(await ipam.ipsByHandle('h.full')).toHaveLength(16);
    const report = await ipam.checkIpam();
    expect(report).toMatchObject({ danglingAffinities: [], missingHandles: [], handleMismatches: [], allocations: 16 });
  });

  it('borrows from another host’s block when no block is left to claim', async () => {
    await pool('tiny', '198.18.2.0/29', { blockSize: 30 });
    const ipam = new Ipam(ds);
    const a = await ipam.autoAssign({ num4: 3, handleId: 'h.a', hostname: 'a' });
    const b = await ipam.autoAssign({ num4: 4, handleId: 'h.b', hostname: 'b' });
    const c = await ipam.autoAssign({ num4: 1, handleId: 'h.c', hostname: 'c' });
    const all = [...a.ipv4, ...b.ipv4, ...c.ipv4];
    expect(new Set(all).size).toBe(8);
    // c's address came from a's block, which stays affine to a.
    const attr = await ipam.getAttributes(c.ipv4[0]!);
    const blockOfC = (await raw(`/calico/ipam/v2/assignment/ipv4/block/${attr!.block.replace('/', '-')}`)) as { affinity: string };
    expect(blockOfC.affinity).toBe('host:a');
    // The pool is now full: a clear error naming the pool, nothing taken.
    const err = await ipam.autoAssign({ num4: 1, handleId: 'h.d', hostname: 'd' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpamError);
    expect((err as IpamError).code).toBe('Exhausted');
    expect((err as Error).message).toContain('198.18.2.0/29');
    expect(await ds.get('/calico/ipam/v2/handle/h.d')).toBeNull();
  });

  it('with strict affinity never borrows', async () => {
    await pool('tiny', '198.18.3.0/29', { blockSize: 30 });
    const ipam = new Ipam(ds);
    await ipam.setConfig({ strictAffinity: true });
    expect(await raw('/calico/ipam/v2/config')).toMatchObject({ strict_affinity: true, auto_allocate_blocks: true });
    await ipam.autoAssign({ num4: 3, handleId: 'h.a', hostname: 'a' });
    await ipam.autoAssign({ num4: 4, handleId: 'h.b', hostname: 'b' });
    const err = await ipam.autoAssign({ num4: 1, handleId: 'h.c', hostname: 'c' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpamError);
    expect((err as Error).message).toMatch(/strict affinity/);
    // a's own block still has room for a.
    const more = await ipam.autoAssign({ num4: 1, handleId: 'h.a2', hostname: 'a' });
    expect(more.ipv4).toHaveLength(1);
  });

  it('never uses a disabled pool and validates requested pools', async () => {
    await pool('off', '198.18.4.0/24', { disabled: true });
    await pool('on', '198.18.5.0/24');
    await pool('also', '198.18.6.0/24');
    const ipam = new Ipam(ds);
    for (let i = 0; i < 3; i++) {
      const r = await ipam.autoAssign({ num4: 1, handleId: `h.${i}`, hostname: `n${i}` });
      expect(inCidr(r.ipv4[0]!, '198.18.4.0/24')).toBe(false);
    }
    // Choosing a pool by CIDR.
    const chosen = await ipam.autoAssign({ num4: 2, handleId: 'h.chosen', hostname: 'n9', pools: ['198.18.6.0/24'] });
    expect(chosen.ipv4.every((ip) => inCidr(ip, '198.18.6.0/24'))).toBe(true);
    await expect(ipam.autoAssign({ num4: 1, handleId: 'h.x', hostname: 'n1', pools: ['198.18.4.0/24'] })).rejects.toThrow(
      new ValidationError('pools', 'IP pool 198.18.4.0/24 is disabled'),
    );
    await expect(ipam.autoAssign({ num4: 1, handleId: 'h.x', hostname: 'n1', pools: ['198.18.7.0/24'] })).rejects.toThrow(/does not exist/);
    await expect(ipam.autoAssign({ num4: 1, handleId: 'h.x', hostname: 'n1', pools: ['198.18.7.1/24'] })).rejects.toThrow(/host bits/);
    await expect(ipam.assignIp({ ip: '198.18.4.9', handleId: 'h.x', hostname: 'n1' })).rejects.toThrow(/disabled/);
    // No IPv6 pool at all.
    await expect(ipam.autoAssign({ num6: 1, handleId: 'h.x', hostname: 'n1' })).rejects.toMatchObject({ code: 'NoPools' });
    expect(await ds.get('/calico/ipam/v2/handle/h.x')).toBeNull();
  });

  it('honours a pool nodeSelector', async () => {
    await pool('rack1', '198.18.8.0/24', { nodeSelector: "rack == 'r1'" });
    await pool('any', '198.18.9.0/24');
    await rc.create({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'n1', labels: { rack: 'r1' } }, spec: {} });
    const ipam = new Ipam(ds);
    const r1 = await ipam.autoAssign({ num4: 1, handleId: 'h.1', hostname: 'n1', pools: ['198.18.8.0/24'] });
    expect(inCidr(r1.ipv4[0]!, '198.18.8.0/24')).toBe(true);
    await expect(ipam.autoAssign({ num4: 1, handleId: 'h.2', hostname: 'n2', pools: ['198.18.8.0/24'] })).rejects.toMatchObject({ code: 'NoPools' });
  });

  it('gives a clear error on exhaustion and takes nothing', async () => {
    await pool('small', '198.18.10.0/30', { blockSize: 30 });
    const ipam = new Ipam(ds);
    const err = await ipam.autoAssign({ num4: 5, handleId: 'h.big', hostname: 'n1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpamError);
    expect((err as Error).message).toMatch(/no free IPv4 addresses for node n1 in pool\(s\) 198\.18\.10\.0\/30: requested 5, found 4/);
    expect((await ipamUsage(ds)).pools[0]).toMatchObject({ allocated: 0 });
    expect(await ds.get('/calico/ipam/v2/handle/h.big')).toBeNull();
    expect(await ipam.autoAssign({ num4: 4, handleId: 'h.fits', hostname: 'n1' })).toMatchObject({ ipv4: expect.any(Array) });
  });

  it('assigns a specific address once', async () => {
    await pool('p', '198.18.11.0/24');
    const ipam = new Ipam(ds);
    expect(await ipam.assignIp({ ip: '198.18.11.5', handleId: 'h.fixed', hostname: 'n1', attrs: { why: 'static' } })).toEqual({
      ip: '198.18.11.5',
      block: '198.18.11.0/26',
    });
    const err = await ipam.assignIp({ ip: '198.18.11.5', handleId: 'h.other', hostname: 'n2' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'InUse' });
    expect((err as Error).message).toContain('h.fixed');
    expect(await ds.get('/calico/ipam/v2/handle/h.other')).toBeNull();
    await expect(ipam.assignIp({ ip: '198.19.0.1', handleId: 'h.x', hostname: 'n1' })).rejects.toThrow(/not in any IP pool/);
    await expect(ipam.assignIp({ ip: '198.18.11.300', handleId: 'h.x', hostname: 'n1' })).rejects.toBeInstanceOf(ValidationError);
    // Automatic assignment never hands it out again.
    const r = await ipam.autoAssign({ num4: 63, handleId: 'h.rest', hostname: 'n1' });
    expect(r.ipv4).not.toContain('198.18.11.5');
    expect(await ipam.getAttributes('198.18.11.5')).toMatchObject({ handleId: 'h.fixed', attrs: { why: 'static' } });
  });

  it('enforces the per-host block limit', async () => {
    await pool('p', '198.18.12.0/26', { blockSize: 29 });
    const ipam = new Ipam(ds);
    await ipam.autoAssign({ num4: 8, handleId: 'h.1', hostname: 'n1', maxBlocksPerHost: 1 });
    // Limit reached: with strict affinity that is an error...
    await ipam.setConfig({ strictAffinity: true, maxBlocksPerHost: 1 });
    const err = await ipam.autoAssign({ num4: 1, handleId: 'h.2', hostname: 'n1' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/holds its limit of 1 blocks/);
    // ...without it, the host borrows from another host's block instead of claiming.
    await ipam.setConfig({ strictAffinity: false });
    await ipam.autoAssign({ num4: 1, handleId: 'h.3', hostname: 'n2' });
    const borrowed = await ipam.autoAssign({ num4: 1, handleId: 'h.4', hostname: 'n1' });
    const attr = await ipam.getAttributes(borrowed.ipv4[0]!);
    expect((await raw(`/calico/ipam/v2/assignment/ipv4/block/${attr!.block.replace('/', '-')}`)) as object).toMatchObject({ affinity: 'host:n2' });
    expect((await ds.list('/calico/ipam/v2/host/n1/')).kvs).toHaveLength(1);
  });

  it('rejects bad input naming the field', async () => {
    const ipam = new Ipam(ds);
    await expect(ipam.autoAssign({ num4: 1, handleId: 'a/b', hostname: 'n1' })).rejects.toThrow(/^handleId: /);
    await expect(ipam.autoAssign({ num4: 1, handleId: '', hostname: 'n1' })).rejects.toThrow('handleId: is required');
    await expect(ipam.autoAssign({ num4: 1, handleId: 'ok', hostname: 'bad/host' })).rejects.toThrow(/^hostname: /);
    await expect(ipam.autoAssign({ num4: -1, handleId: 'ok', hostname: 'n1' })).rejects.toThrow(/^num4: /);
    await expect(ipam.autoAssign({ num4: 1, handleId: 'ok', hostname: 'n1', attrs: { a: 1 as unknown as string } })).rejects.toThrow(/^attrs\.a: /);
    await expect(ipam.releaseIps(['nope'])).rejects.toThrow(/^ips\[0\]: /);
    await expect(ipam.releaseByHandle('../x')).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('over the in-memory datastore (writes applied in order, not one transaction)', () => {
  it('allocates, refuses duplicates and releases', async () => {
    const mem = new MemoryDatastore();
    await new ResourceClient(mem).create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'm' }, spec: { cidr: '198.18.30.0/28', blockSize: 30 } });
    const ipam = new Ipam(mem);
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => ipam.autoAssign({ num4: 2, handleId: `m.${i}`, hostname: `h${i % 3}` })),
    );
    const ips = results.flatMap((r) => r.ipv4);
    expect(new Set(ips).size).toBe(16);
    await expect(ipam.autoAssign({ num4: 1, handleId: 'm.x', hostname: 'h0' })).rejects.toMatchObject({ code: 'Exhausted' });
    for (let i = 0; i < 8; i++) expect(await ipam.releaseByHandle(`m.${i}`)).toHaveLength(2);
    expect(await checkIpam(mem)).toMatchObject({ ok: true, allocations: 0, handles: 0 });
  });
});

describe('checkIpam', () => {
  it('reports leaks, missing handles, handle mismatches, stray blocks and dangling affinities', async () => {
    await pool('p', '198.18.13.0/24');
    const ipam = new Ipam(ds);
    const owned = await ipam.autoAssign({ num4: 1, handleId: 'net.owned', hostname: 'n1' });
    await rc.create({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'n1-cni-c1-eth0', namespace: 'default' },
      spec: { node: 'n1', orchestrator: 'cni', workload: 'c1', endpoint: 'eth0', interfaceName: 'cali0123456789a', ipNetworks: [`${owned.ipv4[0]}/32`] },
    });
    expect(await checkIpam(ds)).toMatchObject({ ok: true, allocations: 1, leaks: [] });

    const leaked = await ipam.autoAssign({ num4: 1, handleId: 'net.leaked', hostname: 'n1' });
    const lost = await ipam.autoAssign({ num4: 1, handleId: 'net.lost', hostname: 'n1' });
    await ds.delete('/calico/ipam/v2/handle/net.lost');
    const hb = (await ipam.getAttributes(owned.ipv4[0]!))!.block; // n1's block
    const elsewhere = hb === '198.18.13.192/26' ? '198.18.13.0/26' : '198.18.13.192/26';
    await ds.put('/calico/ipam/v2/handle/net.ghost', JSON.stringify({ id: 'net.ghost', block: { [hb]: 2 } }));
    await ds.put(`/calico/ipam/v2/host/n7/ipv4/block/${elsewhere.replace('/', '-')}`, JSON.stringify({ state: 'confirmed' }));
    await ds.put('/calico/ipam/v2/assignment/ipv4/block/198.19.0.0-26', JSON.stringify({ cidr: '198.19.0.0/26', affinity: null, allocations: new Array(64).fill(null), unallocated: [...Array(64).keys()], attributes: [] }));

    const r = await checkIpam(ds);
    expect(r.ok).toBe(false);
    expect(r.allocations).toBe(3);
    expect(r.leaks.map((l) => l.ip).sort()).toEqual([leaked.ipv4[0], lost.ipv4[0]].sort());
    expect(r.missingHandles).toEqual([{ ip: lost.ipv4[0], handleId: 'net.lost', block: hb }]);
    expect(r.handleMismatches).toEqual([{ handleId: 'net.ghost', block: hb, recorded: 2, actual: 0 }]);
    expect(r.blocksOutsidePools).toEqual(['198.19.0.0/26']);
    expect(r.danglingAffinities).toEqual([{ host: 'n7', block: elsewhere, reason: 'block does not exist' }]);

    const usage = await ipamUsage(ds);
    expect(usage.pools).toEqual([{ cidr: '198.18.13.0/24', name: 'p', disabled: false, size: 256n, allocated: 3, free: 253n }]);
    expect(usage.blocks.find((b) => b.cidr === hb)).toMatchObject({ host: 'n1', allocated: 3, free: 61 });
  });
});
