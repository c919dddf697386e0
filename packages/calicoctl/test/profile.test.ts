// `calicoctl profile …`: the Docker-era profile, tag and rule verbs over
// Profile resources (tags are labels `T: ""`, `from tag T` is `has(T)`).
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { snapshot, withEtcdCtl, yamlDocs } from './ctl-helper.js';

const t = withEtcdCtl();

const rules = async (name: string) => JSON.parse(await t.c.ok(['profile', name, 'rule', 'json']));

describe('profile add/remove/show', () => {
  it("creates Calico's default profile", async () => {
    expect(await t.c.ok(['profile', 'add', 'web'])).toBe('Created profile web\n');
    expect(await t.c.getObj(['profile', 'web'])).toMatchObject({
      spec: {
        labelsToApply: { web: '' },
        ingress: [{ action: 'Allow', source: { selector: 'has(web)' } }],
        egress: [{ action: 'Allow' }],
      },
    });
    expect(await t.c.fails(['profile', 'add', 'web'])).toMatch(/Profile\(web\) already exists/);
    expect(await t.c.fails(['profile', 'add', 'Bad_Name'])).toMatch(/metadata\.name/);
  });

  it('refuses to remove a profile that endpoints use, unless --no-check', async () => {
    await t.c.ok(['profile', 'add', 'used']);
    const wep = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'h1-cni-c1-eth0', namespace: 'default' },
      spec: { node: 'h1', orchestrator: 'cni', workload: 'c1', endpoint: 'eth0', interfaceName: 'cali1234567890a', ipNetworks: ['198.18.3.4/32'], profiles: ['used'] },
    };
    await t.c.ok(['create', '-f', '-'], { input: stringify(wep) });
    expect(await t.c.fails(['profile', 'remove', 'used'])).toMatch(/Profile\(used\) is in use by 1 endpoint\(s\): WorkloadEndpoint\(default\/h1-cni-c1-eth0\); .*--no-check/);
    expect((await t.c.getObj(['profile', 'used'])).metadata.name).toBe('used');
    expect(await t.c.ok(['profile', 'remove', 'used', '--no-check'])).toBe('Removed profile used\n');
    expect(await t.c.fails(['profile', 'remove', 'used'])).toMatch(/Profile\(used\) does not exist/);
  });

  it('shows profiles as a table or in detail', async () => {
    await t.c.ok(['profile', 'add', 'db']);
    const table = await t.c.ok(['profile', 'show']);
    expect(table).toMatch(/^NAME\s+TAGS\s+INBOUND RULES\s+OUTBOUND RULES\n/);
    expect(table).toMatch(/\nweb\s+web\s+1\s+1\n/);
    const detail = await t.c.ok(['profile', 'show', '--detailed']);
    expect(detail).toContain('db\n  tags: db\n  inbound rules:\n     1 allow from tag db\n  outbound rules:\n     1 allow\n');
    const listed = yamlDocs(await t.c.ok(['profile', 'show', '-o', 'yaml']))[0] as any;
    expect(listed.kind).toBe('ProfileList');
    expect(listed.items.map((p: any) => p.metadata.name)).toEqual(['db', 'web']);
  });
});

describe('profile NAME tag', () => {
  it('adds, shows and removes tags as empty labels', async () => {
    await t.c.ok(['profile', 'add', 'tagged']);
    expect(await t.c.ok(['profile', 'tagged', 'tag', 'add', 'blue'])).toBe('Added tag blue to profile tagged\n');
    expect(await t.c.ok(['profile', 'tagged', 'tag', 'add', 'blue'])).toBe('Profile tagged already has tag blue\n');
    expect(await t.c.ok(['profile', 'tagged', 'tag', 'show'])).toBe('tagged\nblue\n');
    expect((await t.c.getObj(['profile', 'tagged'])).spec.labelsToApply).toEqual({ tagged: '', blue: '' });
    await t.c.ok(['profile', 'tagged', 'tag', 'remove', 'tagged']);
    expect(await t.c.ok(['profile', 'tagged', 'tag', 'show'])).toBe('blue\n');
    const before = await snapshot(t.etcd.endpoint);
    expect(await t.c.fails(['profile', 'tagged', 'tag', 'remove', 'green'])).toMatch(/Profile\(tagged\) does not have tag green/);
    expect(await t.c.fails(['profile', 'tagged', 'tag', 'add', 'bad tag!'])).toMatch(/label key/);
    expect(await t.c.fails(['profile', 'nosuch', 'tag', 'add', 'x'])).toMatch(/Profile\(nosuch\) does not exist/);
    expect(await t.c.fails(['profile', 'tagged', 'tag', 'paint', 'x'])).toMatch(/expected show, add or remove/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
  });
});

describe('profile NAME rule', () => {
  it('adds rules from the old grammar as v3 rules', async () => {
    await t.c.ok(['profile', 'add', 'app']);
    await t.c.ok(['profile', 'app', 'rule', 'add', 'inbound', 'allow', 'tcp', 'from', 'ports', '1,2', 'tag', 'X', 'cidr', '198.18.0.0/16', 'to', 'ports', '80']);
    await t.c.ok(['profile', 'app', 'rule', 'add', 'inbound', '--at=1', 'deny', 'icmp', 'type', '8', 'code', '0']);
    await t.c.ok(['profile', 'app', 'rule', 'add', 'outbound', '--at', '0', 'deny', 'udp', 'to', 'ports', '53,1000:2000', 'cidr', '198.18.1.1']);
    await t.c.ok(['profile', 'app', 'rule', 'add', 'outbound', 'allow', 'icmpv6', 'to', 'cidr', 'fd00::/8']);
    await t.c.ok(['profile', 'app', 'rule', 'add', 'inbound', 'allow', 'from', 'tag', 'friends']);
    expect(await rules('app')).toEqual({
      ingress: [
        { action: 'Deny', protocol: 'ICMP', icmp: { type: 8, code: 0 } },
        { action: 'Allow', source: { selector: 'has(app)' } },
        { action: 'Allow', protocol: 'TCP', source: { ports: [1, 2], selector: 'has(X)', nets: ['198.18.0.0/16'] }, destination: { ports: [80] } },
        { action: 'Allow', source: { selector: 'has(friends)' } },
      ],
      egress: [
        { action: 'Deny', protocol: 'UDP', destination: { ports: [53, '1000:2000'], nets: ['198.18.1.1/32'] } },
        { action: 'Allow' },
        { action: 'Allow', protocol: 'ICMPv6', destination: { nets: ['fd00::/8'] } },
      ],
    });
    expect(await t.c.ok(['profile', 'app', 'rule', 'show'])).toBe(
      [
        'Inbound rules:',
        '   1 deny icmp type 8 code 0',
        '   2 allow from tag app',
        '   3 allow tcp from ports 1,2 tag X cidr 198.18.0.0/16 to ports 80',
        '   4 allow from tag friends',
        'Outbound rules:',
        '   1 deny udp to ports 53,1000:2000 cidr 198.18.1.1/32',
        '   2 allow',
        '   3 allow icmpv6 to cidr fd00::/8',
        '',
      ].join('\n'),
    );
  });

  it('rejects bad rules with a precise message and writes nothing', async () => {
    const before = await snapshot(t.etcd.endpoint);
    const bad: [string[], RegExp][] = [
      [['sideways', 'allow'], /expected inbound or outbound, got "sideways"/],
      [['inbound', 'permit'], /expected allow or deny, got "permit"/],
      [['inbound', 'allow', 'icmp', 'from', 'ports', '80'], /from ports: ports are only allowed with tcp or udp/],
      [['inbound', 'allow', 'from', 'ports', '80'], /ports are only allowed with tcp or udp/],
      [['inbound', 'allow', 'tcp', 'to', 'ports', '70000'], /port 70000 is out of range/],
      [['inbound', 'allow', 'tcp', 'to', 'ports', '90:80'], /start above its end/],
      [['inbound', 'allow', 'tcp', 'from', 'cidr', '198.18.0.1/16'], /from cidr/],
      [['inbound', 'allow', 'tcp', 'from', 'tag', 'a', 'ports', '80'], /"ports" is out of place/],
      [['inbound', 'allow', 'tcp', 'to', 'ports', '80', 'from', 'tag', 'a'], /"from" must come before "to"/],
      [['inbound', 'allow', 'from'], /from needs tag or cidr/],
      [['inbound', 'allow', 'icmp', 'type', '300'], /icmp type 300 is out of range 0\.\.254/],
      [['inbound', 'allow', 'icmp', 'type'], /icmp type expected/],
      [['inbound', 'allow', 'from', 'tag', 'a', 'tcp'], /protocol \(tcp\) must come right after allow\/deny/],
      [['inbound', '--at=x', 'allow'], /--at position "x" is not a number/],
    ];
    for (const [args, re] of bad) expect(await t.c.fails(['profile', 'app', 'rule', 'add', ...args]), args.join(' ')).toMatch(re);
    expect(await t.c.fails(['profile', 'app', 'rule', 'remove', 'inbound', '--at=9'])).toMatch(/no inbound rule at position 9 \(there are 4\)/);
    expect(await t.c.fails(['profile', 'app', 'rule', 'remove', 'inbound', 'allow', 'udp'])).toMatch(/has no inbound rule "allow udp"/);
    expect(await t.c.fails(['profile', 'app', 'rule', 'frob'])).toMatch(/expected add, remove, show, json or update, got "frob"/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
  });

  it('removes rules by position or by identical spec', async () => {
    expect(await t.c.ok(['profile', 'app', 'rule', 'remove', 'inbound', 'allow', 'tcp', 'from', 'ports', '1,2', 'tag', 'X', 'cidr', '198.18.0.0/16', 'to', 'ports', '80'])).toBe(
      'Removed inbound rule 3 from profile app: allow tcp from ports 1,2 tag X cidr 198.18.0.0/16 to ports 80\n',
    );
    await t.c.ok(['profile', 'app', 'rule', 'remove', 'inbound', '--at=1']);
    await t.c.ok(['profile', 'app', 'rule', 'remove', 'outbound', '--at=-1']);
    const r = await rules('app');
    expect(r.ingress).toEqual([{ action: 'Allow', source: { selector: 'has(app)' } }, { action: 'Allow', source: { selector: 'has(friends)' } }]);
    expect(r.egress.map((x: any) => x.action)).toEqual(['Deny', 'Allow']);
  });

  it('replaces all rules from JSON on stdin (validated), as rule json prints them', async () => {
    const body = { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [443] } }], egress: [] };
    expect(await t.c.ok(['profile', 'app', 'rule', 'update'], { input: JSON.stringify(body) })).toBe('Updated rules of profile app (1 inbound, 0 outbound)\n');
    expect(await rules('app')).toEqual(body);
    // round trip: what rule json prints, rule update takes back
    await t.c.ok(['profile', 'app', 'rule', 'update'], { input: await t.c.ok(['profile', 'app', 'rule', 'json']) });
    expect(await rules('app')).toEqual(body);

    const before = await snapshot(t.etcd.endpoint);
    expect(await t.c.fails(['profile', 'app', 'rule', 'update'], { input: '{"ingress": [' })).toMatch(/stdin: not valid JSON/);
    expect(await t.c.fails(['profile', 'app', 'rule', 'update'], { input: '{"inbound_rules": []}' })).toMatch(/inbound_rules: unknown field/);
    expect(
      await t.c.fails(['profile', 'app', 'rule', 'update'], { input: JSON.stringify({ ingress: [{ action: 'Allow', protocol: 'ICMP', destination: { ports: [1] } }] }) }),
    ).toMatch(/spec\.ingress\[0\]/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
  });
});
