// `calicoctl node` for real: hosts are network namespaces of the shared lab
// (test/lab), etcd runs in the lab's fabric namespace, so every calicoctl runs
// inside a host (`ip netns exec`) exactly as an operator on that host would;
// resources are read back with `calicoctl get` from the fabric.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@calico/libcalico';
import { CALICOCTL, Lab, waitFor, type LabHost } from '../../../test/lab/lab.js';

interface NodeJson {
  state: string;
  pid: number;
  children: Record<string, { pid?: number; restarts: number; ready: boolean }>;
}

let lab: Lab;
let h1: LabHost;
let h2: LabHost;

const alive = (pid: number | undefined) => {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};
const state = (h: LabHost): NodeJson => JSON.parse(readFileSync(join(h.env.CALICO_RUN_DIR!, 'calico-node.json'), 'utf8')) as NodeJson;
const ctl = (h: LabHost | 'fabric', args: string[]) => lab.calicoctl(h, args, { allowFail: true });
/** calicoctl in a host with extra environment (lab.calicoctl sets the host's env only) */
const ctlEnv = (h: LabHost, args: string[], env: Record<string, string>) =>
  lab.exec(h.netns, [process.execPath, CALICOCTL, ...args], { allowFail: true, env: { ...process.env, ...h.env, ...env } });
async function getJson(kind: string, name?: string): Promise<any> {
  const r = await ctl('fabric', ['get', kind, ...(name ? [name] : []), '-o', 'json']);
  if (r.code !== 0) throw new Error(`get ${kind} ${name ?? ''}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
async function nodeRun(h: LabHost, args: string[]) {
  h.nodeRunning = true; // so the lab's teardown stops it whatever happens
  return ctl(h, ['node', 'run', '--name', h.name, ...args]);
}

beforeAll(async () => {
  // CALICO_FELIX_BIN lets an operator (or a run before felix is built) point at another felix
  const nodeEnv = process.env.CALICO_FELIX_BIN ? { CALICO_FELIX_BIN: process.env.CALICO_FELIX_BIN } : undefined;
  lab = await Lab.create({ hosts: 3, nodeEnv });
  [h1, h2] = lab.hosts as [LabHost, LabHost];
});

afterAll(async () => {
  const problems = await lab?.teardown();
  expect(problems ?? []).toEqual([]);
});

describe('calicoctl node', () => {
  it('checksystem passes on a lab host, names each failure and exits 1 when something is missing', async () => {
    const good = await ctl(h1, ['node', 'checksystem']);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    for (const line of ['IPv4 forwarding', 'ipset', 'bird6', 'calico-felix', 'calico-confd', 'etcd']) {
      expect(good.stdout).toMatch(new RegExp(`^${line}\\s+OK`, 'm'));
    }
    const bad = await ctlEnv(h1, ['node', 'checksystem', '--etcd-endpoints', 'http://198.18.1.250:2379'], { CALICO_FELIX_BIN: '/nonexistent/felix.js' });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^calico-felix\s+FAIL: \/nonexistent\/felix\.js does not exist: .*CALICO_FELIX_BIN/m);
    expect(bad.stdout).toMatch(/^etcd\s+FAIL: .*198\.18\.1\.250:2379/m);
    expect(bad.stdout).toMatch(/^ipset\s+OK/m);
    expect(bad.stderr).toContain('2 check(s) failed');
  });

  it('finds the host address by each --ip-autodetection-method, and names the flag when it cannot', async () => {
    const h3 = lab.hosts[2]!;
    // a second uplink-like interface (a veth pair inside the host) to choose between, in a
    // subnet other than the lab's (whose third octet comes from the run id)
    const octet = (Number(lab.fabricIp4.split('.')[2]) + 128) % 256;
    const eth9 = `198.18.${octet}.3/28 eth9`;
    await lab.exec(h3.netns, ['ip', 'link', 'add', 'eth9', 'type', 'veth', 'peer', 'name', 'eth9p']);
    await lab.exec(h3.netns, ['ip', 'addr', 'add', `198.18.${octet}.3/28`, 'dev', 'eth9']);
    await lab.exec(h3.netns, ['ip', 'link', 'set', 'eth9', 'up']);
    const detect = async (family: 4 | 6, method: string) => {
      const script = `import { autodetect } from '@calico/calicoctl/node/autodetect';
        try { const a = await autodetect(${family}, ${JSON.stringify(method)}); console.log(a.ip + '/' + a.prefixLen + ' ' + a.iface); }
        catch (e) { console.log('ERR ' + e.message); }`;
      return (await lab.exec(h3.netns, [process.execPath, '--input-type=module', '-e', script], { env: { ...process.env } })).stdout.trim();
    };
    const uplink = `${h3.ip4}/24 ${h3.uplink}`;
    expect(await detect(4, 'first-found')).toBe(uplink);
    expect(await detect(4, 'interface=eth9')).toBe(eth9);
    expect(await detect(4, `skip-interface=${h3.uplink}`)).toBe(eth9);
    expect(await detect(4, `can-reach=${lab.fabricIp4}`)).toBe(uplink);
    expect(await detect(4, `can-reach=198.18.${octet}.9`)).toBe(eth9);
    expect(await detect(6, 'first-found')).toBe(`${h3.ip6}/64 ${h3.uplink}`);
    expect(await detect(4, 'interface=nothing.*')).toBe('ERR --ip: autodetection (interface=nothing.*) found no IPv4 address on this host');
    expect(await detect(4, 'interface=(')).toMatch(/^ERR --ip-autodetection-method: bad regular expression "\("/);
    expect(await detect(4, 'can-reach=fd00::1')).toBe('ERR --ip-autodetection-method: can-reach=fd00::1 is not an IPv4 address');
    expect(await detect(4, 'closest')).toMatch(/^ERR --ip-autodetection-method: unknown method "closest"/);
    await lab.exec(h3.netns, ['ip', 'link', 'del', 'eth9']);
    // bad flags are refused before anything is registered or started
    const badAs = await ctl(h3, ['node', 'run', '--name', h3.name, '--ip', h3.ip4, '--as', '70000000000']);
    expect(badAs.code).toBe(1);
    expect(badAs.stderr).toContain('--as: "70000000000" is not an AS number');
    expect(lab.processes(h3)).toEqual([]);
  });

  it('node run registers the Node, renders the BIRD configs and starts every process', async () => {
    const r = await nodeRun(h1, ['--ip', 'autodetect', '--ip6', 'autodetect', '--as', '64512']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const node = await getJson('node', 'h1');
    expect(node.spec.bgp).toMatchObject({ ipv4Address: `${h1.ip4}/24`, ipv6Address: `${h1.ip6}/64`, asNumber: 64512 });
    const st = state(h1);
    expect(st.state).toBe('running');
    expect(Object.keys(st.children).sort()).toEqual(['bird', 'bird6', 'confd', 'felix']);
    for (const c of Object.values(st.children)) expect(alive(c.pid)).toBe(true);
    expect(alive(st.pid)).toBe(true);
    expect(Number(readFileSync(join(h1.env.CALICO_RUN_DIR!, 'calico-node.pid'), 'utf8'))).toBe(st.pid);
    expect(readFileSync(join(h1.env.CALICO_CONFD_DIR!, 'bird.cfg'), 'utf8')).toContain(`router id ${h1.ip4};`);
    expect(existsSync(join(h1.env.CALICO_CONFD_DIR!, 'bird6.cfg'))).toBe(true);
    for (const f of ['bird', 'bird6', 'confd', 'felix']) expect(existsSync(join(h1.env.CALICO_LOG_DIR!, `${f}.log`))).toBe(true);
    // forwarding was switched on in the host's namespace
    expect((await lab.exec(h1.netns, ['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim()).toBe('1');
    // a second run on the same host is refused while the first is up
    const again = await nodeRun(h1, ['--ip', h1.ip4]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already running here \(pid \d+/);
  });

  it('refuses an address another node already has, and leaves nothing behind', async () => {
    const r = await nodeRun(h2, ['--ip', `${h1.ip4}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`--ip: ${h1.ip4} is already used by node h1`);
    expect(lab.processes(h2)).toEqual([]);
    const nodes = (await getJson('nodes')).items.map((n: any) => n.metadata.name);
    expect(nodes).not.toContain('h2');
    h2.nodeRunning = false;
  });

  it('node status shows the processes and the mesh peer, Established, for IPv4 and IPv6', async () => {
    const r = await nodeRun(h2, ['--ip', h2.ip4, '--ip6', h2.ip6]);
    expect(r.code, r.stderr).toBe(0);
    const status = await waitFor('h1 to show h2 Established on both families', async () => {
      const s = await ctl(h1, ['node', 'status']);
      return (s.stdout.match(/node-to-node mesh\s+up\s+\S+\s+Established/g) ?? []).length === 2 ? s : undefined;
    });
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Calico process is running \(supervisor pid \d+, node h1, running\)/);
    expect(status.stdout).toMatch(/^bird6\s+\d+\s+running\s+0$/m);
    expect(status.stdout).toMatch(/^felix\s+\d+\s+running\s+0$/m);
    expect(status.stdout).toMatch(/IPv4 BGP status\nPEER ADDRESS\s+PEER TYPE\s+STATE\s+SINCE\s+INFO\n/);
    expect(status.stdout).toMatch(new RegExp(`^${h2.ip4.replace(/\./g, '\\.')}\\s+node-to-node mesh\\s+up\\s+\\S+\\s+Established$`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^${h2.ip6}\\s+node-to-node mesh\\s+up\\s+\\S+\\s+Established$`, 'm'));
  });

  it('restarts BIRD when it dies, and the new BIRD answers and re-establishes the session', async () => {
    const old = state(h1).children.bird!.pid!;
    process.kill(old, 'SIGKILL');
    const fresh = await waitFor('a new bird pid', () => {
      const c = state(h1).children.bird!;
      return c.pid && c.pid !== old && c.ready ? c : undefined;
    });
    expect(fresh.restarts).toBe(1);
    expect(alive(fresh.pid)).toBe(true);
    const answer = await lab.exec(h1.netns, ['birdc', '-s', join(h1.env.CALICO_RUN_DIR!, 'bird.ctl'), 'show', 'status']);
    expect(answer.stdout).toContain('Daemon is up and running');
    await lab.waitEstablished([h1, h2], { v4only: true });
    expect(readFileSync(join(h1.env.CALICO_LOG_DIR!, 'calico-node.log'), 'utf8')).toMatch(/"child":"bird".*child died; restarting/);
  });

  it('node bgp peer add / show / remove manage peers of this node only', async () => {
    const add = await ctl(h1, ['node', 'bgp', 'peer', 'add', '198.18.1.77', 'as', '64999']);
    expect(add.code, add.stderr).toBe(0);
    const add6 = await ctl(h1, ['node', 'bgp', 'peer', 'add', 'fd00:1::77', 'as', '65000', '--name', 'h1-v6-peer']);
    expect(add6.code, add6.stderr).toBe(0);
    const peer = await getJson('bgppeer', 'node.h1.198-18-1-77');
    expect(peer.spec).toEqual({ node: 'h1', peerIP: '198.18.1.77', asNumber: 64999 });
    // adding it again changes its AS; another name for the same peer is refused
    expect((await ctl(h1, ['node', 'bgp', 'peer', 'add', '198.18.1.77', 'as', '64998'])).stdout).toContain('Updated BGP peer 198.18.1.77 (AS 64998)');
    const dup = await ctl(h1, ['node', 'bgp', 'peer', 'add', '198.18.1.77', 'as', '64998', '--name', 'other']);
    expect(dup.stderr).toContain('--name: node h1 already peers with 198.18.1.77 as BGPPeer node.h1.198-18-1-77');
    const show = await ctl(h1, ['node', 'bgp', 'peer', 'show']);
    expect(show.stdout).toMatch(/^IPV4 BGP PEER\s+AS NUM\s+NAME\n198\.18\.1\.77\s+64998\s+node\.h1\.198-18-1-77$/m);
    expect(show.stdout).toMatch(/^fd00:1::77\s+65000\s+h1-v6-peer$/m);
    // h2 sees none of them
    expect((await ctl(h2, ['node', 'bgp', 'peer', 'show', '--ipv4'])).stdout).toContain('No IPv4 BGP peers defined for node h2.');
    // confd renders it as a node-specific peer, and node status says so
    await waitFor('the node-specific peer in node status', async () => /198\.18\.1\.77\s+node specific\s+start/.test((await ctl(h1, ['node', 'status'])).stdout));
    const bad = await ctl(h1, ['node', 'bgp', 'peer', 'add', '198.18.1.300', 'as', '1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('PEER_IP: "198.18.1.300" is not an IP address');
    expect((await ctl(h1, ['node', 'bgp', 'peer', 'remove', '198.18.1.77'])).code).toBe(0);
    expect((await ctl(h1, ['node', 'bgp', 'peer', 'remove', 'fd00:1::77'])).code).toBe(0);
    const gone = await ctl(h1, ['node', 'bgp', 'peer', 'remove', '198.18.1.77']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('node h1 has no BGP peer 198.18.1.77');
  });

  it('node diags writes a tarball with logs, configs, BIRD state, routes, iptables, ipsets and resources', async () => {
    const r = await ctl(h1, ['node', 'diags', '--output-dir', lab.dir]);
    expect(r.code, r.stderr).toBe(0);
    const file = /Diags saved to (\S+\.tar\.gz)/.exec(r.stdout)?.[1];
    expect(file && file.startsWith(lab.dir)).toBe(true);
    const list = (await run(['tar', '-tzf', file!])).stdout.split('\n').map((l) => l.replace(/^[^/]+\//, ''));
    for (const f of [
      'logs/felix.log', 'logs/bird.log', 'logs/confd.log', 'logs/calico-node.log', 'confd/bird.cfg', 'confd/bird6.cfg',
      'birdc-show-protocols-all.txt', 'birdc6-show-protocols-all.txt', 'ip-route.txt', 'ip6-route.txt',
      'iptables-save.txt', 'ip6tables-save.txt', 'ipset-list.txt', 'resources.yaml',
    ]) {
      expect(list).toContain(f);
    }
    const dir = join(lab.dir, 'diags-x');
    await run(['mkdir', '-p', dir]);
    await run(['tar', '-xzf', file!, '-C', dir, '--strip-components=1']);
    expect(readFileSync(join(dir, 'birdc-show-protocols-all.txt'), 'utf8')).toMatch(/Mesh_\S+\s+BGP\s+master\s+up/);
    expect(readFileSync(join(dir, 'ip-route.txt'), 'utf8')).toContain(`default via ${lab.fabricIp4}`);
    expect(readFileSync(join(dir, 'resources.yaml'), 'utf8')).toContain(`ipv4Address: ${h1.ip4}/24`);
  });

  it('node stop ends the supervisor and every child, and status then says it is not running', async () => {
    const before = state(h2);
    const pids = [before.pid, ...Object.values(before.children).map((c) => c.pid!)];
    const r = await lab.stopNode(h2);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`Calico node stopped (supervisor pid ${before.pid})`);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(lab.processes(h2)).toEqual([]);
    const status = await ctl(h2, ['node', 'status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('Error: Calico process is not running.');
    expect((await ctl(h2, ['node', 'stop'])).stdout).toContain('Calico node is not running');
  });

  it('node remove refuses while the node has workload endpoints, and --force removes them with the node', async () => {
    await lab.apply([
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: { name: 'h2-cni-w9-eth0', namespace: 'default' },
        spec: { orchestrator: 'cni', workload: 'w9', endpoint: 'eth0', node: 'h2', interfaceName: 'cali00000009', ipNetworks: ['198.19.1.9/32'] },
      },
      { apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: 'h2-peer' }, spec: { node: 'h2', peerIP: '198.18.1.99', asNumber: 64513 } },
    ]);
    const refused = await ctl(h2, ['node', 'remove']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('node h2 still has 1 workload endpoint(s) (default/h2-cni-w9-eth0)');
    expect((await getJson('node', 'h2')).metadata.name).toBe('h2');
    const forced = await ctl(h2, ['node', 'remove', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toContain('Removed node h2: 1 workload endpoint(s), 1 BGP peer(s)');
    expect((await ctl('fabric', ['get', 'node', 'h2'])).code).toBe(1);
    expect((await getJson('wep')).items ?? []).toEqual([]);
    expect((await getJson('bgppeers')).items ?? []).toEqual([]);
    // h1 is still running: removing it is refused until it is stopped
    const running = await ctl(h1, ['node', 'remove']);
    expect(running.code).toBe(1);
    expect(running.stderr).toContain('node h1 is running here');
  });

  it('node run fails with the failing child\'s own error, stops what it started and deregisters the node', async () => {
    const h3 = lab.hosts[2]!;
    const broken = join(lab.dir, 'broken-felix.mjs');
    writeFileSync(broken, "process.stderr.write('felix: cannot program iptables: test failure\\n'); setTimeout(() => process.exit(3), 200);\n");
    h3.nodeRunning = true;
    const r = await ctlEnv(h3, ['node', 'run', '--name', h3.name, '--ip', h3.ip4], { CALICO_FELIX_BIN: broken });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/node failed to start: felix exited with code 3 while starting; last lines of its log: felix: cannot program iptables: test failure/);
    expect(lab.processes(h3)).toEqual([]);
    expect((await ctl('fabric', ['get', 'node', h3.name])).code).toBe(1);
    expect(state(h3).state).toBe('failed');
    h3.nodeRunning = false;
  });

  it('--backend none runs felix alone; --foreground runs the supervisor until SIGTERM; an existing Node keeps its other fields', async () => {
    const h3 = lab.hosts[2]!;
    // an existing Node keeps what node run does not own (labels, route reflector id)
    await lab.apply([
      {
        apiVersion: 'projectcalico.org/v3',
        kind: 'Node',
        metadata: { name: h3.name, labels: { rack: 'r1' } },
        spec: { bgp: { ipv4Address: '198.18.1.33/24', routeReflectorClusterID: '224.0.0.1', asNumber: 64700 } },
      },
    ]);
    h3.nodeRunning = true;
    const fg = spawn('ip', ['netns', 'exec', h3.netns, process.execPath, CALICOCTL, 'node', 'run', '--foreground', '--name', h3.name, '--ip', h3.ip4, '--backend', 'none'], {
      env: { ...process.env, ...h3.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    fg.stdout!.on('data', (d) => (output += d));
    fg.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((r) => fg.once('exit', (code) => r(code)));
    await waitFor('the foreground node to be running', () => existsSync(join(h3.env.CALICO_RUN_DIR!, 'calico-node.json')) && state(h3).state === 'running');
    expect(state(h3).pid).toBe(fg.pid);
    const node = await getJson('node', h3.name);
    expect(node.metadata.labels).toEqual({ rack: 'r1' });
    expect(node.spec.bgp).toEqual({ ipv4Address: `${h3.ip4}/24`, routeReflectorClusterID: '224.0.0.1', asNumber: 64700 });
    expect(Object.keys(state(h3).children)).toEqual(['felix']);
    expect(lab.processes(h3).map((p) => p.role).filter((r) => r !== 'felix-helper').sort()).toEqual(['felix', 'supervisor']);
    expect((await ctl(h3, ['node', 'status'])).stdout).toContain('BGP is disabled (backend none).');
    fg.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    expect(lab.processes(h3)).toEqual([]);
    expect(state(h3).state).toBe('stopped');
  });

  it('node stop --force kills everything at once; children of a killed supervisor are cleaned up', async () => {
    const h3 = lab.hosts[2]!;
    expect((await nodeRun(h3, ['--ip', h3.ip4])).code).toBe(0);
    const forced = await ctl(h3, ['node', 'stop', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(lab.processes(h3)).toEqual([]);
    // a supervisor that dies hard leaves its children; node stop (and node run) end them
    expect((await nodeRun(h3, ['--ip', h3.ip4, '--backend', 'none'])).code).toBe(0);
    const felix = state(h3).children.felix!.pid!;
    process.kill(state(h3).pid, 'SIGKILL');
    await waitFor('the supervisor to be gone', () => !alive(state(h3).pid));
    expect(alive(felix)).toBe(true);
    const stop = await ctl(h3, ['node', 'stop']);
    expect(stop.stdout).toContain(`Calico node is not running (stopped processes it left behind: ${felix})`);
    expect(alive(felix)).toBe(false);
    expect(lab.processes(h3)).toEqual([]);
    h3.nodeRunning = false;
  });
});
