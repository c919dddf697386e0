// `calicoctl bgp peer|node-mesh|default-node-as` against a private etcd.
import { describe, expect, it } from 'vitest';
import { snapshot, withEtcdCtl } from './ctl-helper.js';

const t = withEtcdCtl();

describe('bgp peer', () => {
  it('adds global peers as BGPPeer resources named after the IP, shows and removes them', async () => {
    expect(await t.c.ok(['bgp', 'peer', 'add', '198.18.9.1', 'as', '64513'])).toBe('Added global BGP peer 198.18.9.1 as 64513\n');
    await t.c.ok(['bgp', 'peer', 'add', 'fd00:9:0::1', 'as', '1.10']);
    expect(await t.c.getObj(['bgppeer', 'bgppeer-198-18-9-1'])).toMatchObject({ spec: { peerIP: '198.18.9.1', asNumber: 64513 } });
    expect(await t.c.getObj(['bgppeer', 'bgppeer-fd00-9--1'])).toMatchObject({ spec: { peerIP: 'fd00:9::1', asNumber: 65546 } });
    expect((await t.c.getObj(['bgppeer', 'bgppeer-198-18-9-1'])).spec.node).toBeUndefined();

    const show = await t.c.ok(['bgp', 'peer', 'show']);
    expect(show).toMatch(/GLOBAL IPV4 BGP PEER\s+AS NUM\s+NAME\n198\.18\.9\.1\s+64513\s+bgppeer-198-18-9-1\n/);
    expect(show).toMatch(/GLOBAL IPV6 BGP PEER\s+AS NUM\s+NAME\nfd00:9::1\s+65546\s+bgppeer-fd00-9--1\n/);
    expect(await t.c.ok(['bgp', 'peer', 'show', '--ipv4'])).not.toContain('fd00');
    const v6 = JSON.parse(await t.c.ok(['bgp', 'peer', 'show', '--ipv6', '-o', 'json']));
    expect(v6).toMatchObject({ kind: 'BGPPeerList', items: [{ metadata: { name: 'bgppeer-fd00-9--1' }, spec: { peerIP: 'fd00:9::1' } }] });
    expect(v6.items).toHaveLength(1);

    const before = await snapshot(t.etcd.endpoint);
    expect(await t.c.fails(['bgp', 'peer', 'add', '198.18.9.1', 'as', '64999'])).toMatch(/already exists/);
    expect(await t.c.fails(['bgp', 'peer', 'add', '198.18.9.300', 'as', '64999'])).toMatch(/peer IP: "198\.18\.9\.300" is not an IPv4 or IPv6 address/);
    expect(await t.c.fails(['bgp', 'peer', 'add', '198.18.9.2', 'as', '0'])).toMatch(/AS number 0 is out of range/);
    expect(await t.c.fails(['bgp', 'peer', 'add', '198.18.9.2', 'as', '70000.1'])).toMatch(/dotted AS/);
    expect(await t.c.fails(['bgp', 'peer', 'add', '198.18.9.2', 'at', '64999'])).toMatch(/expected "as"/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);

    expect(await t.c.ok(['bgp', 'peer', 'remove', '198.18.9.1'])).toBe('Removed global BGP peer 198.18.9.1\n');
    expect(await t.c.fails(['bgp', 'peer', 'remove', '198.18.9.1'])).toMatch(/no global BGP peer with IP 198\.18\.9\.1/);
    await t.c.ok(['bgp', 'peer', 'remove', 'fd00:9::1']);
    expect((await t.c.getObj(['bgppeers'])).items).toEqual([]);
  });
});

describe('bgp node-mesh and default-node-as', () => {
  it("reports Calico's defaults without a BGPConfiguration and creates it on first change", async () => {
    expect(await t.c.ok(['bgp', 'node-mesh'])).toBe('on\n');
    expect(await t.c.ok(['bgp', 'default-node-as'])).toBe('64512\n');
    expect((await t.c.getObj(['bgpconfig'])).items).toEqual([]);

    await t.c.ok(['bgp', 'node-mesh', 'off']);
    expect(await t.c.ok(['bgp', 'node-mesh'])).toBe('off\n');
    expect((await t.c.getObj(['bgpconfig', 'default'])).spec).toEqual({ asNumber: 64512, nodeToNodeMeshEnabled: false, logSeverityScreen: 'Info' });

    await t.c.ok(['bgp', 'default-node-as', '65001']);
    expect(await t.c.ok(['bgp', 'default-node-as'])).toBe('65001\n');
    await t.c.ok(['bgp', 'node-mesh', 'on']);
    expect((await t.c.getObj(['bgpconfig', 'default'])).spec).toMatchObject({ asNumber: 65001, nodeToNodeMeshEnabled: true });

    const before = await snapshot(t.etcd.endpoint);
    expect(await t.c.fails(['bgp', 'node-mesh', 'maybe'])).toMatch(/expected on or off/);
    expect(await t.c.fails(['bgp', 'default-node-as', '4294967296'])).toMatch(/out of range/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
  });
});
