// `calicoctl ipam show|check|release|configure` against a private etcd.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ipam, ResourceClient } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';
import { ctlFor, snapshot } from './ctl-helper.js';

let etcd: TestEtcd;
let ds: EtcdDatastore;
let c: ReturnType<typeof ctlFor>;
let ipam: Ipam;
let a: string[];
let b: string[];

beforeAll(async () => {
  etcd = await startEtcd();
  c = ctlFor(etcd.endpoint);
  ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
  ipam = new Ipam(ds);
  const rc = new ResourceClient(ds);
  await rc.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p4' }, spec: { cidr: '198.18.40.0/24' } });
  await rc.create({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p6' }, spec: { cidr: 'fd00:40::/120', disabled: true } });
  a = (await ipam.autoAssign({ num4: 2, handleId: 'cni.aaaa', hostname: 'node1', attrs: { pod: 'web-1' } })).ipv4;
  b = (await ipam.autoAssign({ num4: 1, handleId: 'cni.bbbb', hostname: 'node2' })).ipv4;
  await rc.create({
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: { name: 'node1-cni-aaaa-eth0', namespace: 'default' },
    spec: { node: 'node1', orchestrator: 'cni', workload: 'aaaa', endpoint: 'eth0', interfaceName: 'cali0123456789a', ipNetworks: a.map((ip) => `${ip}/32`) },
  });
});
afterAll(async () => {
  await ds?.close();
  await etcd?.stop();
});

describe('ipam', () => {
  it('shows pool usage, and blocks per host', async () => {
    const out = await c.ok(['ipam', 'show']);
    expect(out).toMatch(/^GROUPING\s+CIDR\s+IPS TOTAL\s+IPS IN USE\s+IPS FREE\n/);
    expect(out).toMatch(/IP Pool\s+198\.18\.40\.0\/24\s+256\s+3 \(1%\)\s+253 \(98%\)\n/);
    expect(out).toMatch(/IP Pool \(disabled\)\s+fd00:40::\/120\s+256\s+0 \(0%\)\s+256 \(100%\)\n/);
    const blocks = await c.ok(['ipam', 'show', '--show-blocks']);
    expect(blocks).toMatch(/^GROUPING\s+CIDR\s+HOST\s+IPS TOTAL/);
    expect(blocks).toMatch(/Block\s+198\.18\.40\.\d+\/26\s+node1\s+64\s+2 \(3%\)\s+62 \(96%\)\n/);
    expect(blocks).toMatch(/Block\s+198\.18\.40\.\d+\/26\s+node2\s+64\s+1 \(1%\)\s+63 \(98%\)\n/);
    const json = JSON.parse(await c.ok(['ipam', 'show', '--show-blocks', '-o', 'json']));
    expect(json.pools[0]).toMatchObject({ cidr: '198.18.40.0/24', size: 256, allocated: 3, free: 253 });
    expect(json.blocks).toHaveLength(2);
  });

  it('shows who holds an address', async () => {
    const held = await c.ok(['ipam', 'show', '--ip', a[0]!]);
    expect(held).toContain(`IP ${a[0]} is in use`);
    expect(held).toMatch(/Handle:\s+cni\.aaaa/);
    expect(held).toMatch(/Endpoints:\s+default\/node1-cni-aaaa-eth0/);
    expect(held).toMatch(/pod: web-1/);
    expect(await c.ok(['ipam', 'show', '--ip', '198.18.40.250'])).toBe('IP 198.18.40.250 is not assigned (pool 198.18.40.0/24)\n');
    expect(await c.ok(['ipam', 'show', '--ip', '198.19.1.1'])).toBe('IP 198.19.1.1 is not assigned and is not in any IP pool\n');
    expect(await c.fails(['ipam', 'show', '--ip', '198.18.40.999'])).toMatch(/^Error: ip: "198\.18\.40\.999" is not a valid IP address$/);
  });

  it('check reports the leak (exit 1), release fixes it, check is then clean (exit 0)', async () => {
    const r = await c.ctl(['ipam', 'check']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Checked 2 IP pools, 2 blocks, 2 handles, 3 allocated addresses.');
    expect(r.stdout).toMatch(new RegExp(`Leaked addresses \\(allocated, used by no workload endpoint or node\\): 1\\n\\s+IP\\s+HANDLE\\s+BLOCK\\n\\s+${b[0]!.replace(/\./g, '\\.')}\\s+cni\\.bbbb`));
    expect(r.stderr).toBe('Error: IPAM check found 1 problem(s)\n');
    const json = JSON.parse((await c.ctl(['ipam', 'check', '-o', 'json'])).stdout);
    expect(json).toMatchObject({ ok: false, leaks: [{ ip: b[0], handleId: 'cni.bbbb' }] });

    // An address a workload uses is not released without --force; nothing changes.
    const before = await snapshot(etcd.endpoint);
    expect(await c.fails(['ipam', 'release', '--ip', a[0]!])).toMatch(/is used by WorkloadEndpoint default\/node1-cni-aaaa-eth0/);
    expect(await snapshot(etcd.endpoint)).toEqual(before);

    expect(await c.ok(['ipam', 'release', '--ip', b[0]!])).toBe(`Successfully released IP address ${b[0]}\n`);
    expect(await ipam.ipsByHandle('cni.bbbb')).toEqual([]);
    expect(await c.fails(['ipam', 'release', '--ip', b[0]!])).toBe(`Error: IP address ${b[0]} is not assigned`);
    const clean = await c.ok(['ipam', 'check']);
    expect(clean).toContain('No problems found.');
  });

  it('configures strict affinity and the block limit', async () => {
    expect(await c.ok(['ipam', 'configure', '--strictaffinity', 'true', '--max-blocks-per-host', '4'])).toBe(
      'StrictAffinity:      true\nAutoAllocateBlocks:  true\nMaxBlocksPerHost:    4\n',
    );
    expect(JSON.parse((await ds.get('/calico/ipam/v2/config'))!.value)).toEqual({ strict_affinity: true, auto_allocate_blocks: true, maxBlocksPerHost: 4 });
    expect(await c.fails(['ipam', 'configure', '--strictaffinity', 'maybe'])).toBe('Error: strictaffinity: "maybe" is not true or false');
    expect(await c.fails(['ipam', 'configure', '--max-blocks-per-host', '-1'])).toMatch(/^Error: max-blocks-per-host: /);
  });
});
