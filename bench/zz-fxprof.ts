// TEMPORARY profiling helper (to be deleted)
import { FelixBenchLab } from './felix-lab.js';
const n = Number(process.argv[2] ?? 1000);
const b = new FelixBenchLab();
try {
  await b.setup(n);
  const t0 = Date.now();
  const ms = await b.startFelix();
  console.log('ours', Math.round(ms));
  for (const l of b.lab.log().split('\n').filter(Boolean)) {
    try { const j = JSON.parse(l); console.log(j.time - t0, j.msg, JSON.stringify({ ...j, msg: undefined, time: undefined, pid: undefined, hostname: undefined, level: undefined, name: undefined })); } catch { console.log(l); }
  }
} finally { await b.teardown(); }
