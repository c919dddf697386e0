// calicoctl start-up: p50 of `calicoctl version` beside bare `node -e 0`, and
// of `calicoctl get ippools -o yaml` against a warm etcd holding a few pools,
// measured in the same run with the runs interleaved (so load on the machine
// hits all of them alike).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEtcd } from '../test/helpers/etcd.js';
import type { Bench, BenchResult } from './types.js';

const MAIN = fileURLToPath(new URL('../packages/calicoctl/dist/main.bundle.js', import.meta.url));
const RUNS = 20;
const POOLS = 5;

function timeRun(args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const p50 = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const bench: Bench = {
  name: 'calicoctl',
  description: `p50 of ${RUNS} runs: calicoctl version vs node -e 0; calicoctl get ippools -o yaml (${POOLS} pools, warm etcd)`,
  async run(): Promise<BenchResult[]> {
    const etcd = await startEtcd();
    try {
      const env = { ...process.env, ETCD_ENDPOINTS: etcd.endpoint };
      for (let i = 0; i < POOLS; i++) timeRun([MAIN, 'pool', 'add', `198.18.${i}.0/24`], env);
      const grpcEnv = { ...env, CALICOCTL_ETCD_CLIENT: 'grpc' };
      const cases = {
        node: () => timeRun(['-e', '0'], env),
        version: () => timeRun([MAIN, 'version'], env),
        get: () => timeRun([MAIN, 'get', 'ippools', '-o', 'yaml'], env),
        getGrpc: () => timeRun([MAIN, 'get', 'ippools', '-o', 'yaml'], grpcEnv),
      };
      const times: Record<keyof typeof cases, number[]> = { node: [], version: [], get: [], getGrpc: [] };
      for (const f of Object.values(cases)) f(); // warm the page cache
      for (let i = 0; i < RUNS; i++) {
        for (const [k, f] of Object.entries(cases) as [keyof typeof cases, () => number][]) times[k].push(f());
      }
      const node = p50(times.node);
      const version = p50(times.version);
      const get = p50(times.get);
      return [
        {
          scenario: 'calicoctl',
          metric: 'version p50',
          ours: version,
          unit: 'ms',
          reference: node,
          referenceLabel: 'node -e 0',
          goal: '≤ 1.5× bare node',
          ok: version <= 1.5 * node,
        },
        {
          scenario: 'calicoctl',
          metric: 'get ippools -o yaml p50',
          ours: get,
          unit: 'ms',
          reference: node,
          referenceLabel: 'node -e 0',
          goal: '≤ 250 ms',
          ok: get <= 250,
          note: `same command over the etcd3 gRPC client (CALICOCTL_ETCD_CLIENT=grpc): p50 ${p50(times.getGrpc).toFixed(0)} ms`,
        },
      ];
    } finally {
      await etcd.stop();
    }
  },
};

export default bench;
