// felix-cold: time from felix start to a converged dataplane with 1,000 and
// 5,000 local endpoints, 100 profiles and 100 policies, beside the raw cost
// (measured in the same run, same netns) of loading the identical final state
// with one iptables-restore per table + one ipset restore + one ip -batch.
// Each is measured RUNS times, alternately, in one lab (the kernel state reset
// in between, on a quiet machine), and the medians are compared.
import type { Bench, BenchResult } from './types.js';
import { layouts, percentile, sizes, withCpuBusy, FelixBenchLab } from './felix-lab.js';

async function raw(b: FelixBenchLab): Promise<{ ms: number; busy: number; rules: number }> {
  const h = (cmd: string[]) => b.lab.hostRun(cmd);
  // The final state felix reached, as the kernel tools print it.
  const dumps: [string, string][] = [];
  for (const tool of ['iptables-nft', 'ip6tables-nft']) for (const t of ['filter', 'nat', 'raw']) dumps.push([`${tool}-restore`, (await h([`${tool}-save`, '-t', t])).stdout]);
  const sets = (await h(['ipset', 'save'])).stdout;
  const routes = [
    ...(await h(['ip', '-4', 'route', 'show', 'proto', '80'])).stdout.split('\n'),
    ...(await h(['ip', '-6', 'route', 'show', 'proto', '80'])).stdout.split('\n'),
  ]
    .filter(Boolean)
    .map((l) => `route add ${l.replace(/ linkdown| pref medium/g, '')}`.replace(' dev ', ' proto 80 dev '));
  const rules = dumps.reduce((n, [, d]) => n + d.split('\n').filter((l) => l.startsWith('-A ')).length, 0);
  await b.lab.stopFelix();
  await b.clearDataplane(); // start from nothing, as felix did
  const must = async (cmd: string[], input: string) => {
    const r = await b.lab.hostRunInput(cmd, input);
    if (r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr.slice(0, 300)}`);
  };
  const t0 = performance.now();
  const { busy } = await withCpuBusy(async () => {
    await must(['ipset', 'restore'], sets);
    for (const [tool, d] of dumps) await must([tool], d);
    await must(['ip', '-batch', '-'], routes.join('\n') + '\n');
  });
  return { ms: performance.now() - t0, busy, rules };
}

/** Cold starts per layout and size, each followed by the raw load of the state it reached; medians reported. */
const RUNS = 3;

const bench: Bench = {
  name: 'felix-cold',
  description: 'felix start → converged dataplane (1,000 / 5,000 endpoints, 100 profiles, 100 policies) vs raw restore of the same state',
  async run(): Promise<BenchResult[]> {
    const out: BenchResult[] = [];
    for (const [layout, env] of layouts()) for (const n of sizes()) {
      const b = new FelixBenchLab();
      try {
        await b.setup(n);
        await b.notePristine();
        const ours: number[] = [];
        const raws: number[] = [];
        // How busy the 2 cores were during each: felix's start is CPU-bound, the raw load mostly one process at a time.
        const oursBusy: number[] = [];
        const rawBusy: number[] = [];
        let rules = 0;
        for (let k = 0; k < RUNS; k++) {
          if (k) await b.resetKernel();
          await b.waitQuiet();
          const o = await withCpuBusy(() => b.startFelix(env));
          ours.push(o.value);
          oursBusy.push(o.busy);
          await b.waitQuiet();
          const r = await raw(b);
          raws.push(r.ms);
          rawBusy.push(r.busy);
          rules = r.rules;
        }
        const [o, r] = [percentile(ours, 50), percentile(raws, 50)];
        const pct = (xs: number[]) => `${(percentile(xs, 50) * 100).toFixed(0)} %`;
        out.push({
          scenario: 'felix-cold',
          metric: `cold start, ${layout} chains, ${n} endpoints (${rules} iptables rules), median of ${RUNS} (ours ${ours.map((x) => x.toFixed(0)).join('/')} ms, CPUs ${pct(oursBusy)} busy; raw ${raws.map((x) => x.toFixed(0)).join('/')} ms, ${pct(rawBusy)} busy)`,
          ours: o,
          unit: 'ms',
          reference: r,
          referenceLabel: 'raw restore of the same state',
          goal: '≤ 1.5× raw',
          ok: o <= 1.5 * r,
          note: 'ours includes node start-up, the etcd list and the sysctls',
        });
      } finally {
        await b.teardown();
      }
    }
    return out;
  },
};
export default bench;
