// create|apply|replace|delete -f and get for every resource kind, through the
// built calicoctl against a private etcd: YAML and JSON round trips,
// multi-document files, Lists, stdin, and invalid input leaving etcd untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';
import { ctlFor, snapshot, tempFiles, withoutVersion, yamlDocs } from './ctl-helper.js';

let etcd: TestEtcd;
let c: ReturnType<typeof ctlFor>;
const files = tempFiles();

beforeAll(async () => {
  etcd = await startEtcd();
  c = ctlFor(etcd.endpoint);
});
afterAll(async () => {
  await etcd?.stop();
  files.cleanup();
});

const V3 = 'projectcalico.org/v3';
interface Fixture {
  kind: string;
  /** what a user types for `get`/`delete` */
  alias: string;
  name: string;
  namespace?: string;
  spec: Record<string, unknown>;
  /** a spec change for apply */
  change: Record<string, unknown>;
}

const FIXTURES: Fixture[] = [
  { kind: 'IPPool', alias: 'ippools', name: 'pool-a', spec: { cidr: '198.18.0.0/24' }, change: { natOutgoing: true } },
  {
    kind: 'Profile',
    alias: 'profile',
    name: 'prof-a',
    spec: { labelsToApply: { 'prof-a': '' }, ingress: [{ action: 'Allow', source: { selector: 'has(prof-a)' } }], egress: [{ action: 'Allow' }] },
    change: { labelsToApply: { 'prof-a': '', extra: 'yes' } },
  },
  {
    kind: 'GlobalNetworkPolicy',
    alias: 'gnp',
    name: 'gnp-a',
    spec: { order: 10, selector: "role == 'db'", ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [5432, '6000:6010'] } }] },
    change: { order: 20 },
  },
  {
    kind: 'NetworkPolicy',
    alias: 'networkpolicies',
    name: 'np-a',
    namespace: 'ns1',
    spec: { selector: 'all()', egress: [{ action: 'Deny', protocol: 'UDP' }] },
    change: { order: 5 },
  },
  { kind: 'Node', alias: 'nodes', name: 'node-a', spec: { bgp: { ipv4Address: '198.18.1.1/24', asNumber: 64600 } }, change: { bgp: { ipv4Address: '198.18.1.1/24', asNumber: 64601 } } },
  { kind: 'BGPPeer', alias: 'bgppeer', name: 'peer-a', spec: { peerIP: '198.18.1.254', asNumber: 64700 }, change: { asNumber: 64701 } },
  { kind: 'BGPConfiguration', alias: 'bgpconfig', name: 'default', spec: { asNumber: 64512, nodeToNodeMeshEnabled: true }, change: { logSeverityScreen: 'Debug' } },
  { kind: 'FelixConfiguration', alias: 'felixconfiguration', name: 'default', spec: { logSeverityScreen: 'Info' }, change: { iptablesRefreshInterval: '30s' } },
  {
    kind: 'WorkloadEndpoint',
    alias: 'wep',
    name: 'node--a-cni-w1-eth0',
    namespace: 'ns1',
    spec: { orchestrator: 'cni', workload: 'w1', node: 'node-a', endpoint: 'eth0', interfaceName: 'cali0123456789a', ipNetworks: ['198.18.0.5/32'], profiles: ['prof-a'] },
    change: { profiles: ['prof-a', 'prof-b'] },
  },
  { kind: 'HostEndpoint', alias: 'hep', name: 'hep-a', spec: { node: 'node-a', interfaceName: 'eth0', expectedIPs: ['198.18.1.1'] }, change: { profiles: ['prof-a'] } },
];

const docOf = (f: Fixture, spec = f.spec) => ({
  apiVersion: V3,
  kind: f.kind,
  metadata: { name: f.name, ...(f.namespace ? { namespace: f.namespace } : {}) },
  spec,
});
const nsArgs = (f: Fixture) => (f.namespace ? ['-n', f.namespace] : []);

describe.each(FIXTURES)('$kind through calicoctl', (f) => {
  it('create, get, YAML and JSON round trip, apply, replace with CAS, delete', async () => {
    const yamlFile = files.write(`${f.kind}.yaml`, stringify(docOf(f)));
    expect(await c.ok(['create', '-f', yamlFile])).toBe(`Successfully created 1 '${f.kind}' resource(s)\n`);
    expect(await c.fails(['create', '-f', yamlFile])).toMatch(/already exists/);
    expect((await c.ctl(['create', '-f', yamlFile, '--skip-exists'])).code).toBe(0);

    // table output names it; yaml output carries what we wrote (plus defaults) and a resourceVersion
    const table = await c.ok(['get', f.alias, ...(f.namespace ? ['-A'] : [])]);
    expect(table).toContain(f.kind === 'WorkloadEndpoint' ? 'w1' : f.name);
    const got = await c.getObj([f.alias, f.name, ...nsArgs(f)]);
    expect(got).toMatchObject(docOf(f));
    expect(got.metadata.resourceVersion).toMatch(/^\d+$/);

    // YAML round trip: apply what get printed, get it back unchanged
    const yamlText = await c.ok(['get', f.alias, f.name, ...nsArgs(f), '-o', 'yaml']);
    await c.ok(['apply', '-f', files.write(`${f.kind}-rt.yaml`, yamlText)]);
    expect(withoutVersion(await c.getObj([f.alias, f.name, ...nsArgs(f)]))).toEqual(withoutVersion(got));

    // JSON round trip through stdin with replace: the resourceVersion makes it a compare-and-swap
    const jsonText = await c.ok(['get', f.alias, f.name, ...nsArgs(f), '-o', 'json']);
    expect(await c.ok(['replace', '-f', '-'], { input: jsonText })).toMatch(/Successfully replaced 1/);
    expect(await c.fails(['replace', '-f', '-'], { input: jsonText })).toMatch(/modified by someone else/);
    expect(withoutVersion(await c.getObj([f.alias, f.name, ...nsArgs(f)], 'json'))).toEqual(withoutVersion(got));

    // apply a change (JSON file); apply ignores a stale resourceVersion
    const changed = { ...docOf(f, { ...f.spec, ...f.change }), metadata: { ...docOf(f).metadata, resourceVersion: '1' } };
    await c.ok(['apply', '-f', files.write(`${f.kind}-changed.json`, JSON.stringify(changed))]);
    expect((await c.getObj([f.alias, f.name, ...nsArgs(f)])).spec).toMatchObject(f.change);

    // the listing round-trips too (a <Kind>List)
    const listText = await c.ok(['get', f.alias, ...nsArgs(f), '-o', 'yaml']);
    expect(yamlDocs(listText)[0]).toMatchObject({ kind: `${f.kind}List`, items: [expect.objectContaining({ kind: f.kind })] });
    await c.ok(['apply', '-f', '-'], { input: listText });

    await c.ok(['delete', f.alias, f.name, ...nsArgs(f)]);
    expect(await c.fails(['get', f.alias, f.name, ...nsArgs(f)])).toMatch(/does not exist/);
    expect(await c.fails(['replace', '-f', yamlFile])).toMatch(/does not exist/);
    expect(await c.fails(['delete', f.alias, f.name, ...nsArgs(f)])).toMatch(/does not exist/);
    expect((await c.ctl(['delete', f.alias, f.name, ...nsArgs(f), '--skip-not-exists'])).code).toBe(0);

    // delete -f
    await c.ok(['create', '-f', yamlFile]);
    expect(await c.ok(['delete', '-f', yamlFile])).toMatch(/Successfully deleted 1/);
  });
});

describe('resource files', () => {
  const pool = (name: string, cidr: string) => ({ apiVersion: V3, kind: 'IPPool', metadata: { name }, spec: { cidr } });
  const profile = (name: string) => ({ apiVersion: V3, kind: 'Profile', metadata: { name }, spec: { labelsToApply: { [name]: '' } } });

  it('takes multi-document YAML, a List and a JSON array-free List on stdin', async () => {
    const multi = [pool('m1', '198.18.10.0/24'), profile('m-prof'), pool('m2', '198.18.11.0/24')].map((d) => stringify(d)).join('---\n') + '---\n';
    expect(await c.ok(['create', '-f', files.write('multi.yaml', multi)])).toBe('Successfully created 3 resource(s)\n');
    const list = { apiVersion: V3, kind: 'List', items: [pool('l1', '198.18.12.0/24'), profile('l-prof')] };
    expect(await c.ok(['apply', '-f', files.write('list.yaml', stringify(list))])).toBe('Successfully applied 2 resource(s)\n');
    expect(await c.ok(['create', '-f', '-'], { input: JSON.stringify({ kind: 'List', apiVersion: V3, items: [pool('j1', '198.18.13.0/24')] }) })).toMatch(
      /Successfully created 1 'IPPool'/,
    );
    const names = (await c.getObj(['ippools'])).items.map((p: any) => p.metadata.name).sort();
    expect(names).toEqual(['j1', 'l1', 'm1', 'm2']);
    await c.ok(['delete', '-f', files.write('multi-del.yaml', multi)]);
    await c.ok(['delete', '-f', files.write('list-del.yaml', stringify(list))]);
    await c.ok(['delete', 'pool', 'j1']);
    expect((await c.getObj(['ippools'])).items).toEqual([]);
  });

  it('writes nothing when any document is invalid, and names the document and field', async () => {
    const before = await snapshot(etcd.endpoint);
    const bad = [
      pool('ok-1', '198.18.20.0/24'),
      { ...pool('bad-1', '198.18.21.1/24') },
      pool('ok-2', '198.18.22.0/24'),
    ].map((d) => stringify(d)).join('---\n');
    const err = await c.fails(['create', '-f', files.write('bad.yaml', bad)]);
    expect(err).toMatch(/document 2/);
    expect(err).toMatch(/spec\.cidr/);
    expect(err).toMatch(/host bits/);
    expect(await snapshot(etcd.endpoint)).toEqual(before);

    // also for apply, on an unknown field deep in a rule
    const badRule = [profile('p-ok'), { ...profile('p-bad'), spec: { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { portz: [80] } }] } }];
    const err2 = await c.fails(['apply', '-f', '-'], { input: badRule.map((d) => stringify(d)).join('---\n') });
    expect(err2).toMatch(/document 2 \(Profile p-bad\)/);
    expect(err2).toMatch(/spec\.ingress\[0\]\.destination/);
    expect(await snapshot(etcd.endpoint)).toEqual(before);
  });

  it('rejects pools that overlap each other within one file, and duplicates', async () => {
    const before = await snapshot(etcd.endpoint);
    const overlap = [pool('o1', '198.18.30.0/24'), pool('o2', '198.18.30.128/25')].map((d) => stringify(d)).join('---\n');
    expect(await c.fails(['create', '-f', files.write('overlap.yaml', overlap)])).toMatch(/overlaps/);
    const dup = [profile('d1'), profile('d1')].map((d) => stringify(d)).join('---\n');
    expect(await c.fails(['apply', '-f', files.write('dup.yaml', dup)])).toMatch(/Profile\(d1\) also appears in document 1/);
    expect(await snapshot(etcd.endpoint)).toEqual(before);
  });

  it('rejects a create when one resource exists, before writing the others', async () => {
    await c.ok(['create', '-f', '-'], { input: stringify(profile('exists')) });
    const before = await snapshot(etcd.endpoint);
    const two = [profile('new-one'), profile('exists')].map((d) => stringify(d)).join('---\n');
    expect(await c.fails(['create', '-f', '-'], { input: two })).toMatch(/document 2: Profile\(exists\) already exists/);
    expect(await snapshot(etcd.endpoint)).toEqual(before);
    await c.ok(['delete', 'profile', 'exists']);
  });

  it('reports broken YAML with its line, and missing files', async () => {
    const err = await c.fails(['create', '-f', '-'], { input: 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: x\n' });
    expect(err).toMatch(/invalid YAML\/JSON: .* at line \d/);
    expect(await c.fails(['apply', '-f', '/nonexistent/file.yaml'])).toMatch(/cannot read \/nonexistent\/file.yaml/);
    expect(await c.fails(['apply', '-f', '-'], { input: '' })).toMatch(/no resources/);
    expect(await c.fails(['apply', '-f', '-'], { input: stringify({ apiVersion: V3, kind: 'Gadget', metadata: { name: 'g' } }) })).toMatch(/kind/);
  });
});

describe('get', () => {
  it('resolves plural, singular and short names; namespaces with -n and -A; output formats', async () => {
    const np = (name: string, namespace: string) => ({ apiVersion: V3, kind: 'NetworkPolicy', metadata: { name, namespace }, spec: { selector: 'all()' } });
    await c.ok(['create', '-f', '-'], { input: [np('p1', 'ns-a'), np('p2', 'ns-b'), np('p3', 'default')].map((d) => stringify(d)).join('---\n') });
    for (const alias of ['networkpolicy', 'networkpolicies', 'NetworkPolicy', 'policy']) {
      expect((await c.getObj([alias])).items.map((i: any) => i.metadata.name)).toEqual(['p3']);
    }
    expect((await c.getObj(['np', '-n', 'ns-a'])).items.map((i: any) => i.metadata.name)).toEqual(['p1']);
    const all = await c.ok(['get', 'networkpolicies', '-A']);
    expect(all.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME$/);
    expect(all).toMatch(/ns-b\s+p2/);
    const wide = await c.ok(['get', 'networkpolicies', '-A', '-o', 'wide']);
    expect(wide.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+ORDER\s+SELECTOR$/);
    expect(await c.fails(['get', 'foo'])).toMatch(/resource type 'foo' is not supported/);
    expect(await c.fails(['get', 'pools', '-o', 'xml'])).toMatch(/unrecognized output format 'xml'/);
    // every alias of the issue resolves
    for (const a of ['ippool', 'ippools', 'pool', 'profile', 'profiles', 'globalnetworkpolicy', 'gnp', 'node', 'nodes', 'bgppeer', 'bgppeers', 'bgpconfig', 'bgpconfiguration', 'felixconfig', 'felixconfiguration', 'workloadendpoint', 'workloadendpoints', 'wep', 'hostendpoint', 'hostendpoints', 'hep']) {
      expect((await c.ctl(['get', a])).code, a).toBe(0);
    }
  });

  it('skips a malformed stored value with a warning, and can still delete it', async () => {
    const key = '/calico/resources/v3/projectcalico.org/profiles/broken';
    const ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 5000 });
    try {
      await ds.put(key, '{not json');
      await c.ok(['profile', 'add', 'fine']);
      const r = await c.ctl(['get', 'profiles']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/\nfine\n/);
      expect(r.stderr).toBe(`Warning: skipping ${key}: stored value is not JSON\n`);
      expect(await c.fails(['get', 'profile', 'broken'])).toMatch(/stored value is not JSON/);
      expect(await c.ok(['profile', 'show'])).toMatch(/\nfine\s/);
      await c.ok(['delete', 'profile', 'broken']);
      expect(await ds.get(key)).toBeNull();
      await c.ok(['delete', 'profile', 'fine']);
    } finally {
      await ds.close();
    }
  });

  it('prints calicoctl-style borderless tables', async () => {
    await c.ok(['create', '-f', '-'], { input: stringify({ apiVersion: V3, kind: 'IPPool', metadata: { name: 'tbl' }, spec: { cidr: '198.18.40.0/24', natOutgoing: true } }) });
    expect(await c.ok(['get', 'ippools'])).toBe('NAME   CIDR             SELECTOR\ntbl    198.18.40.0/24   all()\n');
    expect(await c.ok(['get', 'ippools', '-o', 'wide'])).toBe(
      'NAME   CIDR             NAT    IPIPMODE   VXLANMODE   DISABLED   BLOCKSIZE   SELECTOR\n' +
        'tbl    198.18.40.0/24   true   Never      Never       false      26          all()\n',
    );
    await c.ok(['delete', 'ippool', 'tbl']);
  });
});
