import { readFileSync } from 'node:fs';
import { FelixBenchLab } from './felix-lab.js';
import { sleep } from '../packages/felix/test/helpers.js';
const b = new FelixBenchLab();
const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${b.felixPid}/status`, 'utf8'))![1]) / 1024;
try {
  await b.setup(5000);
  console.log('cold', await b.startFelix({ FELIX_IPTABLESREFRESHINTERVAL: '20', FELIX_IPSETSREFRESHINTERVAL: '20', FELIX_ROUTEREFRESHINTERVAL: '20' }));
  for (let i = 0; i < 8; i++) { console.log(i * 10, 's rss', rss().toFixed(0)); await sleep(10000); }
} finally { await b.teardown(); }
