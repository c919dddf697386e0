// `calicoctl pool add|remove|show` against a private etcd.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { snapshot, withEtcdCtl } from './ctl-helper.js';

const t = withEtcdCtl();

describe('pool', () => {
  it('adds pools named after their CIDR with the options given', async () => {
    expect(await t.c.ok(['pool', 'add', '198.19.0.0/16', '--nat-outgoing', '--block-size', '28'])).toBe('Created IP pool 198-19-0-0-16 (198.19.0.0/16)\n');
    expect(await t.c.getObj(['ippool', '198-19-0-0-16'])).toMatchObject({
      kind: 'IPPool',
      metadata: { name: '198-19-0-0-16' },
      spec: { cidr: '198.19.0.0/16', natOutgoing: true, blockSize: 28, ipipMode: 'Never', vxlanMode: 'Never', disabled: false, nodeSelector: 'all()' },
    });
    await t.c.ok(['pool', 'add', 'fd00:1::/64', '198.18.5.0/24', '--disabled']);
    expect((await t.c.getObj(['ippool', 'fd00-1---64'])).spec).toMatchObject({ cidr: 'fd00:1::/64', blockSize: 122, disabled: true });
    await t.c.ok(['pool', 'add', '198.18.6.0/24', '--ipip']);
    expect((await t.c.getObj(['ippool', '198-18-6-0-24'])).spec.ipipMode).toBe('Always');
  });

  it('shows pools by family, old-style options, or as YAML', async () => {
    const all = await t.c.ok(['pool', 'show']);
    expect(all).toMatch(/^IPV4 CIDR\s+NAME\s+OPTIONS\n/);
    expect(all).toMatch(/198\.19\.0\.0\/16\s+198-19-0-0-16\s+nat-outgoing,block-size=28\n/);
    expect(all).toMatch(/198\.18\.5\.0\/24\s+198-18-5-0-24\s+disabled\n/);
    expect(all).toMatch(/198\.18\.6\.0\/24\s+198-18-6-0-24\s+ipip\n/);
    expect(all).toMatch(/\nIPV6 CIDR\s+NAME\s+OPTIONS\nfd00:1::\/64\s+fd00-1---64\s+disabled\n/);
    const v6 = await t.c.ok(['pool', 'show', '--ipv6']);
    expect(v6).not.toContain('198.19');
    expect(v6).toContain('fd00:1::/64');
    expect(await t.c.ok(['pool', 'show', '--ipv4'])).not.toContain('fd00');
    const y = await t.c.ok(['pool', 'show', '--ipv4', '-o', 'yaml']);
    expect(y).toContain('kind: IPPoolList');
  });

  it('refuses bad pools with the reason and writes nothing', async () => {
    const before = await snapshot(t.etcd.endpoint);
    expect(await t.c.fails(['pool', 'add', '198.19.1.0/24'])).toMatch(/overlaps IPPool 198-19-0-0-16/);
    expect(await t.c.fails(['pool', 'add', '198.20.0.1/16'])).toMatch(/host bits set/);
    expect(await t.c.fails(['pool', 'add', 'fd00:2::/64', '--ipip'])).toMatch(/IPv4 only/);
    expect(await t.c.fails(['pool', 'add', '198.21.0.0/24', '--block-size', '20'])).toMatch(/blockSize|block size/i);
    expect(await t.c.fails(['pool', 'add', '198.21.0.0/24', '--block-size', 'x'])).toMatch(/--block-size/);
    expect(await t.c.fails(['pool', 'add', 'not-a-cidr'])).toMatch(/CIDR/);
    // several at once: one bad (or two overlapping each other) → none written
    expect(await t.c.fails(['pool', 'add', '198.22.0.0/24', '198.22.0.0/25'])).toMatch(/overlaps/);
    expect(await t.c.fails(['pool', 'add', '198.23.0.0/24', '198.23.1.7/24'])).toMatch(/host bits/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
  });

  it('removes pools by CIDR, whatever their name', async () => {
    const doc = { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'custom-name' }, spec: { cidr: '198.18.7.0/24' } };
    await t.c.ok(['create', '-f', '-'], { input: stringify(doc) });
    expect(await t.c.ok(['pool', 'remove', '198.18.7.0/24'])).toBe('Removed IP pool custom-name (198.18.7.0/24)\n');
    await t.c.ok(['pool', 'remove', '198.19.0.0/16', 'fd00:1::/64']);
    expect(await t.c.fails(['pool', 'remove', '198.19.0.0/16'])).toMatch(/no IP pool with CIDR 198\.19\.0\.0\/16/);
    const left = (await t.c.getObj(['ippools'])).items.map((p: any) => p.spec.cidr).sort();
    expect(left).toEqual(['198.18.5.0/24', '198.18.6.0/24']);
  });
});
