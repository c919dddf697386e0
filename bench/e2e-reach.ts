// e2e-reach: from `calicoctl container add` on host A to the first ping answered from
// host B. The first workload in a new block needs that block announced by BGP (confd →
// BIRD → peer → kernel); later workloads in the same block only need felix (route,
// policy). A pinger in B's workload sends every 10 ms from before the add starts; its
// reply timestamps (ping -D) give the time of first reach.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Bench, BenchResult } from './types.js';
import { Lab, type LabHost, type Workload } from '../test/lab/lab.js';

const BLOCKS = 5; // samples of "first workload in a new block"
const LATER_PER_BLOCK = 2; // samples of "block already announced" after each

/** Ping `to` from `from` every 10 ms; resolves with the epoch ms of the first reply. */
function firstReply(lab: Lab, from: Workload, to: string, timeoutMs: number): { done: Promise<number>; stop: () => void } {
  const p = spawn('ip', ['netns', 'exec', from.netns, 'stdbuf', '-oL', 'ping', '-n', '-D', '-i', '0.01', '-W', '1', to], { stdio: ['ignore', 'pipe', 'ignore'] });
  const stop = (): void => {
    p.kill('SIGKILL');
  };
  const done = new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply from ${to} within ${timeoutMs} ms`)), timeoutMs);
    createInterface({ input: p.stdout! }).on('line', (line) => {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]) * 1000);
      }
    });
  });
  done.then(stop, stop);
  return { done, stop };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Sample {
  /** container add start → first reply */
  reach: number;
  /** how long the `calicoctl container add` command itself ran */
  cli: number;
}

/** Time one `container add` of `ip` on host A until `probe` (on B) gets a ping answer. */
async function reach(lab: Lab, a: LabHost, probe: Workload, ip: string): Promise<Sample> {
  // The container exists before `container add` runs, as with a container runtime.
  const netns = await lab.workloadNetns();
  const pinger = firstReply(lab, probe, ip, 20_000);
  // give the pinger a moment to start sending, so its start-up is not measured
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  try {
    await lab.addWorkload(a, { name: `reach-${ip}`, ip, profiles: ['bench'], netns });
  } catch (e) {
    pinger.stop();
    throw e;
  }
  const cli = Date.now() - t0;
  return { reach: (await pinger.done) - t0, cli };
}

const bench: Bench = {
  name: 'e2e-reach',
  description: '`calicoctl container add` on host A → first ping answered from host B (new block / block already announced)',
  async run(): Promise<BenchResult[]> {
    const lab = await Lab.create({ hosts: 2 });
    try {
      const [a, b] = lab.hosts as [LabHost, LabHost];
      await lab.calicoctl('fabric', ['pool', 'add', '198.19.0.0/18']);
      await lab.calicoctl('fabric', ['profile', 'add', 'bench']);
      await lab.startNodes();
      await lab.waitEstablished([a, b], { perHost: 1, v4only: true });
      const probe = await lab.addWorkload(b, { name: 'probe', ip: '198.19.63.200', profiles: ['bench'] });
      const first: Sample[] = [];
      const later: Sample[] = [];
      for (let blk = 0; blk < BLOCKS; blk++) {
        // 198.19.<blk>.0/26 is a block no host has claimed yet
        first.push(await reach(lab, a, probe, `198.19.${blk}.10`));
        for (let j = 1; j <= LATER_PER_BLOCK; j++) later.push(await reach(lab, a, probe, `198.19.${blk}.${10 + j}`));
      }
      const ms = (x: number): string => `${Math.round(x)} ms`;
      const note = (xs: Sample[]): string => {
        const r = xs.map((x) => x.reach);
        return `n=${xs.length}, min ${ms(Math.min(...r))}, max ${ms(Math.max(...r))}; of which the container add command itself: p50 ${ms(median(xs.map((x) => x.cli)))}`;
      };
      const p50 = (xs: Sample[]): number => median(xs.map((x) => x.reach));
      return [
        {
          scenario: 'e2e-reach',
          metric: 'first workload on a host (new block announced), p50',
          ours: p50(first),
          unit: 'ms',
          reference: 2000,
          referenceLabel: 'goal',
          goal: '≤ 2 s',
          ok: p50(first) <= 2000,
          note: note(first),
        },
        {
          scenario: 'e2e-reach',
          metric: 'later workload (block already announced), p50',
          ours: p50(later),
          unit: 'ms',
          reference: 300,
          referenceLabel: 'goal',
          goal: '≤ 300 ms',
          ok: p50(later) <= 300,
          note: note(later),
        },
      ];
    } finally {
      await lab.teardown();
    }
  },
};

export default bench;
