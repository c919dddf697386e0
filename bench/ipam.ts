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
const CEILING_MS = 2000;
const ROUNDS = 5;

interface Worker {
  proc: ChildProcess;
  next(): Promise<Record<string, unknown>>;
  send(line: string): void;
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
    send: (line) => proc.stdin!.write(line + '\n'),
  };
}

/** Send every worker a command at once and time until all have answered. */
async function phase(workers: Worker[], line: string): Promise<{ ms: number; outs: Record<string, unknown>[] }> {
  const t = performance.now();
  workers.forEach((w) => w.send(line));
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

      // The ceiling: the same client and CAS call, one key per process. The machine is shared, so ceiling and allocation
      // phases alternate (ROUNDS allocation phases between ROUNDS+1 ceiling
      // phases) and each figure is summed over its phases.
      // The value: a half-full block, the average block an allocation rewrites.
      const half = Block.create(parseCidr('198.19.0.0/26'), 'host0', false);
      for (let i = 0; i < 32; i++) half.assign(1, `bench.host0.0.${i}`, null);
      const value = half.serialize();
      const n = HOSTS * PER_HOST;
      const ceilingWorkers = Array.from({ length: n }, (_, i) =>
        startWorker({ MODE: 'ceiling', ETCD: etcd.endpoint, KEY: `/bench/ceiling/${i}`, VALUE: value, DURATION_MS: String(CEILING_MS) }),
      );
      const workers: Worker[] = [];
      for (let h = 0; h < HOSTS; h++) {
        for (let w = 0; w < PER_HOST; w++) workers.push(startWorker({ MODE: 'alloc', ETCD: etcd.endpoint, HOST: `host${h}`, WORKER: String(w) }));
      }
      await Promise.all([...ceilingWorkers, ...workers].map((w) => w.next()));

      const ceilLat: number[] = [];
      const lat: number[] = [];
      const ips: string[] = [];
      let ceilMs = 0;
      let allocMs = 0;
      const ceilingPhase = async (): Promise<void> => {
        const p = await phase(ceilingWorkers, 'go');
        ceilMs += p.ms;
        ceilLat.push(...p.outs.flatMap((o) => o.lat as number[]));
      };
      for (let r = 0; r < ROUNDS; r++) {
        await ceilingPhase();
        const a = await phase(workers, `alloc ${TOTAL / n / ROUNDS}`);
        allocMs += a.ms;
        lat.push(...a.outs.flatMap((o) => o.lat as number[]));
        ips.push(...a.outs.flatMap((o) => o.ips as string[]));
      }
      await ceilingPhase();
      ceilingWorkers.forEach((w) => w.send('exit'));
      lat.sort((a, b) => a - b);
      ceilLat.sort((a, b) => a - b);
      const ceiling = (ceilLat.length * 1000) / ceilMs;
      const rate = (ips.length * 1000) / allocMs;
      const busy = lat.reduce((a, b) => a + b, 0) / n / allocMs;
      console.log(
        `  (ceiling: ${ceilLat.length} CAS writes in ${(ceilMs / 1000).toFixed(1)} s; allocated ${ips.length} in ${(allocMs / 1000).toFixed(1)} s, ` +
          `mean ${(lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(1)} ms, allocators busy ${(busy * 100).toFixed(0)}% of the time)`,
      );

      const duplicates = ips.length - new Set(ips).size;
      const afterAlloc = await checkIpam(ds);
      const inconsistencies =
        afterAlloc.missingHandles.length + afterAlloc.handleMismatches.length + afterAlloc.danglingAffinities.length + afterAlloc.malformed.length;

      const release = await phase(workers, 'release');
      workers.forEach((w) => w.send('exit'));
      const afterRelease = await checkIpam(ds);
      const leaks = afterRelease.allocations + afterRelease.handles + afterRelease.leaks.length;
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
          note: `${ips.length} addresses in ${(allocMs / 1000).toFixed(1)} s, ${afterAlloc.blocks} blocks`,
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
