// The lab itself, proven with raw kernel plumbing and hand-written BIRD configs (no
// calico components): hosts reach each other and etcd over the fabric, BIRD routes a
// block between two hosts, a workload pings across with routed TTLs, teardown leaves
// nothing behind.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '@calico/libcalico';
import { Lab, waitFor, type LabHost } from '../lab/lab.js';
import { startRawBird } from '../lab/raw-bird.js';

let lab: Lab;

beforeAll(async () => {
  lab = await Lab.create({ hosts: 3 });
});

afterAll(async () => {
  await lab?.teardown();
});

/** Calico's data path by hand: veth cali…/eth0, /32 + gateway 169.254.1.1 via proxy ARP. */
async function rawWorkload(h: LabHost, ns: string, cali: string, ip4: string, ip6: string): Promise<void> {
  await run(['ip', 'netns', 'add', ns]);
  lab.state.netns.push(ns);
  await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  await run(['ip', 'link', 'add', cali, 'netns', h.netns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run(['ip', '-n', h.netns, 'link', 'set', cali, 'address', 'ee:ee:ee:ee:ee:ee', 'up']);
  await lab.exec(h.netns, ['sysctl', '-qw', `net.ipv4.conf.${cali}.proxy_arp=1`, `net.ipv4.neigh.${cali}.proxy_delay=0`]);
  await run(['ip', '-n', ns, 'addr', 'add', `${ip4}/32`, 'dev', 'eth0']);
  await run(['ip', '-n', ns, '-6', 'addr', 'add', `${ip6}/128`, 'dev', 'eth0', 'nodad']);
  await run(['ip', '-n', ns, 'link', 'set', 'eth0', 'up']);
  await run(['ip', '-n', ns, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
  await run(['ip', '-n', ns, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
  await run(['ip', '-n', ns, '-6', 'route', 'add', 'default', 'via', 'fe80::ecee:eeff:feee:eeee', 'dev', 'eth0']);
  await run(['ip', '-n', h.netns, 'route', 'add', `${ip4}/32`, 'dev', cali, 'scope', 'link']);
  await run(['ip', '-n', h.netns, '-6', 'route', 'add', `${ip6}/128`, 'dev', cali]);
}

describe('lab fabric', () => {
  it('names every namespace and interface with the run id, within the kernel length limit', async () => {
    expect(lab.state.netns).toEqual([lab.fabric, ...lab.hosts.map((h) => h.netns)]);
    for (const ns of lab.state.netns) expect(ns.startsWith(lab.id)).toBe(true);
    for (const h of lab.hosts) {
      const links = JSON.parse((await run(['ip', '-n', h.netns, '-j', 'link', 'show'])).stdout) as { ifname: string }[];
      for (const l of links.filter((x) => x.ifname !== 'lo')) {
        expect(l.ifname.startsWith(lab.id)).toBe(true);
        expect(l.ifname.length).toBeLessThanOrEqual(15);
      }
    }
  });

  it('joins the hosts and the fabric over IPv4 and IPv6', async () => {
    const [h1, h2, h3] = lab.hosts as [LabHost, LabHost, LabHost];
    for (const [from, to] of [
      [h1, h2.ip4], [h1, h3.ip6], [h3, h2.ip4], [h2, lab.fabricIp4], [h2, lab.fabricIp6],
    ] as const) {
      const r = await lab.ping(from.netns, to);
      expect(r.ok, r.output).toBe(true);
      expect(r.ttl).toBe(64);
    }
  });

  it('gives every host a default route via the fabric (proxy ARP needs it)', async () => {
    for (const h of lab.hosts) {
      const r = await run(['ip', '-n', h.netns, 'route', 'show', 'default']);
      expect(r.stdout).toContain(`via ${lab.fabricIp4} dev ${h.uplink}`);
    }
  });

  it('reaches etcd from every host, and not from the root namespace', async () => {
    const url = lab.etcdEndpoints.replace(/^http:\/\//, '');
    const ctl = (ns: string, ...args: string[]) =>
      lab.exec(ns, ['etcdctl', '--endpoints', url, '--dial-timeout=1s', ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
    await ctl(lab.hosts[0]!.netns, 'put', `/lab/${lab.id}`, 'hello');
    for (const h of lab.hosts) expect((await ctl(h.netns, 'get', '--print-value-only', `/lab/${lab.id}`)).stdout.trim()).toBe('hello');
    const fromRoot = await run(['etcdctl', '--endpoints', url, '--dial-timeout=300ms', '--command-timeout=500ms', 'get', 'x'], {
      allowFail: true,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    expect(fromRoot.code).not.toBe(0);
  });

  it('routes a block between two hosts with BIRD, unencapsulated (ttl 62), v4 and v6', async () => {
    const [h1, h2] = lab.hosts as [LabHost, LabHost];
    const o = lab.pool4.split('.')[2];
    const p6 = lab.pool6.split('::')[0];
    for (const h of [h1, h2]) await lab.exec(h.netns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    const blocks = { h1: [`198.19.${o}.0/26`, `${p6}::/122`], h2: [`198.19.${o}.64/26`, `${p6}::40/122`] };
    for (const v6 of [false, true]) {
      startRawBird(h1, [h2], blocks.h1[v6 ? 1 : 0]!, v6);
      startRawBird(h2, [h1], blocks.h2[v6 ? 1 : 0]!, v6);
    }
    await rawWorkload(h1, `${lab.id}w91`, `${lab.id}c1`, `198.19.${o}.5`, `${p6}::5`);
    await rawWorkload(h2, `${lab.id}w92`, `${lab.id}c2`, `198.19.${o}.70`, `${p6}::45`);
    await lab.waitEstablished([h1, h2], { perHost: 1 });
    await waitFor('h2 learns h1 blocks', async () => {
      return (await lab.birdRoutes(h2)).some((r) => r.startsWith(blocks.h1[0]!)) &&
        (await lab.birdRoutes(h2, true)).some((r) => r.startsWith(blocks.h1[1]!));
    }, { timeoutMs: 20_000 });
    await waitFor('h1 learns h2 blocks', async () => (await lab.birdRoutes(h1)).some((r) => r.startsWith(blocks.h2[0]!)) &&
      (await lab.birdRoutes(h1, true)).some((r) => r.startsWith(blocks.h2[1]!)), { timeoutMs: 20_000 });
    // the /32s stay local: only the aggregate block crosses
    expect((await lab.birdRoutes(h2)).some((r) => r.startsWith(`198.19.${o}.5 `))).toBe(false);

    const v4 = await lab.waitPing(`${lab.id}w92`, `198.19.${o}.5`, { timeoutMs: 10_000 });
    expect(v4.ttl).toBe(62);
    const v6 = await lab.waitPing(`${lab.id}w92`, `${p6}::5`, { timeoutMs: 10_000 });
    expect(v6.ttl).toBe(62);
    const mtu = await lab.ping(`${lab.id}w92`, `198.19.${o}.5`, { size: 1472, dontFragment: true });
    expect(mtu.ok, mtu.output).toBe(true);
  });
});

describe('lab teardown', () => {
  it('removes its namespaces, processes and dirs', async () => {
    const extra = await Lab.create({ hosts: 2 });
    const { netns, dir } = { netns: [...extra.state.netns], dir: extra.dir };
    spawn('ip', ['netns', 'exec', extra.hosts[0]!.netns, 'sleep', '300'], { stdio: 'ignore' }).unref();
    await waitFor('sleep in h1', () => extra.processes(extra.hosts[0]!).some((p) => p.cmdline.startsWith('sleep')));
    const problems = await extra.teardown();
    expect(problems.join('\n')).toContain('left running on h1');
    const left = (await run(['ip', 'netns', 'list'])).stdout;
    for (const ns of netns) expect(left).not.toMatch(new RegExp(`^${ns}\\b`, 'm'));
    expect(existsSync(dir)).toBe(false);
  });
});
