// `ipam`: 8 hosts × 2 allocator processes take 10,000 addresses from a /16
// (/26 blocks), then release them all by handle. Beside it, the raw etcd
// ceiling measured in the same run: 16 processes CAS-writing 16 keys.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { Block, ResourceClient, checkIpam, parseCidr } from '@calico/libcalico';
import { startEtcd } from '../test/helpers/etcd.js';
import type { Bench, BenchResult } from './types.js';

const WORKER = fileURLToPath(new URL('./ipam-worker.mjs', import.meta.url));
const HOSTS = 8;
const PER_HOST = 2;
const TOTAL = Number(process.env.IPAM_BENCH_TOTAL ?? 10_000);
const POOL = '198.19.0.0/16';
const CEILING_MS = 4000;

interface Worker {
  proc: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  go(): void;
}

function startWorker(env: Record<string, string>): Worker {
  const proc = spawn(process.execPath, [WORKER], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  return {
    proc,
    async next() {
      const r = await lines.next();
      if (r.done) throw new Error(`bench worker ${JSON.stringify(env)} exited early`);
      return JSON.parse(r.value) as Record<string, unknown>;
    },
    go: () => proc.stdin!.write('go\n'),
  };
}

/** Start all workers, wait until every one is connected, start them together, time the phase. */
async function phase(workers: Worker[]): Promise<{ ms: number; outs: Record<string, unknown>[] }> {
  const t = performance.now();
  workers.forEach((w) => w.go());
  const outs = await Promise.all(workers.map((w) => w.next()));
  return { ms: performance.now() - t, outs };
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

const bench: Bench = {
  name: 'ipam',
  description: `${HOSTS} hosts × ${PER_HOST} allocator processes, ${TOTAL} allocations from ${POOL} (/26 blocks), then release by handle`,
  async run(): Promise<BenchResult[]> {
    const etcd = await startEtcd();
    const ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 5000 });
    try {
      await new ResourceClient(ds).create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'bench' }, spec: { cidr: POOL, blockSize: 26 } });

      // The ceiling: the same client and CAS call, one key per process, a
      // block-sized value. Measured before and after the allocations (the
      // machine is shared), and the higher figure is the reference.
      const value = Block.create(parseCidr('198.19.0.0/26'), 'ceiling', false).serialize();
      const measureCeiling = async (): Promise<{ rate: number; lat: number[] }> => {
        const ws = Array.from({ length: HOSTS * PER_HOST }, (_, i) =>
          startWorker({ MODE: 'ceiling', ETCD: etcd.endpoint, KEY: `/bench/ceiling/${i}`, VALUE: value, DURATION_MS: String(CEILING_MS) }),
        );
        await Promise.all(ws.map((w) => w.next()));
        const ceil = await phase(ws);
        const lat = ceil.outs.flatMap((o) => o.lat as number[]).sort((a, b) => a - b);
        console.log(`  (ceiling: ${lat.length} CAS writes in ${(ceil.ms / 1000).toFixed(1)} s)`);
        return { rate: (lat.length * 1000) / ceil.ms, lat };
      };
      const before = await measureCeiling();

      const per = TOTAL / (HOSTS * PER_HOST);
      const workers: Worker[] = [];
      for (let h = 0; h < HOSTS; h++) {
        for (let w = 0; w < PER_HOST; w++) {
          workers.push(startWorker({ MODE: 'alloc', ETCD: etcd.endpoint, HOST: `host${h}`, WORKER: String(w), COUNT: String(per) }));
        }
      }
      await Promise.all(workers.map((w) => w.next()));
      const alloc = await phase(workers);
      const lat = alloc.outs.flatMap((o) => o.lat as number[]).sort((a, b) => a - b);
      const ips = alloc.outs.flatMap((o) => o.ips as string[]);
      const duplicates = ips.length - new Set(ips).size;
      console.log(`  (allocated ${ips.length} in ${(alloc.ms / 1000).toFixed(1)} s)`);
      const afterAlloc = await checkIpam(ds);
      const inconsistencies =
        afterAlloc.missingHandles.length + afterAlloc.handleMismatches.length + afterAlloc.danglingAffinities.length + afterAlloc.malformed.length;

      const release = await phase(workers);
      const afterRelease = await checkIpam(ds);
      const leaks = afterRelease.allocations + afterRelease.handles + afterRelease.leaks.length;
      const after = await measureCeiling();
      const { rate: ceiling, lat: ceilLat } = before.rate >= after.rate ? before : after;
      const rate = (ips.length * 1000) / alloc.ms;
      const releaseRate = (ips.length * 1000) / release.ms;

      return [
        {
          scenario: 'ipam',
          metric: 'allocations/s',
          ours: rate,
          unit: '/s',
          reference: ceiling,
          referenceLabel: 'etcd CAS ceiling (16 procs × 1 key each)',
          goal: '≥ 50% of ceiling',
          ok: rate >= 0.5 * ceiling && ips.length === TOTAL,
          note: `${ips.length} addresses in ${(alloc.ms / 1000).toFixed(1)} s, ${afterAlloc.blocks} blocks`,
        },
        { scenario: 'ipam', metric: 'allocation p50', ours: pct(lat, 0.5), unit: 'ms', reference: pct(ceilLat, 0.5), referenceLabel: 'CAS write p50' },
        { scenario: 'ipam', metric: 'allocation p99', ours: pct(lat, 0.99), unit: 'ms', reference: pct(ceilLat, 0.99), referenceLabel: 'CAS write p99' },
        { scenario: 'ipam', metric: 'release by handle/s', ours: releaseRate, unit: '/s', reference: ceiling, referenceLabel: 'etcd CAS ceiling' },
        {
          scenario: 'ipam',
          metric: 'duplicate addresses',
          ours: duplicates,
          unit: '',
          goal: '0',
          ok: duplicates === 0 && inconsistencies === 0,
          note: `ipam check after allocating: ${inconsistencies} inconsistencies`,
        },
        { scenario: 'ipam', metric: 'leaks after release', ours: leaks, unit: '', goal: '0', ok: leaks === 0, note: 'ipam check: allocations + handles left' },
      ];
    } finally {
      await ds.close();
      await etcd.stop();
    }
  },
};

export default bench;
