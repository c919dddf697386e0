import { FelixBenchLab } from '/work/main/bench/felix-lab.js';
const b = new FelixBenchLab();
try {
  await b.setup(Number(process.env.N ?? 1000));
  const t0 = Date.now();
  console.log('cold', await b.startFelix());
  console.log(b.lab.log().split('\n').filter((l) => /slow|building|in sync|programmed|starting/.test(l)).map(l=>{const j=JSON.parse(l); return `${j.time-t0} ${j.msg} ${JSON.stringify(j.stages??j.ms??'')}`}).join('\n'));
} finally { await b.teardown(); }
