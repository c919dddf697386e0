import { describe, expect, it } from 'vitest';
import { buildBirdConfig, hashToIPv4, readInput, type BirdConfigView, type BirdPeerView } from '@calico/confd';
import { kindInfo, resourceKey, type KV } from '@calico/libcalico';
import { affinityKey } from '@calico/libcalico/ipam/keys';
import { AFFINITY_CONFIRMED, fixtureKvs, loadFixture } from './helpers.js';

/** View-model rules, pure: resource fixtures in, typed BIRD config views out. */

type Spec = Record<string, unknown>;
const res = (kind: string, name: string, spec: Spec, labels?: Record<string, string>): KV => ({
  key: resourceKey(kindInfo(kind)!, name),
  value: JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind, metadata: { name, ...(labels ? { labels } : {}) }, spec }),
  revision: '1',
});
const node = (name: string, ip4?: string, extra: Spec = {}, labels?: Record<string, string>) =>
  res('Node', name, { bgp: { ...(ip4 ? { ipv4Address: `${ip4}/24` } : {}), ...extra } }, labels);
const pool = (name: string, cidr: string, spec: Spec = {}) => res('IPPool', name, { cidr, ...spec });
const peer = (name: string, spec: Spec) => res('BGPPeer', name, spec);
const bgpConfig = (name: string, spec: Spec) => res('BGPConfiguration', name, spec);
const affinity = (host: string, cidr: string, value = AFFINITY_CONFIRMED): KV => ({
  key: affinityKey(host, cidr.includes(':') ? 6 : 4, cidr),
  value,
  revision: '1',
});

function view(me: string, kvs: KV[], family: 4 | 6 = 4): { v: BirdConfigView; invalid: string[] } {
  const invalid: string[] = [];
  const v = buildBirdConfig(readInput(kvs, me, (k, e) => invalid.push(`${k}: ${e.message}`)), family);
  return { v, invalid };
}
const names = (ps: BirdPeerView[]) => ps.map((p) => p.name);
const POOL = pool('p', '198.19.0.0/16');

describe('node-to-node mesh', () => {
  const kvs = [node('a', '198.18.0.1'), node('b', '198.18.0.2'), node('c', '198.18.0.3'), node('v6only', undefined, { ipv6Address: 'fd00:18::9/64' }), POOL];

  it('peers with every other node that has an address in the family, never itself', () => {
    const { v } = view('b', kvs);
    expect(names(v.meshPeers)).toEqual(['Mesh_198_18_0_1', 'Mesh_198_18_0_3']);
    expect(v.meshPeers.every((p) => p.sourceAddress === '198.18.0.2' && p.nextHopSelf)).toBe(true);
    expect(v.routerId).toBe('198.18.0.2');
  });

  it('makes exactly one side of every pair passive, and both sides agree (the higher address waits)', () => {
    const views = ['a', 'b', 'c'].map((n) => view(n, kvs).v);
    for (const x of views) {
      for (const p of x.meshPeers) {
        const other = views.find((y) => y.nodeIp === p.ip)!;
        const back = other.meshPeers.find((q) => q.ip === x.nodeIp)!;
        expect(p.passive).not.toBe(back.passive);
        expect(p.passive).toBe(x.nodeIp! > p.ip);
      }
    }
  });

  it('compares addresses as numbers, not text (198.18.0.10 > 198.18.0.9)', () => {
    const { v } = view('x', [node('x', '198.18.0.10'), node('y', '198.18.0.9')]);
    expect(v.meshPeers[0]!.passive).toBe(true);
  });

  it('is off when nodeToNodeMeshEnabled is false', () => {
    const { v } = view('a', [...kvs, bgpConfig('default', { nodeToNodeMeshEnabled: false })]);
    expect(v.meshEnabled).toBe(false);
    expect(v.meshPeers).toEqual([]);
  });

  it('uses each node its own AS (eBGP between different AS) and the default otherwise', () => {
    const { v } = view('a', [node('a', '198.18.0.1', { asNumber: 64600 }), node('b', '198.18.0.2'), bgpConfig('default', { asNumber: 64700 })]);
    expect(v.asNumber).toBe('64600');
    expect(v.meshPeers[0]!.asNumber).toBe('64700');
  });

  it('IPv6 mesh uses IPv6 addresses, with the IPv4 router id', () => {
    const six = [node('a', '198.18.0.1', { ipv6Address: 'fd00:18::1/64' }), node('b', '198.18.0.2', { ipv6Address: 'fd00:18::2/64' })];
    const { v } = view('a', six, 6);
    expect(v.routerId).toBe('198.18.0.1');
    expect(v.nodeIp).toBe('fd00:18::1');
    expect(names(v.meshPeers)).toEqual(['Mesh_fd00_18__2']);
  });
});

describe('explicit peers (BGPPeer)', () => {
  const base = [node('a', '198.18.0.1', {}, { rack: 'r1' }), node('b', '198.18.0.2', {}, { rack: 'r2', edge: '' }), bgpConfig('default', { nodeToNodeMeshEnabled: false })];

  it('global peers apply to every node; node peers only to their node or selector', () => {
    const kvs = [
      ...base,
      peer('tor', { peerIP: '198.18.0.254', asNumber: 65001 }),
      peer('only-b', { node: 'b', peerIP: '198.18.0.100', asNumber: 65002 }),
      peer('r1', { nodeSelector: "rack == 'r1'", peerIP: '198.18.0.101', asNumber: 65003 }),
    ];
    const a = view('a', kvs).v;
    expect(names(a.globalPeers)).toEqual(['Global_198_18_0_254']);
    expect(names(a.nodePeers)).toEqual(['Node_198_18_0_101']);
    const b = view('b', kvs).v;
    expect(names(b.nodePeers)).toEqual(['Node_198_18_0_100']);
  });

  it('peerSelector peers with the matching Calico nodes, using their address and AS, never itself', () => {
    const kvs = [...base, node('c', '198.18.0.3', { asNumber: 64999 }, { edge: '' }), peer('to-edges', { peerSelector: 'has(edge)' })];
    const b = view('b', kvs).v;
    expect(b.globalPeers.map((p) => [p.name, p.asNumber])).toEqual([['Global_198_18_0_3', '64999']]);
  });

  it('skips a peer the mesh already covers and keeps only the first session to one neighbour', () => {
    const kvs = [
      node('a', '198.18.0.1'),
      node('b', '198.18.0.2'),
      peer('dup1', { peerIP: '198.18.0.254', asNumber: 65001 }),
      peer('dup2', { peerIP: '198.18.0.254', asNumber: 65009 }),
      peer('dup3', { node: 'a', peerIP: '198.18.0.254', asNumber: 65008 }),
      peer('mesh-too', { peerIP: '198.18.0.2', asNumber: 64512 }),
    ];
    const a = view('a', kvs).v;
    expect(names(a.meshPeers)).toEqual(['Mesh_198_18_0_2']);
    expect(a.globalPeers.map((p) => [p.name, p.asNumber])).toEqual([['Global_198_18_0_254', '65001']]);
    expect(a.nodePeers).toEqual([]);
  });

  it('carries password, source address and next-hop options; an IPv6 peer goes only to bird6', () => {
    const kvs = [
      ...base,
      peer('pw', { peerIP: '198.18.0.254', asNumber: 65001, password: 'pa55', sourceAddress: 'None', keepOriginalNextHop: true }),
      peer('six', { peerIP: 'fd00:18::fe', asNumber: 65001 }),
    ];
    const [p] = view('a', kvs).v.globalPeers;
    expect(p).toMatchObject({ password: 'pa55', sourceAddress: null, nextHopKeep: true, nextHopSelf: false, passive: false });
    expect(view('a', kvs).v.globalPeers).toHaveLength(1);
  });
});

describe('route reflector', () => {
  const f = loadFixture('route-reflector');
  it('reflects to clients (rr client, cluster id) but not to a reflector of its own cluster, and keeps next hops', () => {
    const { v } = view('rr-1', fixtureKvs(f));
    expect(v.rrClusterId).toBe('224.0.0.1');
    expect(v.nodePeers.map((p) => [p.ip, p.rrClient])).toEqual([
      ['198.18.0.11', false],
      ['198.18.0.21', true],
      ['198.18.0.22', true],
    ]);
    expect(v.nodePeers.every((p) => !p.nextHopSelf)).toBe(true);
  });
  it('a client peers with the reflectors as an ordinary iBGP peer', () => {
    const { v } = view('client-1', fixtureKvs(f));
    expect(v.nodePeers.map((p) => [p.ip, p.rrClient])).toEqual([
      ['198.18.0.10', false],
      ['198.18.0.11', false],
    ]);
  });
});

describe('blocks and pools (what is announced)', () => {
  it('announces confirmed blocks of this node that lie in a pool; every pool, disabled ones too, bounds the rest', () => {
    const kvs = [
      node('a', '198.18.0.1'),
      pool('p', '198.19.0.0/16'),
      pool('old', '198.18.128.0/20', { disabled: true }),
      affinity('a', '198.19.1.64/26'),
      affinity('a', '198.19.1.0/26'),
      affinity('a', '198.19.2.0/26', JSON.stringify({ state: 'pending' })),
      affinity('a', '198.18.128.0/26', ''),
      affinity('a', '198.17.0.0/26'), // its pool is gone: no longer routed
      affinity('b', '198.19.3.0/26'), // another node's block
    ];
    const { v } = view('a', kvs);
    expect(v.blocks).toEqual(['198.18.128.0/26', '198.19.1.0/26', '198.19.1.64/26']);
    expect(v.pools).toEqual(['198.18.128.0/20', '198.19.0.0/16']);
  });

  it('removing the pool withdraws its blocks', () => {
    const { v } = view('a', [node('a', '198.18.0.1'), affinity('a', '198.19.1.0/26')]);
    expect(v.blocks).toEqual([]);
    expect(v.pools).toEqual([]);
  });
});

describe('settings', () => {
  it('log level, listen port and per-node overrides', () => {
    const kvs = [node('a', '198.18.0.1'), bgpConfig('default', { logSeverityScreen: 'Info', listenPort: 179 }), bgpConfig('node.b', { logSeverityScreen: 'Debug' })];
    expect(view('a', kvs).v).toMatchObject({ debug: '{ states }', listenPort: null });
    const mine = [...kvs, bgpConfig('node.a', { logSeverityScreen: 'Debug', listenPort: 1179 })];
    expect(view('a', mine).v).toMatchObject({ debug: 'all', listenPort: 1179 });
    expect(view('a', [node('a', '198.18.0.1'), bgpConfig('default', { logSeverityScreen: 'Warning' })]).v.debug).toBe('off');
  });

  it('CALICO_ROUTER_ID overrides the router id: an address, or "hash"', () => {
    const kvs = [node('a', '198.18.0.1')];
    expect(buildBirdConfig(readInput(kvs, 'a', () => {}), 6, { routerId: '198.18.9.9' }).routerId).toBe('198.18.9.9');
    expect(buildBirdConfig(readInput(kvs, 'a', () => {}), 4, { routerId: 'hash' }).routerId).toBe(hashToIPv4('a'));
  });

  it('without a Node resource: no BGP, router id hashed from the name (as Calico)', () => {
    const { v } = view('ghost', [POOL]);
    expect(v.nodeIp).toBeNull();
    expect(v.routerId).toBe(hashToIPv4('ghost'));
    expect(v.routerId).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(Number(v.routerId.split('.')[0])).toBeLessThan(223);
  });
});

describe('malformed records', () => {
  it('are reported by key and skipped; everything else still renders', () => {
    const kvs: KV[] = [
      node('a', '198.18.0.1'),
      node('b', '198.18.0.2'),
      { key: resourceKey(kindInfo('Node')!, 'broken'), value: '{not json', revision: '7' },
      { ...node('badip', '198.18.0.3'), value: node('badip', '198.18.0.3').value.replace('198.18.0.3/24', '300.1.1.1/24') },
      peer('secret', { peerIP: '198.18.0.254', asNumber: 65001, password: { secretKeyRef: { name: 's', key: 'k' } } }),
      peer('good', { peerIP: '198.18.0.253', asNumber: 65001 }),
    ];
    const { v, invalid } = view('a', kvs);
    expect(invalid).toHaveLength(3);
    expect(invalid.join('\n')).toMatch(/nodes\/broken.*not JSON/);
    expect(invalid.join('\n')).toMatch(/nodes\/badip/);
    expect(invalid.join('\n')).toMatch(/bgppeers\/secret.*password/);
    expect(names(v.meshPeers)).toEqual(['Mesh_198_18_0_2']);
    expect(names(v.globalPeers)).toEqual(['Global_198_18_0_253']);
  });
});
