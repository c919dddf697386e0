// `npm run bench [name...]`: runs each benchmark and prints our figure beside
// the limit or peer measured in the same run, and the ratio.
import { writeFileSync, mkdirSync } from 'node:fs';
import type { Bench, BenchResult } from './types.js';

const registry: Record<string, () => Promise<{ default: Bench }>> = {
  // name: () => import('./name.js'),  (each bench registers itself here)
  'e2e-reach': () => import('./e2e-reach.js'),
  'felix-cold': () => import('./felix-cold.js'),
  'felix-incremental': () => import('./felix-incremental.js'),
  'felix-idle': () => import('./felix-idle.js'),
  'mesh-up': () => import('./mesh-up.js'),
  confd: () => import('./confd.js'),
  'workload-attach': () => import('./workload-attach.js'),
  ipam: () => import('./ipam.js'),
  calicoctl: () => import('./calicoctl.js'),
};

const fmt = (n: number | undefined): string =>
  n === undefined ? '-' : Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(registry);
  const all: BenchResult[] = [];
  for (const name of names) {
    const load = registry[name];
    if (!load) {
      console.error(`unknown benchmark ${name}; known: ${Object.keys(registry).join(', ')}`);
      process.exit(1);
    }
    const bench = (await load()).default;
    console.log(`\n== ${bench.name}: ${bench.description}`);
    const results = await bench.run();
    for (const r of results) {
      const ratio = r.reference ? ` ratio ${fmt(r.ours / r.reference)}` : '';
      const ref = r.reference !== undefined ? `  ${r.referenceLabel ?? 'reference'} ${fmt(r.reference)} ${r.unit}` : '';
      const verdict = r.ok === undefined ? '' : r.ok ? '  [goal met]' : '  [GOAL MISSED]';
      console.log(`  ${r.metric}: ours ${fmt(r.ours)} ${r.unit}${ref}${ratio}${r.goal ? `  goal ${r.goal}` : ''}${verdict}${r.note ? `  (${r.note})` : ''}`);
    }
    all.push(...results);
  }
  mkdirSync('.bench-results', { recursive: true });
  writeFileSync('.bench-results/latest.json', JSON.stringify(all, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
