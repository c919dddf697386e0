import { FelixBenchLab } from './felix-lab.js';
const n = Number(process.env.N ?? 5000);
const b = new FelixBenchLab();
async function t(label: string, input: string, reps = 15) {
  const xs: number[] = [];
  for (let k = 0; k < reps; k++) {
    const t0 = performance.now();
    const r = await b.lab.hostRunInput(['iptables-nft-restore', '--noflush'], input.replaceAll('%K', String(k)));
    if (r.code !== 0) throw new Error(label + r.stderr);
    xs.push(performance.now() - t0);
  }
  xs.sort((a, b) => a - b);
  console.log(label.padEnd(40), xs[Math.floor(reps / 2)]!.toFixed(1), 'ms');
}
try {
  await b.setup(n);
  console.log('cold', (await b.startFelix({})).toFixed(0));
  await b.lab.settle();
  await b.lab.stopFelix();
  const add = '*filter\n:cali-y - [0:0]\n-A cali-y -j MARK --set-xmark 0x%K/0xff\nCOMMIT\n';
  await t('empty commit', '*filter\nCOMMIT\n');
  await t('as is', add);
  const save = (await b.lab.hostRun(['iptables-nft-save', '-t', 'filter'])).stdout;
  // fw chains: keep only the goto (drop the anti-spoof rule)
  const fw = new Map<string, string>();
  for (const l of save.split('\n')) { const m = /^-A (cali-fw-cali\S+) .*(-g cali-fw-_\S+)/.exec(l); if (m) fw.set(m[1]!, m[2]!); }
  await b.lab.hostRunInput(['iptables-nft-restore', '--noflush'], '*filter\n' + [...fw].map(([c, g]) => `:${c} - [0:0]\n-A ${c} ${g}\n`).join('') + 'COMMIT\n');
  console.log('fw chains rewritten', fw.size);
  await t('no anti-spoof rule', add);
  // INPUT: wl-to-host no longer reaches the dispatch
  await b.lab.hostRunInput(['iptables-nft-restore', '--noflush'], '*filter\n:cali-wl-to-host - [0:0]\n-A cali-wl-to-host -j DROP\nCOMMIT\n');
  await t('+ INPUT not reaching dispatch', add);
} finally { await b.teardown(); }
