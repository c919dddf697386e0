// felix-idle: kernel writes by felix in 60 s with nothing changing (its
// refreshes re-read iptables, ipsets and routes every 10 s meanwhile), and its
// resident memory, with 5,000 endpoints programmed; for each chain layout.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { Bench, BenchResult } from './types.js';
import { FelixBenchLab, layouts } from './felix-lab.js';
import { sleep } from '../packages/felix/test/helpers.js';
import { privateKiB } from '../test/lab/lab.js';

const N = 5000;
const IDLE_S = 60;

const kB = (text: string, field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);

/**
 * felix's program-starting helper (see Spawner): felix's one child that runs
 * node (the programs felix runs are the helper's children). Not found by its
 * source text: the bundle is minified.
 */
function helperPid(felix: number): number | undefined {
  const children = readdirSync(`/proc/${felix}/task`).flatMap((t) => readFileSync(`/proc/${felix}/task/${t}/children`, 'utf8').split(' ').filter(Boolean));
  return children.map(Number).find((pid) => readlinkSync(`/proc/${pid}/exe`) === process.execPath);
}

async function idle(layout: string, env: Record<string, string>): Promise<BenchResult[]> {
  const b = new FelixBenchLab();
  try {
    await b.setup(N);
    await b.startFelix({ ...env, FELIX_IPTABLESREFRESHINTERVAL: '10', FELIX_IPSETSREFRESHINTERVAL: '10', FELIX_ROUTEREFRESHINTERVAL: '10' });
    await b.lab.settle();
    const before = await b.lab.metrics();
    await sleep(IDLE_S * 1000);
    const after = await b.lab.metrics();
    // felix's RSS, plus what its helper holds on its own (private pages: the
    // node binary and libraries it maps are shared with felix's).
    const felixMb = kB(readFileSync(`/proc/${b.felixPid}/status`, 'utf8'), 'VmRSS') / 1024;
    const helper = helperPid(b.felixPid);
    if (!helper) throw new Error('felix has no helper process');
    const helperMb = privateKiB(helper) / 1024;
    const rssMb = felixMb + helperMb;
    const writes = (after.felix_kernel_writes_total ?? 0) - (before.felix_kernel_writes_total ?? 0);
    const reads = (after.felix_iptables_save_calls_total ?? 0) - (before.felix_iptables_save_calls_total ?? 0);
    return [
      { scenario: 'felix-idle', metric: `kernel writes in ${IDLE_S} s idle, ${layout} chains`, ours: writes, unit: 'writes', goal: '0', ok: writes === 0, note: `${reads} iptables-save read-backs meanwhile` },
      {
        scenario: 'felix-idle',
        metric: `RSS with ${N} endpoints, ${layout} chains (felix + its helper's private memory)`,
        ours: rssMb,
        unit: 'MB',
        reference: 200,
        referenceLabel: 'goal',
        goal: '≤ 200 MB',
        ok: rssMb <= 200,
        note: `felix ${felixMb.toFixed(0)} MB + helper ${helperMb.toFixed(0)} MB (its RSS: ${(kB(readFileSync(`/proc/${helper}/status`, 'utf8'), 'VmRSS') / 1024).toFixed(0)} MB)`,
      },
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
