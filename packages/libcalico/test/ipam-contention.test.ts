// IPAM under contention: allocator processes for many hosts in parallel must
// never hand out the same address, also when etcd dies and comes back.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { Ipam, ResourceClient, checkIpam } from '@calico/libcalico';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';

const WORKER = fileURLToPath(new URL('./ipam-worker.mjs', import.meta.url));

interface Held {
  handleId: string;
  ips: string[];
}
interface WorkerOutput {
  held: Held[];
  failed: { handleId: string; error: string }[];
}

let etcd: TestEtcd;
let ds: EtcdDatastore;

beforeAll(async () => {
  etcd = await startEtcd();
  ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
});
afterAll(async () => {
  await ds?.close();
  await etcd?.stop();
});

function runWorker(env: Record<string, string>): Promise<WorkerOutput> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [WORKER], { env: { ...process.env, ETCD: etcd.endpoint, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d));
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`worker ${env.HOST}/${env.WORKER} exited ${code}: ${err}`));
      else resolve(JSON.parse(out) as WorkerOutput);
    });
  });
}

/** hosts × perHost allocator processes at once */
function runAll(hosts: number, perHost: number, env: Record<string, string>): Promise<WorkerOutput[]> {
  const runs: Promise<WorkerOutput>[] = [];
  for (let h = 0; h < hosts; h++) for (let w = 0; w < perHost; w++) runs.push(runWorker({ ...env, HOST: `host${h}`, WORKER: String(w) }));
  return Promise.all(runs);
}

async function pools(v4: string, v4Block: number, v6: string, v6Block: number): Promise<void> {
  await ds.client.delete().prefix('/calico/');
  const rc = new ResourceClient(ds);
  await rc.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'v4' }, spec: { cidr: v4, blockSize: v4Block } });
  await rc.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'v6' }, spec: { cidr: v6, blockSize: v6Block } });
}

/**
 * What every allocator believes it holds must be exactly what etcd records
 * for its handle, no address may be held twice, and `ipam check` must find
 * nothing but those addresses (no endpoints own them in this test).
 */
async function assertConsistent(held: Held[]): Promise<void> {
  const ips = held.flatMap((h) => h.ips);
  expect(new Set(ips).size).toBe(ips.length);
  const ipam = new Ipam(ds);
  for (const h of held) expect((await ipam.ipsByHandle(h.handleId)).sort()).toEqual([...h.ips].sort());
  const report = await checkIpam(ds);
  expect(report.malformed).toEqual([]);
  expect(report.missingHandles).toEqual([]);
  expect(report.handleMismatches).toEqual([]);
  expect(report.danglingAffinities).toEqual([]);
  expect(report.blocksOutsidePools).toEqual([]);
  expect(report.allocations).toBe(ips.length);
  expect(report.leaks.map((l) => l.ip).sort()).toEqual([...ips].sort());
  // Release everything: the datastore is clean again.
  for (const h of held) await ipam.releaseByHandle(h.handleId);
  const after = await checkIpam(ds);
  expect(after).toMatchObject({ ok: true, allocations: 0, handles: 0 });
}

describe('IPAM contention', () => {
  it('8 hosts × 2 allocator processes on a small pool never share an address', async () => {
    // /24 in /28 blocks (16 blocks for 8 hosts): forces claiming races and borrowing.
    await pools('198.18.20.0/24', 28, 'fd00:20::/120', 124);
    const outs = await runAll(8, 2, { COUNT: '16', RELEASE_EVERY: '4' });
    expect(outs.flatMap((o) => o.failed)).toEqual([]);
    const held = outs.flatMap((o) => o.held);
    expect(held).toHaveLength(16 * 12);
    expect(held.flatMap((h) => h.ips)).toHaveLength(16 * 12 + 16 * 3);
    await assertConsistent(held);
  }, 300_000);

  it('etcd killed and restarted mid-run: no duplicates, and no leaks once failed calls are released', async () => {
    await pools('198.18.24.0/22', 28, 'fd00:24::/118', 124);
    const total = 8 * 40;
    const run = runAll(4, 2, { COUNT: '40', RELEASE_EVERY: '0' });
    // Kill etcd once allocations are under way; calls in flight retry.
    let atKill = 0;
    for (;;) {
      atKill = (await ds.list('/calico/ipam/v2/handle/').catch(() => ({ kvs: [] }))).kvs.length;
      if (atKill >= 40) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await etcd.restart(); // SIGKILL, then start again on the same data

    const outs = await run;
    expect(atKill).toBeLessThan(total);

    const held = outs.flatMap((o) => o.held);
    const failed = outs.flatMap((o) => o.failed);
    expect(held.length + failed.length).toBe(total);
    // A failed call may have left addresses behind: its handle finds them.
    const ipam = new Ipam(ds);
    for (const f of failed) await ipam.releaseByHandle(f.handleId);
    await assertConsistent(held);
  }, 300_000);
});
