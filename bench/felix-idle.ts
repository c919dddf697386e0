// felix-idle: kernel writes by felix in 60 s with nothing changing (its
// refreshes re-read iptables, ipsets and routes every 10 s meanwhile), and its
// resident memory, with 5,000 endpoints programmed; for each chain layout.
import { readFileSync } from 'node:fs';
import type { Bench, BenchResult } from './types.js';
import { FelixBenchLab, layouts } from './felix-lab.js';
import { sleep } from '../packages/felix/test/helpers.js';

const N = 5000;
const IDLE_S = 60;

async function idle(layout: string, env: Record<string, string>): Promise<BenchResult[]> {
  const b = new FelixBenchLab();
  try {
    await b.setup(N);
    await b.startFelix({ ...env, FELIX_IPTABLESREFRESHINTERVAL: '10', FELIX_IPSETSREFRESHINTERVAL: '10', FELIX_ROUTEREFRESHINTERVAL: '10' });
    await b.lab.settle();
    const before = await b.lab.metrics();
    await sleep(IDLE_S * 1000);
    const after = await b.lab.metrics();
    const rssMb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${b.felixPid}/status`, 'utf8'))![1]) / 1024;
    const writes = (after.felix_kernel_writes_total ?? 0) - (before.felix_kernel_writes_total ?? 0);
    const reads = (after.felix_iptables_save_calls_total ?? 0) - (before.felix_iptables_save_calls_total ?? 0);
    return [
      { scenario: 'felix-idle', metric: `kernel writes in ${IDLE_S} s idle, ${layout} chains`, ours: writes, unit: 'writes', goal: '0', ok: writes === 0, note: `${reads} iptables-save read-backs meanwhile` },
      { scenario: 'felix-idle', metric: `RSS with ${N} endpoints, ${layout} chains`, ours: rssMb, unit: 'MB', reference: 200, referenceLabel: 'goal', goal: '≤ 200 MB', ok: rssMb <= 200 },
    ];
  } finally {
    await b.teardown();
  }
}

const bench: Bench = {
  name: 'felix-idle',
  description: `kernel writes in ${IDLE_S} s with nothing changing, and RSS, at ${N} endpoints`,
  async run() {
    const out: BenchResult[] = [];
    for (const [layout, env] of layouts()) out.push(...(await idle(layout, env)));
    return out;
  },
};
export default bench;
