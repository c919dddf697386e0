import { FelixBenchLab } from '/work/main/bench/felix-lab.js';
import { sleep } from '../packages/felix/test/helpers.js';
const b = new FelixBenchLab();
try {
  await b.setup(100, 2);
  await b.startFelix();
  await b.lab.settle();
  const lines: string[] = [];
  const m = b.monitor(['nft', 'monitor'], (l) => lines.push(l));
  await sleep(500);
  await b.etcd.ds.put(b.wepKey(100), JSON.stringify(b.wep(100)));
  await sleep(300);
  await b.etcd.ds.delete(b.wepKey(100));
  await sleep(300);
  lines.length = 0;
  await b.etcd.ds.put(`/calico/resources/v3/projectcalico.org/globalnetworkpolicies/pol-0`, JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: `pol-0` }, spec: b.policySpec(0, 1) }));
  await sleep(1500);
  m.kill();
  console.log(lines.slice(0, 30).join('\n'));
  console.log(b.lab.log().split('\n').filter(l => /error|warn|slow/.test(l)).slice(-5).join('\n'));
} finally { await b.teardown(); }
