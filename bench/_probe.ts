import { FelixBenchLab } from './felix-lab.js';
const n = Number(process.env.N ?? 1000);
const b = new FelixBenchLab();
try {
  await b.setup(n);
  const extra = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('FELIX_') || k.startsWith('X_') || k === 'NODE_OPTIONS') as [string, string][]);
  const ms = await b.startFelix({ FELIX_LOGSEVERITYSCREEN: 'debug', ...extra });
  console.log('cold', ms.toFixed(0));
  const { writeFileSync } = await import('node:fs');
  writeFileSync('/tmp/p/felix.log', b.lab.log());
} finally { await b.teardown(); }
