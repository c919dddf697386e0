import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { GatewayDatastore } from '@calico/libcalico/datastore/gateway';
import { MemoryDatastore, Syncer, DatastoreError, type Datastore, type WatchEvent } from '@calico/libcalico';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';

let etcd: TestEtcd;
beforeAll(async () => {
  etcd = await startEtcd();
});
afterAll(async () => {
  await etcd?.stop();
});

const impls: [string, () => Datastore][] = [
  ['memory', () => new MemoryDatastore()],
  ['etcd', () => new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 })],
  ['gateway', () => new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 })],
];

describe.each(impls)('%s datastore', (_name, make) => {
  it('creates once, CASes on revision, deletes', async () => {
    const ds = make();
    const k = `/t/${Math.random()}/a`;
    const a = await ds.create(k, '1');
    await expect(ds.create(k, '2')).rejects.toMatchObject({ code: 'AlreadyExists' });
    const b = await ds.update(k, '2', a.revision);
    await expect(ds.update(k, '3', a.revision)).rejects.toMatchObject({ code: 'Conflict' });
    expect((await ds.get(k))?.value).toBe('2');
    await expect(ds.delete(k, a.revision)).rejects.toBeInstanceOf(DatastoreError);
    await ds.delete(k, b.revision);
    expect(await ds.get(k)).toBeNull();
    await expect(ds.delete(k)).rejects.toMatchObject({ code: 'NotFound' });
    await expect(ds.update(k, 'x', b.revision)).rejects.toMatchObject({ code: 'NotFound' });
    await ds.close();
  });

  it('commits several CAS writes all or nothing, returning current values on a lost race', async () => {
    const ds = make();
    const p = `/t/${Math.random()}/`;
    const a = await ds.create(p + 'a', '1');
    const gone = await ds.create(p + 'gone', 'x');
    // create b, update a, delete gone: one revision for all
    const ok = await ds.commit([
      { key: p + 'b', value: '2', revision: null },
      { key: p + 'a', value: '1+', revision: a.revision },
      { key: p + 'gone', value: null, revision: gone.revision },
    ]);
    if (!ok.succeeded) throw new Error('commit should have succeeded');
    const [b, a2, del] = ok.kvs;
    expect(b).toMatchObject({ key: p + 'b', value: '2' });
    expect(a2).toEqual({ key: p + 'a', value: '1+', revision: b!.revision });
    expect(del).toBeNull();
    expect(await ds.get(p + 'a')).toEqual(a2);
    expect(await ds.get(p + 'b')).toEqual(b);
    expect(await ds.get(p + 'gone')).toBeNull();

    // a stale revision for a, and b is no longer absent: nothing is written
    const lost = await ds.commit([
      { key: p + 'a', value: 'stale', revision: a.revision },
      { key: p + 'c', value: '3', revision: null },
      { key: p + 'b', value: 'again', revision: null },
    ]);
    expect(lost).toEqual({ succeeded: false, current: [a2, null, b] });
    expect(await ds.get(p + 'a')).toEqual(a2);
    expect(await ds.get(p + 'c')).toBeNull();

    // one stale compare among good ones is enough to write nothing
    const partly = await ds.commit([
      { key: p + 'a', value: 'new', revision: a2!.revision },
      { key: p + 'gone', value: 'back', revision: gone.revision },
    ]);
    expect(partly).toEqual({ succeeded: false, current: [a2, null] });
    expect(await ds.get(p + 'a')).toEqual(a2);
    expect(await ds.commit([])).toEqual({ succeeded: true, kvs: [] });
    await ds.close();
  });

  it('watches a prefix from a revision (resume)', async () => {
    const ds = make();
    const p = `/t/${Math.random()}/`;
    const first = await ds.put(p + 'x', '1');
    await ds.put(p + 'y', '2');
    await ds.delete(p + 'x');
    const seen: WatchEvent[] = [];
    const w = await ds.watch(p, first.revision, { onEvents: (e) => seen.push(...e), onError: () => {} });
    await ds.put(p + 'z', '3');
    await new Promise((r) => setTimeout(r, 300));
    await w.close();
    expect(seen.map((e) => `${e.type}:${e.key.slice(p.length)}`)).toEqual(['put:x', 'put:y', 'delete:x', 'put:z']);
    await ds.close();
  });

  it('syncer delivers a snapshot then updates', async () => {
    const ds = make();
    const p = `/t/${Math.random()}/`;
    await ds.put(p + 'a', '1');
    const snaps: string[][] = [];
    const ups: string[] = [];
    const s = new Syncer(ds, [p], {
      onSnapshot: (kvs) => snaps.push(kvs.map((k) => k.key.slice(p.length))),
      onUpdates: (evs) => ups.push(...evs.map((e) => e.key.slice(p.length))),
    });
    s.start();
    await new Promise((r) => setTimeout(r, 200));
    await ds.put(p + 'b', '2');
    await new Promise((r) => setTimeout(r, 300));
    await s.stop();
    expect(snaps).toEqual([['a']]);
    expect(ups).toEqual(['b']);
    await ds.close();
  });

  it('syncer is in sync before its watches are up, and misses nothing written meanwhile', async () => {
    const ds = make();
    const p = `/t/${Math.random()}/`;
    await ds.put(p + 'a', '1');
    const ups: string[] = [];
    let written: Promise<unknown> | undefined;
    const s = new Syncer(ds, [p], {
      onSnapshot: () => {},
      onUpdates: (evs) => ups.push(...evs.map((e) => e.key.slice(p.length))),
      // written at once, while the watch request may still be on its way
      onStatus: (st) => void (st === 'in-sync' && !written && (written = ds.put(p + 'b', '2'))),
    });
    s.start();
    await new Promise((r) => setTimeout(r, 300));
    await written;
    await new Promise((r) => setTimeout(r, 200));
    await s.stop();
    expect(ups).toEqual(['b']);
    await ds.close();
  });
});

// felix and confd watch through the gateway; its unix:// endpoints are what the felix tests use.
describe('gateway watch', () => {
  const gw = () => new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });

  it('reports a watch from a compacted revision as an error (the syncer then relists)', async () => {
    const ds = gw();
    const p = `/t/${Math.random()}/`;
    const first = await ds.put(p + 'a', '1');
    const last = await ds.put(p + 'a', '2');
    const compacted = await fetch(`${etcd.endpoint}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision: last.revision }) });
    expect(compacted.status).toBe(200);
    const errors: Error[] = [];
    const watch = ds.watch(p, first.revision, { onEvents: () => {}, onError: (e) => errors.push(e) });
    // etcd may refuse at once (the promise rejects) or cancel right after `created` (onError).
    const failedAtOnce = await watch.then(() => false, () => true);
    if (!failedAtOnce) await new Promise((r) => setTimeout(r, 300));
    expect(failedAtOnce || errors.some((e) => /compacted/.test(e.message))).toBe(true);
    await ds.close();
  });
});

describe('gateway list in pages', () => {
  it('returns every key, in order, across page boundaries', async () => {
    const one = new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
    const p = `/t/${Math.random()}/`;
    // in etcd's order, by bytes: 'f' + a zero byte before 'é' (0xc3 0xa9)
    const keys = ['a', 'b', 'c', 'd', 'e', 'f\u0000g', 'é'].map((k) => p + k);
    for (const k of keys) await one.put(k, `v-${k}`);
    await one.put(p.slice(0, -1) + '0', 'beside the prefix, not under it');
    const whole = await one.list(p);
    expect(whole.kvs.map((kv) => kv.key)).toEqual(keys);
    for (const size of [1, 2, 3, 7]) {
      const paged = await new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 }, size).list(p);
      expect(paged.kvs).toEqual(whole.kvs);
    }
    expect((await new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 }, 2).list(`/t/${Math.random()}/`)).kvs).toEqual([]);
    await one.close();
  });

  it('reads every page at the first page\'s revision while keys are being written', async () => {
    const ds = new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 }, 1);
    const writer = new GatewayDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
    const p = `/t/${Math.random()}/`;
    for (let i = 0; i < 40; i++) await writer.put(`${p}a${String(i).padStart(3, '0')}`, 'x');
    // New keys sort after every existing one, so a later page would pick them up unless pinned.
    const written: { key: string; revision: bigint }[] = [];
    let listing = true;
    const writing = (async () => {
      for (let i = 0; listing; i++) {
        const kv = await writer.put(`${p}z${String(i).padStart(4, '0')}`, 'x');
        written.push({ key: kv.key, revision: BigInt(kv.revision) });
      }
    })();
    const list = await ds.list(p);
    listing = false;
    await writing;
    const at = BigInt(list.revision);
    const got = new Set(list.kvs.map((kv) => kv.key));
    // The test means something only if writes landed while the pages were read.
    expect(written.filter((w) => w.revision > at).length).toBeGreaterThan(0);
    for (const w of written) expect(got.has(w.key)).toBe(w.revision <= at);
    expect(list.kvs.filter((kv) => kv.key.startsWith(`${p}a`))).toHaveLength(40);
    await ds.close();
    await writer.close();
  });
});

describe('etcd unavailability', () => {
  it('fails within seconds naming the endpoint', async () => {
    const ds = new EtcdDatastore({ endpoints: ['http://127.0.0.1:1'], timeoutMs: 1000 });
    const t0 = Date.now();
    await expect(ds.get('/x')).rejects.toThrow(/127\.0\.0\.1:1/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await ds.close();
  });
});
