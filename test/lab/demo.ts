// `npm run demo`: three hosts on one machine, each running a real calico node
// (supervisor → confd, BIRD, BIRD6, felix), a pool, two profiles, workloads on every
// host; prints each node's BGP status and a connectivity matrix, then tears down.
//   npm run demo                     bring up, show, tear down
//   npm run demo -- --keep           leave it running and print how to explore it
//   npm run demo -- --teardown ID    tear down a lab left up with --keep
//   npm run demo -- --hosts N        N hosts (default 3)
import { parseArgs } from 'node:util';
import { CALICOCTL, Lab, type LabHost, type Workload } from './lab.js';
import { destroyById } from './cleanup.js';

const { values } = parseArgs({
  options: {
    keep: { type: 'boolean', default: false },
    teardown: { type: 'string' },
    hosts: { type: 'string', default: '3' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

const t0 = Date.now();
const stamp = (): string => `[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
const say = (line: string): void => console.log(`${stamp()} ${line}`);
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const green = (s: string): string => (process.stdout.isTTY ? `\x1b[32m${s}\x1b[0m` : s);
const red = (s: string): string => (process.stdout.isTTY ? `\x1b[31m${s}\x1b[0m` : s);

async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const s = Date.now();
  say(`${what} …`);
  const r = await fn();
  say(`${what}: done in ${Date.now() - s} ms`);
  return r;
}

interface Cell {
  from: Workload;
  to: Workload;
  expected: boolean;
  v4: boolean;
  v6: boolean;
}

/** Ping every workload from every other one (v4 and v6), all at once. */
async function connectivity(lab: Lab, ws: Workload[]): Promise<Cell[]> {
  const pairs = ws.flatMap((from) => ws.filter((to) => to !== from).map((to) => ({ from, to })));
  return Promise.all(
    pairs.map(async ({ from, to }) => {
      const [v4, v6] = await Promise.all([lab.ping(from, to.ip4!, { timeoutS: 1 }), lab.ping(from, to.ip6!, { timeoutS: 1 })]);
      // a profile's default rules: members may talk to each other, others are denied inbound
      const expected = from.profiles.some((p) => to.profiles.includes(p));
      return { from, to, expected, v4: v4.ok, v6: v6.ok };
    }),
  );
}

function printMatrix(ws: Workload[], cells: Cell[]): boolean {
  const label = (w: Workload): string => `${w.name}@${w.host.name}`;
  const width = Math.max(...ws.map((w) => label(w).length)) + 2;
  console.log(`\n${bold('Connectivity (ping v4/v6, row → column)')}`);
  console.log(''.padEnd(width) + ws.map((w) => label(w).padEnd(width)).join(''));
  let allAsExpected = true;
  for (const from of ws) {
    let row = label(from).padEnd(width);
    for (const to of ws) {
      if (to === from) {
        row += '-'.padEnd(width);
        continue;
      }
      const c = cells.find((x) => x.from === from && x.to === to)!;
      const text = c.v4 && c.v6 ? 'allow' : !c.v4 && !c.v6 ? 'deny' : `v4:${c.v4 ? 'ok' : 'no'} v6:${c.v6 ? 'ok' : 'no'}`;
      const asExpected = c.v4 === c.expected && c.v6 === c.expected;
      allAsExpected &&= asExpected;
      const cell = (asExpected ? text : `${text}!`).padEnd(width);
      row += c.v4 && c.v6 ? green(cell) : red(cell);
    }
    console.log(row);
  }
  console.log('\nWhy:');
  const profiles = [...new Set(ws.flatMap((w) => w.profiles))];
  for (const p of profiles) {
    console.log(`  profile ${p}: ${ws.filter((w) => w.profiles.includes(p)).map(label).join(', ')} — members accept traffic from members (same profile: allowed)`);
  }
  console.log('  traffic between different profiles is dropped by the receiving endpoint\'s inbound rules (other profile: denied)');
  console.log('  every allowed path crosses hosts unencapsulated: workload → host → (BGP route) → host → workload');
  if (!allAsExpected) console.log(red('  cells marked ! differ from what the profiles say'));
  return allAsExpected;
}

function explore(lab: Lab, ws: Workload[]): void {
  const h1 = lab.hosts[0]!;
  const [a, b] = [ws[0]!, ws.find((w) => w.host !== ws[0]!.host && w.profiles[0] === ws[0]!.profiles[0])!];
  const env = (h: LabHost): string => Object.entries(h.env).map(([k, v]) => `${k}=${v}`).join(' ');
  console.log(`
${bold(`The lab ${lab.id} is still running.`)} Explore it (as root):
  ip netns list | grep ${lab.id}                                  # fabric, hosts, workloads
  ip netns exec ${h1.netns} ip route                              # BGP-learned routes: proto bird
  ip netns exec ${a.netns} ping -c 3 ${b.ip4}               # ${a.name}@${a.host.name} → ${b.name}@${b.host.name}
  ip netns exec ${a.netns} ping -c 3 ${b.ip6}
  ip netns exec ${h1.netns} iptables-save | grep cali             # felix's policy chains
  ip netns exec ${h1.netns} env ${env(h1)} \\
      node ${CALICOCTL} node status
  ip netns exec ${lab.fabric} env ETCD_ENDPOINTS=${lab.etcdEndpoints} node ${CALICOCTL} get workloadendpoints -o wide
  ls ${h1.dir}/log ${h1.dir}/confd                                # node logs, rendered BIRD configs
Tear it down:
  npm run demo -- --teardown ${lab.id}      (or: npx tsx test/lab/demo.ts --teardown ${lab.id})`);
}

async function main(): Promise<number> {
  if (values.help) {
    console.log('usage: npm run demo [-- --keep | --teardown RUNID | --hosts N]');
    return 0;
  }
  if (values.teardown) {
    const s = destroyById(values.teardown);
    if (!s) {
      console.error(`no lab ${values.teardown} (no /tmp/calilab-${values.teardown}/lab.json)`);
      return 1;
    }
    say(`lab ${s.id}: ${s.netns.length} namespaces and their processes removed`);
    return 0;
  }
  const nHosts = Number(values.hosts);
  if (!Number.isInteger(nHosts) || nHosts < 2 || nHosts > 20) throw new Error(`--hosts: expected 2..20, got "${values.hosts}"`);

  console.log(bold(`Calico-style L3 networking demo: ${nHosts} hosts on one machine (network namespaces)`));
  const lab = await step('fabric bridge + etcd', () => Lab.create({ log: (l) => say(`  ${l}`) }));
  let ok = false;
  try {
    await step(`${nHosts} hosts`, async () => {
      for (let i = 0; i < nHosts; i++) await lab.addHost();
    });
    await step(`pools ${lab.pool4} and ${lab.pool6}, profiles frontend and backend`, async () => {
      for (const args of [['pool', 'add', lab.pool4], ['pool', 'add', lab.pool6], ['profile', 'add', 'frontend'], ['profile', 'add', 'backend']]) {
        await lab.calicoctl('fabric', args);
        say(`  calicoctl ${args.join(' ')}`);
      }
    });
    await step('calicoctl node run on every host (supervisor → confd, bird, bird6, felix)', () => lab.startNodes());
    const ws = await step('workloads (calicoctl container add)', async () => {
      // hosts in parallel (concurrent IPAM claims on one etcd), two workloads each
      const perHost = await Promise.all(
        lab.hosts.map(async (h) => [
          await lab.addWorkload(h, { name: `web${h.index}`, ip: lab.pool4, ip6: lab.pool6, profiles: ['frontend'] }),
          await lab.addWorkload(h, { name: `db${h.index}`, ip: lab.pool4, ip6: lab.pool6, profiles: ['backend'] }),
        ]),
      );
      return perHost.flat();
    });
    await step('BGP sessions Established (full mesh, v4 and v6)', () => lab.waitEstablished());
    // routes and policy settle asynchronously: wait for one same-profile path per host pair
    await step('routes converged', async () => {
      for (const w of ws) {
        const peer = ws.find((x) => x.host !== w.host && x.profiles[0] === w.profiles[0]);
        if (peer) await lab.waitPing(w, peer.ip4!);
      }
    });
    for (const h of lab.hosts) {
      const r = await lab.calicoctl(h, ['node', 'status']);
      console.log(`\n${bold(`calicoctl node status  (host ${h.name}, ${h.ip4})`)}\n${r.stdout.trimEnd()}`);
    }
    const h1 = lab.hosts[0]!;
    const routes = [...(await lab.birdRoutes(h1)), ...(await lab.birdRoutes(h1, true))];
    console.log(`\n${bold(`Routes BIRD put in ${h1.name}'s kernel`)} (each host's block via that host; blackhole = ${h1.name}'s own block)`);
    for (const r of routes) console.log(`  ${r.trim()}`);
    // the datastore side of the same picture, as an operator would look at it
    for (const args of [['bgp', 'node-mesh'], ['bgp', 'default-node-as'], ['pool', 'show'], ['ipam', 'show', '--show-blocks'], ['endpoint', 'show']]) {
      const r = await lab.calicoctl('fabric', args);
      console.log(`\n${bold(`calicoctl ${args.join(' ')}`)}\n${r.stdout.trimEnd()}`);
    }
    const cells = await step('connectivity matrix', () => connectivity(lab, ws));
    ok = printMatrix(ws, cells);
    if (values.keep) {
      lab.detach();
      explore(lab, ws);
      return ok ? 0 : 1;
    }
  } finally {
    if (!values.keep || !ok) {
      const problems = await step('teardown (node stop, namespaces, dirs)', () => lab.teardown());
      for (const p of problems) say(`  teardown: ${p}`);
    }
  }
  say(ok ? green('demo finished: every path behaved as the profiles say') : red('demo finished with unexpected results'));
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(red(`demo failed: ${e instanceof Error ? e.message : String(e)}`));
    process.exit(1);
  },
);
