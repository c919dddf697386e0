// workload-attach: the kernel plumbing of one workload (veth pair, container
// /32 + /128, gateway routes, host-end sysctls) through libcalico's
// attachWorkload/detachWorkload, beside the reference CNI `ptp` plugin (Go,
// with host-local IPAM) doing the same job for the same number of
// namespaces in the same run. Ours is timed in-process (a long-lived caller
// like the Docker plugin pays that); ptp's figure includes starting its
// binary (what a runtime pays for it).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '@calico/libcalico';
import type { Bench, BenchResult } from './types.js';
import { createNetns, deleteNetns, runId } from '../test/helpers/netns.js';

const N = 40;
const ROUNDS = 4;
const PTP = '/usr/lib/cni/ptp';

const p50 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

interface Sample {
  add: number[];
  del: number[];
}

/**
 * Ours runs where calicoctl and the CNI plugin run: inside the host's
 * namespace (a node child under `ip netns exec`), timing each call in-process.
 */
const CHILD = `
import { attachWorkload, detachWorkload, hostInterfaceName } from '@calico/libcalico';
const { ctrs, octet } = JSON.parse(process.argv[1]);
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const out = { add: [], del: [] };
for (const [i, c] of ctrs.entries()) {
  const t0 = process.hrtime.bigint();
  await attachWorkload({ netnsPath: '/var/run/netns/' + c, hostIfName: hostInterfaceName(c), containerIfName: 'eth0', ipv4: ['198.19.' + octet + '.' + (i + 1)], ipv6: [] });
  out.add.push(ms(t0));
}
for (const c of ctrs) {
  const t0 = process.hrtime.bigint();
  await detachWorkload({ hostIfName: hostInterfaceName(c) });
  out.del.push(ms(t0));
}
console.log(JSON.stringify(out));
`;

async function ours(host: string, ctrs: string[], octet: number): Promise<Sample> {
  const r = await run(['ip', 'netns', 'exec', host, process.execPath, '--input-type=module', '-e', CHILD, JSON.stringify({ ctrs, octet })]);
  return JSON.parse(r.stdout) as Sample;
}

async function ptp(host: string, ctrs: string[], octet: number, dataDir: string): Promise<Sample> {
  const conf = JSON.stringify({
    cniVersion: '1.0.0',
    name: `bench${octet}`,
    type: 'ptp',
    ipMasq: false,
    ipam: { type: 'host-local', ranges: [[{ subnet: `198.19.${octet}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
  });
  const call = (cmd: 'ADD' | 'DEL', c: string) =>
    run(['nsenter', `--net=/var/run/netns/${host}`, PTP], {
      input: conf,
      env: { ...process.env, CNI_COMMAND: cmd, CNI_CONTAINERID: c, CNI_NETNS: `/var/run/netns/${c}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' },
    });
  const s: Sample = { add: [], del: [] };
  for (const c of ctrs) s.add.push(await timed(() => call('ADD', c)));
  for (const c of ctrs) s.del.push(await timed(() => call('DEL', c)));
  return s;
}

const bench: Bench = {
  name: 'workload-attach',
  description: `${N} workloads (${ROUNDS} alternating rounds) attached then detached one by one (veth, /32, gateway routes, host sysctls): attachWorkload vs the reference CNI ptp plugin`,
  async run(): Promise<BenchResult[]> {
    if ((await run(['test', '-x', PTP], { allowFail: true })).code !== 0) {
      throw new Error(`${PTP} is missing: apt-get install containernetworking-plugins`);
    }
    const id = runId();
    const octet = parseInt(id.slice(0, 2), 16);
    const host = `bwh${id}`;
    const ctrs = Array.from({ length: N }, (_, i) => `bwc${id}${i}`);
    const dataDir = mkdtempSync(join(tmpdir(), `bench-ptp-${id}-`));
    const made: string[] = [];
    try {
      for (const ns of [host, ...ctrs]) {
        made.push(ns);
        await createNetns(ns);
      }
      // Alternate rounds so that a load change on a shared machine hits both sides alike.
      const a: Sample = { add: [], del: [] };
      const b: Sample = { add: [], del: [] };
      for (let r = 0; r < ROUNDS; r++) {
        const part = ctrs.slice((r * N) / ROUNDS, ((r + 1) * N) / ROUNDS);
        const x = await ours(host, part, octet);
        const y = await ptp(host, part, octet, dataDir);
        a.add.push(...x.add);
        a.del.push(...x.del);
        b.add.push(...y.add);
        b.del.push(...y.del);
      }
      const row = (metric: string, x: number[], y: number[]): BenchResult => ({
        scenario: 'workload-attach',
        metric,
        ours: p50(x),
        unit: 'ms',
        reference: p50(y),
        referenceLabel: 'CNI ptp',
        goal: '≤ 1.2× ptp',
        ok: p50(x) <= 1.2 * p50(y),
      });
      return [row('attach p50', a.add, b.add), row('detach p50', a.del, b.del)];
    } finally {
      for (const ns of made) await deleteNetns(ns);
      rmSync(dataDir, { recursive: true, force: true });
    }
  },
};

export default bench;
