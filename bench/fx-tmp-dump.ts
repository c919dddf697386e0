import { writeFileSync } from 'node:fs';
import { FelixBenchLab } from '/work/main/bench/felix-lab.js';
const b = new FelixBenchLab();
try {
  await b.setup(Number(process.env.N ?? 5000));
  console.log('cold', await b.startFelix());
  writeFileSync('/tmp/fx-filter4-5k.txt', (await b.lab.hostRun(['iptables-nft-save', '-t', 'filter'])).stdout);
  writeFileSync('/tmp/fx-ipset-5k.txt', (await b.lab.hostRun(['ipset', 'save'])).stdout);
} finally { await b.teardown(); }
