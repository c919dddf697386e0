// mesh-up: 10 hosts from `calicoctl node run` (all at once) to every BGP session of the
// full mesh Established (v4 and v6), beside the floor measured in the same run: the same
// 10-host mesh with hand-written BIRD configs and nothing else. Also reports the
// resident memory of each node's processes.
import type { Bench, BenchResult } from './types.js';
import { Lab, type NodeProcess } from '../test/lab/lab.js';
import { startRawBird } from '../test/lab/raw-bird.js';

const HOSTS = 10;

async function rawBirdMesh(): Promise<number> {
  const lab = await Lab.create({ hosts: HOSTS });
  try {
    const o = lab.pool4.split('.')[2];
    const t0 = Date.now();
    for (const h of lab.hosts) {
      startRawBird(h, lab.hosts, `198.19.${o}.${(h.index - 1) * 16}/28`, false);
      startRawBird(h, lab.hosts, `${lab.pool6.split('::')[0]}::${(h.index * 256).toString(16)}/120`, true);
    }
    await lab.waitEstablished(lab.hosts, { timeoutMs: 60_000, intervalMs: 50 });
    return Date.now() - t0;
  } finally {
    await lab.teardown();
  }
}

async function calicoMesh(): Promise<{ ms: number; nodesRunMs: number; procs: NodeProcess[][] }> {
  const lab = await Lab.create({ hosts: HOSTS });
  try {
    await lab.calicoctl('fabric', ['pool', 'add', lab.pool4]);
    const t0 = Date.now();
    await lab.startNodes();
    const nodesRunMs = Date.now() - t0;
    await lab.waitEstablished(lab.hosts, { timeoutMs: 120_000, intervalMs: 50 });
    const ms = Date.now() - t0;
    return { ms, nodesRunMs, procs: lab.hosts.map((h) => lab.processes(h)) };
  } finally {
    await lab.teardown();
  }
}

const bench: Bench = {
  name: 'mesh-up',
  description: `${HOSTS} hosts: \`calicoctl node run\` → all BGP sessions Established (full mesh, v4+v6), and each node's memory`,
  async run(): Promise<BenchResult[]> {
    const floor = await rawBirdMesh();
    const ours = await calicoMesh();
    const results: BenchResult[] = [
      {
        scenario: 'mesh-up',
        metric: `${HOSTS}-host mesh up (${HOSTS * (HOSTS - 1)} sessions per family)`,
        ours: ours.ms / 1000,
        unit: 's',
        reference: floor / 1000,
        referenceLabel: 'BIRD alone, hand-written configs',
        goal: '≤ 15 s',
        ok: ours.ms <= 15_000,
        note: `all ${HOSTS} \`node run\` commands (started together) returned after ${(ours.nodesRunMs / 1000).toFixed(1)} s`,
      },
    ];
    const roles = ['supervisor', 'felix', 'felix-helper', 'confd', 'bird', 'bird6'];
    const perRole = (role: string, of: 'rssKiB' | 'privateKiB' = 'rssKiB'): number[] =>
      ours.procs.map((ps) => ps.filter((p) => p.role === role).reduce((s, p) => s + p[of], 0) / 1024);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const role of roles) {
      const xs = perRole(role);
      const cpu = ours.procs.map((ps) => ps.filter((p) => p.role === role).reduce((s, p) => s + p.cpuS, 0));
      results.push({
        scenario: 'mesh-up',
        metric: `RSS of ${role} per node (mean of ${HOSTS})`,
        ours: mean(xs),
        unit: 'MiB',
        note: `min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}; private ${mean(perRole(role, 'privateKiB')).toFixed(1)} MiB; CPU used until all Established ${mean(cpu).toFixed(2)} s`,
      });
    }
    // Summed RSS counts the pages node processes share (the node binary, libc)
    // once per process. A host's footprint is what each process holds privately
    // plus those shared pages once: the most any one process shares.
    const footprint = (ps: NodeProcess[]): number =>
      (ps.reduce((s, p) => s + p.privateKiB, 0) + Math.max(0, ...ps.map((p) => p.rssKiB - p.privateKiB))) / 1024;
    const totals = ours.procs.map(footprint);
    const rssTotals = ours.procs.map((ps) => ps.reduce((s, p) => s + p.rssKiB, 0) / 1024);
    const other = ours.procs.flat().filter((p) => !roles.includes(p.role));
    results.push({
      scenario: 'mesh-up',
      metric: 'memory of all node processes per node (mean; private pages + shared pages once)',
      ours: mean(totals),
      unit: 'MiB',
      note: [`summed RSS ${mean(rssTotals).toFixed(0)} MiB`, other.length ? `includes ${[...new Set(other.map((p) => p.role))].join(', ')}` : ''].filter(Boolean).join('; '),
    });
    return results;
  },
};

export default bench;
