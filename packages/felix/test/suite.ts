// calico-felix against real etcd, iptables (nft), ipset and veths, inside
// network namespaces. One host, three workloads; felix runs as a child process.
// The same suite runs for both endpoint chain layouts (felix.test.ts,
// felix-shared.test.ts): per endpoint (Calico's) and shared (FELIX_SHAREDENDPOINTCHAINS).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab, RES, eventually, sleep, startUnixEtcd, type UnixEtcd, type Workload } from './helpers.js';
import { inNs } from '../../../test/helpers/netns.js';

export function felixSuite(shared: boolean): void {
  const modeEnv: Record<string, string> = shared ? { FELIX_SHAREDENDPOINTCHAINS: 'true' } : {};
  let etcd: UnixEtcd;
  let lab: Lab;
  let w1: Workload, w2: Workload, w3: Workload;
  const policyKeys: string[] = [];

  const allowAll = { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] };
  const gnp = async (name: string, spec: Record<string, unknown>) => {
    await lab.put('GlobalNetworkPolicy', name, spec);
    policyKeys.push(`${RES}/globalnetworkpolicies/${name}`);
  };
  const clearPolicies = async () => {
    for (const k of policyKeys.splice(0)) await lab.del(k);
  };
  const blocked = (f: () => Promise<boolean>, what: string) => eventually(async () => !(await f()), `${what} to be blocked`);
  const allowed = (f: () => Promise<boolean>, what: string) => eventually(f, `${what} to be allowed`);
  const filterSave = async () => (await lab.hostRun(['iptables-nft-save', '-t', 'filter'])).stdout;

  /** Shared mode: the group sets (`cali40g:…`) that hold a workload's interface (two for a moment while it changes group). */
  const groupSets = async (w: Workload): Promise<string[]> =>
    [...(await lab.hostRun(['ipset', 'save'])).stdout.matchAll(new RegExp(`^add (cali40g:\\S+) 0\\.0\\.0\\.0/0,${w.ifname}$`, 'gm'))].map((m) => m[1]!);

  /** The chain that polices traffic to a workload: its own, or its group's (found through the dispatch rule). */
  async function toWorkloadChain(w: Workload): Promise<string> {
    if (!shared) return `cali-tw-${w.ifname}`;
    const save = await filterSave();
    for (const set of await groupSets(w)) {
      const chain = new RegExp(`-A cali-to-wl-dispatch -m set --match-set ${set} dst,dst .*-g (\\S+)`).exec(save)?.[1];
      if (chain) return chain;
    }
    throw new Error(`no group chain for ${w.ifname}`);
  }

  /** The body chain that polices traffic to a workload, shared by the endpoints with its policies and profiles. */
  async function groupChain(w: Workload): Promise<string> {
    if (shared) return toWorkloadChain(w);
    const chain = new RegExp(`^-A cali-tw-${w.ifname} .*-g (cali-tw-_\\S+)`, 'm').exec(await filterSave())?.[1];
    if (!chain) throw new Error(`no body chain for ${w.ifname}`);
    return chain;
  }

  beforeAll(async () => {
    etcd = await startUnixEtcd();
    lab = new Lab(etcd);
    await lab.up();
    w1 = await lab.addWorkload(1, ['198.19.1.1'], ['fd00:19:1::1']);
    w2 = await lab.addWorkload(2, ['198.19.1.2'], ['fd00:19:1::2']);
    w3 = await lab.addWorkload(3, ['198.19.1.3']);
    await lab.serve(w2, [8080, 9090]);
    await lab.put('Profile', 'open', allowAll);
    await lab.put('IPPool', 'pool1', { cidr: '198.19.1.0/24', natOutgoing: false, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', nodeSelector: 'all()' });
    await lab.putEndpoint(w1, ['open'], { role: 'client' });
    await lab.putEndpoint(w2, ['open'], { role: 'server' });
    await lab.startFelix(modeEnv);
    await lab.waitReady();
  });

  // Tests build on the policies earlier ones leave; one that failed half-way clears its own
  // so the ones after it do not fail for the wrong reason.
  afterEach(async ({ task }) => {
    if (task.result?.state === 'fail') await clearPolicies();
  });

  afterAll(async () => {
    if (process.env.FX_DUMP) console.log(lab?.log().slice(-20000));
    await lab?.down();
    await etcd?.stop();
  });

  describe('felix programs local workloads', () => {
    it('adds a /32 (and /128) route per endpoint with proto 80, and the chains', async () => {
      const v4 = (await lab.ip(['-4', 'route', 'show', 'proto', '80'])).stdout;
      expect(v4).toContain(`198.19.1.1 dev ${w1.ifname} scope link`);
      expect(v4).toContain(`198.19.1.2 dev ${w2.ifname} scope link`);
      expect((await lab.ip(['-6', 'route', 'show', 'proto', '80'])).stdout).toContain(`fd00:19:1::2 dev ${w2.ifname}`);
      const save = await filterSave();
      for (const c of ['cali-INPUT', 'cali-FORWARD', 'cali-OUTPUT', 'cali-from-wl-dispatch', 'cali-to-wl-dispatch', 'cali-pri-open', 'cali-pro-open']) {
        expect(save).toContain(`:${c} `);
      }
      expect(save).toMatch(/-A FORWARD -m comment --comment "cali:[\w-]{16}" -j cali-FORWARD/);
      const save6 = (await lab.hostRun(['ip6tables-nft-save', '-t', 'filter'])).stdout;
      if (!shared) {
        for (const c of [`cali-fw-${w1.ifname}`, `cali-tw-${w2.ifname}`]) expect(save).toContain(`:${c} `);
        expect(save6).toContain(`:cali-tw-${w2.ifname} `);
        // w1 and w2 have the same profile and no policies: their chains go to one shared body.
        const body = await groupChain(w1);
        expect(await groupChain(w2)).toBe(body);
        expect(save).toContain(`-A ${body} -m conntrack --ctstate RELATED,ESTABLISHED`);
      } else {
        // w1 and w2 have the same profile and no policies: one chain pair serves both.
        expect(save).not.toContain(`cali-tw-${w2.ifname}`);
        expect(save.match(/^:cali-tw-/gm)).toHaveLength(1);
        const sets = await groupSets(w1);
        expect(sets).toHaveLength(1);
        expect(await groupSets(w2)).toEqual(sets);
        const tw = await toWorkloadChain(w2);
        expect(save6).toContain(`:${tw} `);
        const addrs = (await lab.hostRun(['ipset', 'list', 'cali40wl-addrs'])).stdout;
        expect(addrs).toContain(`198.19.1.1,${w1.ifname}`);
        expect((await lab.hostRun(['ipset', 'list', 'cali60wl-addrs'])).stdout).toContain(`fd00:19:1::2,${w2.ifname}`);
        expect(save).toMatch(/-A cali-from-wl-dispatch -m set ! --match-set cali40wl-addrs src,src .*-j DROP/);
      }
      // sysctls
      const sys = async (k: string) => (await lab.hostRun(['cat', `/proc/sys/net/${k}`])).stdout.trim();
      expect(await sys(`ipv4/conf/${w1.ifname}/proxy_arp`)).toBe('1');
      expect(await sys(`ipv4/conf/${w1.ifname}/rp_filter`)).toBe('1');
      expect(await sys(`ipv4/neigh/${w1.ifname}/proxy_delay`)).toBe('0');
      expect(await sys('ipv4/ip_forward')).toBe('1');
      expect(await sys('ipv6/conf/all/forwarding')).toBe('1');
    });

    it('reports status in etcd and readiness over HTTP', async () => {
      const st = await eventually(() => etcd.ds.get(`/calico/felix/v2/no-region/host/${lab.node}/status`), 'status key');
      expect(JSON.parse(st.value)).toMatchObject({ in_sync: true });
      const js = `fetch('http://127.0.0.1:9099/readiness').then(r=>process.exit(r.status===200?0:1))`;
      expect((await inNs(lab.host, [process.execPath, '-e', js], { allowFail: true })).code).toBe(0);
    });

    it('runs with the heap limit of its entry point, not V8\'s default (several GB)', async () => {
      const limit = (await lab.metrics()).nodejs_heap_size_limit_bytes!;
      expect(limit).toBeGreaterThan(200 * 2 ** 20);
      expect(limit).toBeLessThan(320 * 2 ** 20);
    });

    it('lets workloads talk when their profiles allow it (IPv4 and IPv6)', async () => {
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping');
      await allowed(() => lab.ping(w1, 'fd00:19:1::2'), 'ping6');
      await allowed(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp');
      await allowed(() => lab.connect(w1, 'udp', 'fd00:19:1::2', 9090), 'udp6');
    });

    it('drops what a profile denies, and what no profile allows', async () => {
      await lab.put('Profile', 'closed', { ingress: [{ action: 'Deny', protocol: 'ICMP' }, { action: 'Allow', protocol: 'TCP' }], egress: [{ action: 'Allow' }] });
      await lab.putEndpoint(w2, ['closed'], { role: 'server' });
      await blocked(() => lab.ping(w1, '198.19.1.2'), 'ping');
      await allowed(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp');
      expect(await lab.connect(w1, 'udp', '198.19.1.2', 8080)).toBe(false); // no rule matches: dropped
      await lab.putEndpoint(w2, ['open'], { role: 'server' });
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping');
    });

    it('applies policies by selector: ports, protocols, ICMP types; no match means drop', async () => {
      await gnp('p-tcp', { order: 100, selector: "role == 'server'", types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8080] } }] });
      await blocked(() => lab.ping(w1, '198.19.1.2'), 'ping (no policy rule matches)');
      expect(await lab.connect(w1, 'tcp', '198.19.1.2', 8080)).toBe(true);
      expect(await lab.connect(w1, 'tcp', '198.19.1.2', 9090)).toBe(false);
      expect(await lab.connect(w1, 'udp', '198.19.1.2', 8080)).toBe(false);
      // ICMP echo-request (type 8) only
      await gnp('p-tcp', {
        order: 100, selector: "role == 'server'", types: ['Ingress'],
        ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8080] } }, { action: 'Allow', protocol: 'ICMP', icmp: { type: 8 } }],
      });
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping (icmp type 8)');
      // The policy does not select w1: w1 is reachable from w2 through its profile.
      await allowed(() => lab.ping(w2, '198.19.1.1'), 'ping to w1');
    });

    it('orders policies; a source selector follows label changes (ipset)', async () => {
      await gnp('p-deny', { order: 10, selector: "role == 'server'", ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "role == 'client'" } }] });
      await blocked(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp from a client');
      const sets = (await lab.hostRun(['ipset', 'list', '-n'])).stdout;
      expect(sets).toMatch(/^cali40s:/m);
      await lab.putEndpoint(w1, ['open'], { role: 'other' });
      await allowed(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp once w1 is no longer a client');
      await lab.putEndpoint(w1, ['open'], { role: 'client' });
      await blocked(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp from a client again');
    });

    it('Pass skips the remaining policies and goes to the profiles', async () => {
      await gnp('p-pass', { order: 1, selector: "role == 'server'", ingress: [{ action: 'Pass', protocol: 'UDP' }] });
      await allowed(() => lab.connect(w1, 'udp', '198.19.1.2', 9090), 'udp via Pass to profile open');
      expect(await lab.connect(w1, 'tcp', '198.19.1.2', 8080)).toBe(false); // still denied by p-deny
    });

    it('supports negations (notPorts, notSelector, notProtocol, notNets)', async () => {
      await clearPolicies();
      await gnp('p-neg', {
        order: 1, selector: "role == 'server'",
        ingress: [
          { action: 'Allow', protocol: 'UDP', destination: { notPorts: [9090] } },
          { action: 'Allow', protocol: 'TCP', source: { notSelector: "role == 'client'" } },
          { action: 'Allow', protocol: 'ICMP', source: { notNets: ['198.19.1.3/32'] } },
        ],
      });
      await allowed(() => lab.connect(w1, 'udp', '198.19.1.2', 8080), 'udp 8080');
      expect(await lab.connect(w1, 'udp', '198.19.1.2', 9090)).toBe(false);
      expect(await lab.connect(w1, 'tcp', '198.19.1.2', 8080)).toBe(false);
      expect(await lab.ping(w1, '198.19.1.2')).toBe(true);
      await lab.putEndpoint(w3, ['open'], { role: 'third' });
      await allowed(() => lab.connect(w3, 'tcp', '198.19.1.2', 8080), 'tcp from a non-client');
      expect(await lab.ping(w3, '198.19.1.2')).toBe(false);
      await gnp('p-neg', { order: 1, selector: "role == 'server'", ingress: [{ action: 'Allow', notProtocol: 'TCP' }] });
      await blocked(() => lab.connect(w3, 'tcp', '198.19.1.2', 8080), 'tcp under notProtocol TCP');
      expect(await lab.ping(w3, '198.19.1.2')).toBe(true);
      expect(await lab.connect(w3, 'udp', '198.19.1.2', 8080)).toBe(true);
    });

    it('a NetworkPolicy applies only to its own namespace', async () => {
      await clearPolicies();
      await lab.put('NetworkPolicy', 'np-deny', { selector: 'all()', ingress: [{ action: 'Deny' }] }, { namespace: 'other' });
      policyKeys.push(`${RES}/networkpolicies/other/np-deny`);
      await sleep(300);
      expect(await lab.ping(w1, '198.19.1.2')).toBe(true);
      await lab.put('NetworkPolicy', 'np-deny', { selector: 'all()', ingress: [{ action: 'Deny' }] }, { namespace: 'default' });
      policyKeys.push(`${RES}/networkpolicies/default/np-deny`);
      await blocked(() => lab.ping(w1, '198.19.1.2'), 'ping under a default-namespace deny');
      await clearPolicies();
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping after the policies are gone');
    });

    it('writes a change of thousands of rules (in several transactions) and enforces all of it', async () => {
      const deny = Array.from({ length: 1500 }, (_, i) => ({ action: 'Deny', protocol: 'TCP', destination: { ports: [20000 + i] } }));
      await gnp('p-big', {
        order: 1, selector: "role == 'server'", types: ['Ingress', 'Egress'],
        ingress: [...deny, { action: 'Allow', protocol: 'TCP', destination: { ports: [9090] } }],
        egress: [...deny, { action: 'Allow' }],
      });
      await blocked(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp 8080 (no rule of p-big allows it)');
      expect(await lab.connect(w1, 'tcp', '198.19.1.2', 9090)).toBe(true);
      expect(await lab.ping(w2, '198.19.1.1')).toBe(true);
      const save = await filterSave();
      for (const dir of ['pi', 'po']) expect(save.split('\n').filter((l) => l.startsWith(`-A cali-${dir}-p-big `)).length).toBeGreaterThanOrEqual(1501);
      await clearPolicies();
      await allowed(() => lab.connect(w1, 'tcp', '198.19.1.2', 8080), 'tcp 8080 once p-big is gone');
    });

    it('keeps applying its changes while another program writes to the same tables, and leaves that program\'s rules alone', async () => {
      // felix writes small changes through a long-running iptables-nft-restore per family,
      // whose view of the ruleset must follow what others commit in between.
      const ipt = (args: string[]) => lab.hostRun(['iptables-nft', ...args]);
      try {
        for (let k = 0; k < 4; k++) {
          await ipt(['-N', `other-${k}`]);
          await ipt(['-A', `other-${k}`, '-m', 'comment', '--comment', `other ${k}`, '-j', 'RETURN']);
          await ipt(['-I', 'FORWARD', '1', '-j', `other-${k}`]); // felix's hook is no longer first
          const deny = k % 2 === 0;
          await gnp('p-toggle', { order: 0, selector: "role == 'server'", types: ['Ingress'], ingress: [{ action: deny ? 'Deny' : 'Allow', protocol: 'TCP', destination: { ports: [9090] } }, { action: 'Allow' }] });
          if (deny) await blocked(() => lab.connect(w1, 'tcp', '198.19.1.2', 9090), `tcp 9090 after change ${k}`);
          else await allowed(() => lab.connect(w1, 'tcp', '198.19.1.2', 9090), `tcp 9090 after change ${k}`);
        }
        // A refresh (every 2 s here) re-reads the table and moves felix's hook back to the top,
        // deleting it by value: positions read before others inserted theirs would hit their rules.
        const order = /^-A FORWARD .*-j cali-FORWARD\n-A FORWARD -j other-3\n-A FORWARD -j other-2\n-A FORWARD -j other-1\n-A FORWARD -j other-0$/m;
        await eventually(async () => order.test(await filterSave()), 'felix hook first, then the other rules in their order');
        const save = await filterSave();
        for (let k = 0; k < 4; k++) expect(save).toContain(`-A other-${k} -m comment --comment "other ${k}" -j RETURN`);
      } finally {
        await clearPolicies();
        for (let k = 0; k < 4; k++) {
          await ipt(['-D', 'FORWARD', '-j', `other-${k}`]);
          await ipt(['-F', `other-${k}`]);
          await ipt(['-X', `other-${k}`]);
        }
      }
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping once the policies are gone');
    });

    it('profile labels (tags) can be selected', async () => {
      await lab.put('Profile', 'members', { labelsToApply: { members: '' }, ingress: [{ action: 'Allow', source: { selector: 'has(members)' } }], egress: [{ action: 'Allow' }] });
      await lab.putEndpoint(w2, ['members'], { role: 'server' });
      await lab.putEndpoint(w3, ['members'], { role: 'third' });
      await blocked(() => lab.ping(w1, '198.19.1.2'), 'ping from a non-member');
      await allowed(() => lab.ping(w3, '198.19.1.2'), 'ping from a member');
      // w2 and w3 now share a group of their own; it goes once both have left it.
      let members = '';
      const together = async () => (members = await groupChain(w2)) === (await groupChain(w3));
      await eventually(() => together().catch(() => false), 'w2 and w3 in one group');
      expect(await groupChain(w1)).not.toBe(members);
      await lab.putEndpoint(w2, ['open'], { role: 'server' });
      await lab.putEndpoint(w3, ['open'], { role: 'third' });
      await eventually(async () => !(await filterSave()).includes(`:${members} `), 'the group chain removed');
    });

    it('IPv6 policy: ICMPv6 denied, TCP allowed', async () => {
      await gnp('p-v6', { order: 1, selector: "role == 'server'", ingress: [{ action: 'Deny', protocol: 'ICMPv6' }, { action: 'Allow' }] });
      await blocked(() => lab.ping(w1, 'fd00:19:1::2'), 'ping6');
      await allowed(() => lab.connect(w1, 'tcp', 'fd00:19:1::2', 8080), 'tcp6');
      expect(await lab.ping(w1, '198.19.1.2')).toBe(true); // an ICMPv6 rule is not in the IPv4 table
      await clearPolicies();
    });

    it('drops packets with a forged source address: unrouted or another workload\'s, IPv4 and IPv6', async () => {
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping');
      await allowed(() => lab.ping(w1, 'fd00:19:1::2'), 'ping6');
      // The raw table's reverse-path rule drops them (packets it counts); IPv6 has no rp_filter sysctl to fall back on.
      const dropped = async (v: 4 | 6) =>
        Number(/^\s*(\d+)/m.exec((await lab.hostRun([v === 4 ? 'iptables-nft' : 'ip6tables-nft', '-t', 'raw', '-L', 'cali-PREROUTING', '-v', '-x', '-n'])).stdout.split('\n').slice(2).join('\n'))?.[1]);
      const before = { 4: await dropped(4), 6: await dropped(6) };
      for (const [src, dst] of [['198.19.1.99/32', '198.19.1.2'], ['198.19.1.3/32', '198.19.1.2'], ['fd00:19:1::99/128', 'fd00:19:1::2']] as const) {
        await inNs(w1.ns, ['ip', 'addr', 'add', src, 'dev', 'eth0', ...(dst.includes(':') ? ['nodad'] : [])]);
        const r = await inNs(w1.ns, ['ping', '-c1', '-W1', '-I', src.split('/')[0]!, dst], { allowFail: true });
        expect(r.code).not.toBe(0);
        await inNs(w1.ns, ['ip', 'addr', 'del', src, 'dev', 'eth0']);
      }
      expect(await dropped(4)).toBeGreaterThanOrEqual(before[4] + 2);
      expect(await dropped(6)).toBeGreaterThanOrEqual(before[6] + 1);
      // the real addresses still get through
      expect(await lab.ping(w1, '198.19.1.2')).toBe(true);
      expect(await lab.ping(w1, 'fd00:19:1::2')).toBe(true);
    });

    it('NAT outgoing masquerades traffic from a natOutgoing pool to outside the pools', async () => {
      // The fabric has no route back to 198.19.1.0/24: only a masqueraded ping can be answered.
      expect(await lab.ping(w1, '198.18.0.254')).toBe(false);
      await lab.put('IPPool', 'pool1', { cidr: '198.19.1.0/24', natOutgoing: true, blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', nodeSelector: 'all()' });
      await allowed(() => lab.ping(w1, '198.18.0.254'), 'masqueraded ping');
      const nat = (await lab.hostRun(['iptables-nft-save', '-t', 'nat'])).stdout;
      expect(nat).toMatch(/-A cali-nat-outgoing -m set --match-set cali40masq-ipam-pools src -m set ! --match-set cali40all-ipam-pools dst .*-j MASQUERADE/);
      expect((await lab.hostRun(['ipset', 'list', 'cali40masq-ipam-pools'])).stdout).toContain('198.19.1.0/24');
    });

    it('DefaultEndpointToHostAction: Drop stops what a workload sends its host but not replies; under Accept egress policy decides', async () => {
      const toHost = async () => (await filterSave()).split('\n').filter((l) => l.startsWith('-A cali-wl-to-host '));
      const viaDispatch = async () => (await toHost()).some((l) => l.includes('-j cali-from-wl-dispatch'));
      const hostPing = async (ip: string) => (await inNs(lab.host, ['ping', '-c1', '-W1', ip], { allowFail: true })).code === 0;
      // Drop (the default): w1's profile allows all egress, its packets to the host are still dropped.
      await blocked(() => lab.ping(w1, '198.18.0.1'), 'ping to the host');
      await blocked(() => lab.ping(w1, 'fd00:18::1'), 'ping6 to the host');
      // The host's own connections get their replies (and IPv6 its neighbour discovery).
      expect(await hostPing('198.19.1.1')).toBe(true);
      expect(await hostPing('fd00:19:1::1')).toBe(true);
      // No egress rule logs, so the egress policy is not run for packets that will be dropped anyway.
      expect(await viaDispatch()).toBe(false);
      // An egress Log rule must see them: the path runs the egress policy again, and still drops.
      await gnp('p-log-out', { order: 1, selector: "role == 'client'", types: ['Egress'], egress: [{ action: 'Log', protocol: 'ICMP' }, { action: 'Allow' }] });
      await eventually(viaDispatch, 'egress policy on the way to the host');
      expect(await lab.ping(w1, '198.18.0.1')).toBe(false);
      expect(await hostPing('198.19.1.1')).toBe(true);
      await clearPolicies();
      await eventually(async () => !(await viaDispatch()), 'the short way to the Drop');
      // Accept: what the egress policy allows reaches the host.
      await lab.put('FelixConfiguration', 'default', { defaultEndpointToHostAction: 'Accept' });
      await allowed(() => lab.ping(w1, '198.18.0.1'), 'ping to the host');
      await gnp('p-no-icmp-out', { order: 1, selector: "role == 'client'", types: ['Egress'], egress: [{ action: 'Deny', protocol: 'ICMP' }, { action: 'Allow' }] });
      await blocked(() => lab.ping(w1, '198.18.0.1'), 'ping to the host under an egress deny');
      expect(await lab.connect(w1, 'tcp', '198.19.1.2', 8080)).toBe(true);
      await clearPolicies();
      await lab.del(`${RES}/felixconfigurations/default`);
      await blocked(() => lab.ping(w1, '198.18.0.1'), 'ping to the host once Drop is back');
    });

    it('skips a malformed WorkloadEndpoint (logged) and programs the others', async () => {
      await etcd.ds.put(`${RES}/workloadendpoints/default/broken`, '{"apiVersion":"projectcalico.org/v3","kind":"WorkloadEndpoint","metadata":{"name":"broken"},"spec":{"node":"' + lab.node + '","interfaceName":"this-name-is-far-too-long","ipNetworks":["nonsense"]}}');
      await etcd.ds.put(`${RES}/workloadendpoints/default/garbage`, 'not json at all');
      await lab.putEndpoint(w3, ['open'], { role: 'third' });
      await lab.put('Profile', 'open', { ...allowAll, labelsToApply: { touched: 'yes' } });
      await eventually(async () => /malformed record skipped/.test(lab.log()) && /garbage/.test(lab.log()), 'the log line');
      await allowed(() => lab.ping(w3, '198.19.1.2'), 'ping from w3');
      expect(lab.felix?.exitCode).toBeNull();
      await lab.del(`${RES}/workloadendpoints/default/broken`);
      await lab.del(`${RES}/workloadendpoints/default/garbage`);
    });

    it('removes the routes and chains of an endpoint that goes away', async () => {
      await lab.del(w3.key);
      await eventually(async () => !(await lab.ip(['route', 'show', 'proto', '80'])).stdout.includes('198.19.1.3 '), 'route removed');
      if (!shared) await eventually(async () => !(await filterSave()).includes(`cali-fw-${w3.ifname}`), 'chains removed');
      else {
        await eventually(async () => (await groupSets(w3)).length === 0, 'interface out of its group');
        await eventually(async () => !(await lab.hostRun(['ipset', 'list', 'cali40wl-addrs'])).stdout.includes(w3.ifname), 'addresses out of the address set');
      }
    });

    it('repairs drift: a deleted rule, chain hook, route and ipset member come back on refresh', async () => {
      await gnp('p-sel', { order: 1, selector: "role == 'server'", ingress: [{ action: 'Allow', source: { selector: "role == 'client'" } }] });
      const set = await eventually(async () => /^(cali40s:\S+)/m.exec((await lab.hostRun(['ipset', 'list', '-n'])).stdout)?.[1], 'selector ipset');
      await eventually(async () => (await lab.hostRun(['ipset', 'list', set])).stdout.includes('198.19.1.1'), 'member');
      const tw = await toWorkloadChain(w2);
      await lab.hostRun(['iptables-nft', '-D', 'FORWARD', '1']);
      await lab.hostRun(['iptables-nft', '-F', tw]);
      if (shared) await lab.hostRun(['ipset', 'del', 'cali40wl-addrs', `198.19.1.1,${w1.ifname}`]);
      await lab.ip(['route', 'del', '198.19.1.1/32']);
      await lab.hostRun(['ipset', 'del', set, '198.19.1.1']);
      await eventually(async () => {
        const save = (await lab.hostRun(['iptables-nft-save', '-t', 'filter'])).stdout;
        const routes = (await lab.ip(['route', 'show', 'proto', '80'])).stdout;
        const members = (await lab.hostRun(['ipset', 'list', set])).stdout;
        const addrs = shared ? (await lab.hostRun(['ipset', 'list', 'cali40wl-addrs'])).stdout : '198.19.1.1,';
        return /-A FORWARD .*-j cali-FORWARD/.test(save) && save.includes(`-A ${tw} `) && routes.includes('198.19.1.1 ') && members.includes('198.19.1.1') && addrs.includes('198.19.1.1,');
      }, 'repair');
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping after repair');
      await clearPolicies();
    });

    it('keeps traffic flowing while etcd is down, and applies changes made after it is back', async () => {
      await lab.settle();
      await etcd.kill();
      try {
        await sleep(1500);
        expect(await lab.ping(w1, '198.19.1.2')).toBe(true);
        expect(await lab.connect(w1, 'tcp', '198.19.1.2', 8080)).toBe(true);
        expect(lab.felix?.exitCode).toBeNull();
        await sleep(2500); // a refresh happens meanwhile: still nothing removed
        expect(await lab.ping(w1, '198.19.1.2')).toBe(true);
      } finally {
        await etcd.restart();
      }
      await gnp('p-after', { order: 1, selector: "role == 'server'", ingress: [{ action: 'Deny', protocol: 'ICMP' }, { action: 'Allow' }] });
      await blocked(() => lab.ping(w1, '198.19.1.2'), 'ping under a policy written after the outage');
      await clearPolicies();
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping');
    });

    it('carries on when its helper and the tools it keeps running are killed: later changes still reach the kernel', async () => {
      await lab.settle();
      const felixPid = lab.felix!.pid!;
      const descendants = async (pid: number): Promise<number[]> => {
        const kids = (await inNs(lab.host, ['pgrep', '-P', String(pid)], { allowFail: true })).stdout.split('\n').filter(Boolean).map(Number);
        return [...kids, ...(await Promise.all(kids.map(descendants))).flat()];
      };
      const victims = await descendants(felixPid);
      // the helper, and through it ip -batch, ipset, ip monitor and the restore shells
      expect(victims.length).toBeGreaterThanOrEqual(4);
      for (const pid of victims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      await sleep(300);
      expect(lab.felix?.exitCode).toBeNull();
      // an iptables change (restore shell), a set member and a route (ip -batch), through new tools
      await gnp('p-after-kill', { order: 1, selector: "role == 'server'", ingress: [{ action: 'Deny', protocol: 'ICMP' }, { action: 'Allow' }] });
      await blocked(() => lab.ping(w1, '198.19.1.2'), 'ping under a policy written after the kill');
      await clearPolicies();
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping');
      await lab.putEndpoint(w3, ['open'], { role: 'third' });
      await eventually(async () => (await lab.ip(['-4', 'route', 'show', 'proto', '80'])).stdout.includes(`198.19.1.3 dev ${w3.ifname}`), 'route of a new endpoint');
      await allowed(() => lab.ping(w3, '198.19.1.2'), 'ping from the new endpoint');
      await lab.del(w3.key);
      await eventually(async () => !(await lab.ip(['-4', 'route', 'show', 'proto', '80'])).stdout.includes('198.19.1.3 '), 'route removed');
      expect((await descendants(felixPid)).some((p) => victims.includes(p))).toBe(false);
    });

    it('restarted with nothing changed, writes nothing to the kernel', async () => {
      await lab.settle();
      await lab.stopFelix();
      await lab.startFelix({ ...modeEnv, FELIX_IPTABLESREFRESHINTERVAL: '90', FELIX_ROUTEREFRESHINTERVAL: '90', FELIX_IPSETSREFRESHINTERVAL: '90' });
      await lab.waitReady();
      await lab.settle();
      const m = await lab.metrics();
      expect(m.felix_iptables_save_calls_total).toBeGreaterThan(0); // it did read the kernel back
      expect(m.felix_iptables_restore_calls_total).toBe(0);
      expect(m.felix_route_writes_total).toBe(0);
      expect(m.felix_ipset_restore_calls_total).toBe(0);
      expect(m.felix_sysctl_writes_total).toBe(0);
      expect(m.felix_kernel_writes_total).toBe(0);
      expect(await lab.ping(w1, '198.19.1.2')).toBe(true);
    });

    it('a workload interface recreated under the same name gets its route and sysctls back at once, not at the next refresh', async () => {
      // felix runs with 90 s refresh intervals since the restart above: only its link monitor can notice
      // within the default 15 s (generous for a loaded CI machine; a refresh would take up to 90 s)
      await lab.ip(['link', 'del', w1.ifname]); // the kernel drops the routes through it
      await lab.recreateWorkloadInterface(w1);
      const rpFilter = () => lab.hostRun(['cat', `/proc/sys/net/ipv4/conf/${w1.ifname}/rp_filter`]);
      await eventually(async () => {
        const routes4 = (await lab.ip(['route', 'show', 'proto', '80'])).stdout;
        const routes6 = (await lab.ip(['-6', 'route', 'show', 'proto', '80'])).stdout;
        return routes4.includes(`198.19.1.1 dev ${w1.ifname}`) && routes6.includes(`fd00:19:1::1 dev ${w1.ifname}`) && (await rpFilter()).stdout.trim() === '1';
      }, 'route, IPv6 route and rp_filter on the new interface');
      await allowed(() => lab.ping(w1, '198.19.1.2'), 'ping from the recreated workload');
    });
  });
}
