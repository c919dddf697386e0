// felix-incremental: with 1,000 and then 5,000 endpoints programmed, 100
// samples each of: add one endpoint, remove it, change one policy rule; time
// from the etcd write to the kernel change, p50/p99. Routes (the later of an
// endpoint's IPv4 and IPv6 route) are seen by
// `ip monitor route` inside the host; the policy chain's new rules in both the
// IPv4 and the IPv6 table (the later of the two) by nft-events.py, which listens to the
// kernel's nf_tables announcements (`nft monitor` would first copy the whole
// ruleset, minutes at 200k rules). Beside it, the kernel floor for
// such a change measured in the same netns: one small iptables-restore
// --noflush per family plus one route. Samples are QUIET_MS apart.
import { fileURLToPath } from 'node:url';
import type { Bench, BenchResult } from './types.js';
import { FelixBenchLab, POLICIES, layouts, percentile, sizes } from './felix-lab.js';
import { sleep } from '../packages/felix/test/helpers.js';

const SAMPLES = 100;
/**
 * Pause after each change is seen, so that the next sample starts from a
 * quiet dataplane: a removal's route goes first and its table writes follow,
 * and they are not counted in the change after it.
 */
const QUIET_MS = 200;
const NFT_EVENTS = fileURLToPath(new URL('./nft-events.py', import.meta.url));

/** Lines from a monitor, each stamped on arrival; wait() resolves at the first matching line. */
class Watch {
  private waiters: { re: RegExp; resolve: (t: number) => void }[] = [];
  private last: string[] = [];
  line = (l: string): void => {
    const t = performance.now();
    this.last = [...this.last.slice(-4), l];
    this.waiters = this.waiters.filter((w) => (w.re.test(l) ? (w.resolve(t), false) : true));
  };
  wait(re: RegExp, timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no kernel change matching ${re} within ${timeoutMs} ms; last lines:\n${this.last.join('\n')}`)), timeoutMs);
      this.waiters.push({ re, resolve: (t) => (clearTimeout(timer), resolve(t)) });
    });
  }
}

async function floor(b: FelixBenchLab): Promise<number> {
  const times: number[] = [];
  for (let k = 0; k < 20; k++) {
    const chain = `*filter\n:cali-probe - [0:0]\n${Array.from({ length: 10 }, (_, i) => `-A cali-probe -p tcp --dport ${1000 + i + k} -j ACCEPT`).join('\n')}\nCOMMIT\n`;
    const t0 = performance.now();
    await b.lab.hostRunInput(['iptables-nft-restore', '--noflush'], chain);
    await b.lab.hostRunInput(['ip6tables-nft-restore', '--noflush'], chain);
    await b.lab.hostRun(['ip', 'route', 'replace', '198.19.250.1/32', 'dev', b.ifname(0), 'proto', '81']);
    times.push(performance.now() - t0);
  }
  await b.lab.hostRunInput(['iptables-nft-restore', '--noflush'], '*filter\n:cali-probe - [0:0]\n-X cali-probe\nCOMMIT\n');
  await b.lab.hostRunInput(['ip6tables-nft-restore', '--noflush'], '*filter\n:cali-probe - [0:0]\n-X cali-probe\nCOMMIT\n');
  await b.lab.hostRun(['ip', 'route', 'del', '198.19.250.1/32', 'proto', '81']);
  return percentile(times, 50);
}

async function measure(n: number, layout: string, env: Record<string, string>): Promise<BenchResult[]> {
  const b = new FelixBenchLab();
  try {
    await b.setup(n, SAMPLES);
    await b.startFelix(env);
    await b.lab.settle();
    const routes = new Watch();
    const mon = b.monitor(['ip', 'monitor', 'route'], routes.line);
    const rules = new Watch();
    const nft = b.monitor(['python3', NFT_EVENTS], rules.line);
    await rules.wait(/^ready$/);
    await sleep(300);
    const add: number[] = [];
    const del: number[] = [];
    const pol: number[] = [];
    for (let k = 0; k < SAMPLES; k++) {
      const i = n + k;
      // The endpoint is programmed once both of its routes are in (each family's goes in after that family's rules).
      const routesIn = (deleted: string) => Promise.all([b.ip(i), b.ip6(i)].map((ip) => routes.wait(new RegExp(`^${deleted}${ip.replace(/\./g, '\\.')} dev `)))).then((ts) => Math.max(...ts));
      let seen = routesIn('');
      let t0 = performance.now();
      await b.etcd.ds.put(b.wepKey(i), JSON.stringify(b.wep(i)));
      add.push((await seen) - t0);
      await sleep(QUIET_MS);

      seen = routesIn('Deleted ');
      t0 = performance.now();
      await b.etcd.ds.delete(b.wepKey(i));
      del.push((await seen) - t0);
      await sleep(QUIET_MS);

      const j = k % POLICIES;
      const both = Promise.all([2, 10].map((family) => rules.wait(new RegExp(`^\\d+ ${family} cali-pi-pol-${j}$`))));
      t0 = performance.now();
      await b.etcd.ds.put(`/calico/resources/v3/projectcalico.org/globalnetworkpolicies/pol-${j}`, JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: `pol-${j}` }, spec: b.policySpec(j, k + 1) }));
      pol.push(Math.max(...(await both)) - t0);
      await sleep(QUIET_MS);
    }
    mon.kill();
    nft.kill();
    const raw = await floor(b);
    const line = (what: string, xs: number[]): BenchResult => {
      const p50 = percentile(xs, 50);
      const p99 = percentile(xs, 99);
      return {
        scenario: 'felix-incremental',
        metric: `${what}, ${layout} chains, ${n} endpoints: p50 (p99 ${p99.toFixed(1)} ms)`,
        ours: p50,
        unit: 'ms',
        reference: raw,
        referenceLabel: 'kernel floor (1 chain per family + 1 route) p50',
        goal: 'p50 ≤ 20 ms, p99 ≤ 100 ms',
        ok: p50 <= 20 && p99 <= 100,
      };
    };
    return [line('add endpoint', add), line('remove endpoint', del), line('change policy rule', pol)];
  } finally {
    await b.teardown();
  }
}

const bench: Bench = {
  name: 'felix-incremental',
  description: 'etcd write → kernel change for one endpoint add/remove and one policy rule change, 100 samples, at 1,000 and 5,000 endpoints',
  async run() {
    const out = [];
    for (const [layout, env] of layouts()) for (const n of sizes()) out.push(...(await measure(n, layout, env)));
    return out;
  },
};
export default bench;
