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
  const unknown = names.filter((n) => !registry[n]);
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; known: ${Object.keys(registry).join(', ')}`);
    process.exit(1);
  }
  const all: BenchResult[] = [];
  const failed: string[] = [];
  for (const name of names) {
    // One benchmark that throws must not cost the figures of the ones after it.
    try {
      const bench = (await registry[name]!()).default;
      console.log(`\n== ${bench.name}: ${bench.description}`);
      const results = await bench.run();
      for (const r of results) {
        const ratio = r.reference ? ` ratio ${fmt(r.ours / r.reference)}` : '';
        const ref = r.reference !== undefined ? `  ${r.referenceLabel ?? 'reference'} ${fmt(r.reference)} ${r.unit}` : '';
        const verdict = r.ok === undefined ? '' : r.ok ? '  [goal met]' : '  [GOAL MISSED]';
        console.log(`  ${r.metric}: ours ${fmt(r.ours)} ${r.unit}${ref}${ratio}${r.goal ? `  goal ${r.goal}` : ''}${verdict}${r.note ? `  (${r.note})` : ''}`);
      }
      all.push(...results);
    } catch (e) {
      failed.push(name);
      console.error(`\n!! benchmark ${name} failed:`, e);
    }
  }
  mkdirSync('.bench-results', { recursive: true });
  writeFileSync('.bench-results/latest.json', JSON.stringify(all, null, 2));
  if (failed.length) {
    console.error(`\nfailed: ${failed.join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
