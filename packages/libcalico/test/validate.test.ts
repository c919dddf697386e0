import { isIPv6, SocketAddress } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import {
  FELIX_PARAMETERS,
  MemoryDatastore,
  ResourceClient,
  ValidationError,
  canonicalIp,
  hostCidr,
  checkDns1123Label,
  checkLabelKey,
  checkLabelValue,
  escapeDashes,
  formatIp,
  ipFamily,
  parseAsNumber,
  parseDuration,
  parseIp,
  parsePort,
  parseProtocol,
  poolNameFromCidr,
  portRange,
  validateAgainst,
  validateResource,
  validateRule,
  validateSelector,
  workloadEndpointName,
  type Resource,
} from '@calico/libcalico';

const API = 'projectcalico.org/v3';
const res = (kind: string, spec: unknown, name = 'test', extra: Record<string, unknown> = {}) => ({
  apiVersion: API,
  kind,
  metadata: { name, ...extra },
  spec,
});

/** Validate, and check the output is a fixed point (JSON and YAML round trip give the same resource). */
function good(kind: string, spec: unknown, name = 'test', extra: Record<string, unknown> = {}): Resource {
  const out = validateResource(res(kind, spec, name, extra));
  const again = validateResource(JSON.parse(JSON.stringify(out)));
  expect(JSON.stringify(again)).toBe(JSON.stringify(out));
  const viaYaml = validateResource(parseYaml(toYaml(out)));
  expect(JSON.stringify(viaYaml)).toBe(JSON.stringify(out));
  return out;
}

function errorOf(fn: () => unknown): ValidationError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return e as ValidationError;
  }
  throw new Error('expected a ValidationError, nothing was thrown');
}

/** Expect a ValidationError on exactly `field` whose reason contains `reason`. */
function bad(kind: string, spec: unknown, field: string, reason: string | RegExp, name = 'test', extra: Record<string, unknown> = {}): void {
  const e = errorOf(() => validateResource(res(kind, spec, name, extra)));
  expect(e.field).toBe(field);
  if (typeof reason === 'string') expect(e.reason).toContain(reason);
  else expect(e.reason).toMatch(reason);
  expect(e.message).toContain(field);
}

const rule = (r: Record<string, unknown>) => ({ ingress: [{ action: 'Allow', ...r }] });

describe('envelope', () => {
  it('rejects a non-object, bad apiVersion, unknown kind, unknown top-level field', () => {
    expect(errorOf(() => validateResource('x')).reason).toContain('must be an object');
    expect(errorOf(() => validateResource({ ...res('IPPool', {}), apiVersion: 'v1' })).field).toBe('apiVersion');
    expect(errorOf(() => validateResource({ ...res('IPPool', {}), apiVersion: undefined })).reason).toContain('is required');
    const k = errorOf(() => validateResource(res('Pool', {})));
    expect(k.field).toBe('kind');
    expect(k.reason).toContain('unknown kind "Pool"');
    expect(errorOf(() => validateResource({ ...res('Profile', {}), status: {} })).field).toBe('status');
  });

  it('checks metadata: name required and DNS-1123, namespace a DNS label, labels per Kubernetes', () => {
    expect(errorOf(() => validateResource({ apiVersion: API, kind: 'Profile', spec: {} })).field).toBe('metadata');
    bad('Profile', {}, 'metadata.name', 'is required', '');
    bad('Profile', {}, 'metadata.name', 'not a valid name', 'Web_Servers');
    bad('Profile', {}, 'metadata.name', 'not a valid name', '-web');
    bad('Profile', {}, 'metadata.name', 'longer than 253', 'a'.repeat(254));
    bad('NetworkPolicy', {}, 'metadata.namespace', 'DNS-1123 label', 'p', { namespace: 'a.b' });
    bad('Profile', {}, 'metadata.labels.-x', 'label key "-x" is invalid', 'p', { labels: { '-x': 'y' } });
    bad('Profile', {}, 'metadata.labels.app', 'label value "a b" is invalid', 'p', { labels: { app: 'a b' } });
    bad('Profile', {}, 'metadata.labels.app', 'must be a string', 'p', { labels: { app: 3 } });
    bad('Profile', {}, 'metadata.nmae', 'unknown field', 'p', { nmae: 'x' });
    const ok = good('Profile', {}, 'web.example', { labels: { 'example.com/role': 'db', tier: '' }, resourceVersion: '12' });
    expect(ok.metadata).toEqual({ name: 'web.example', labels: { 'example.com/role': 'db', tier: '' }, resourceVersion: '12' });
  });

  it('a missing spec is an empty spec', () => {
    expect(validateResource({ apiVersion: API, kind: 'Profile', metadata: { name: 'p' } }).spec).toEqual({});
  });
});

describe('IPPool', () => {
  it('applies Calico defaults (v4 and v6)', () => {
    expect(good('IPPool', { cidr: '198.18.0.0/16' }).spec).toEqual({
      cidr: '198.18.0.0/16',
      blockSize: 26,
      ipipMode: 'Never',
      vxlanMode: 'Never',
      natOutgoing: false,
      disabled: false,
      nodeSelector: 'all()',
    });
    const v6 = good('IPPool', { cidr: 'fd00:0:0::/64', natOutgoing: true }).spec;
    expect(v6).toMatchObject({ cidr: 'fd00::/64', blockSize: 122, natOutgoing: true });
  });

  it('keeps explicit settings and normalises mode casing', () => {
    const s = good('IPPool', { cidr: '198.18.0.0/24', blockSize: 28, ipipMode: 'crosssubnet', nodeSelector: "rack == 'a'", disabled: true }).spec;
    expect(s).toMatchObject({ blockSize: 28, ipipMode: 'CrossSubnet', nodeSelector: "rack == 'a'", disabled: true });
  });

  it('rejects bad CIDRs, host bits, block sizes, prefix longer than the block', () => {
    bad('IPPool', {}, 'spec.cidr', 'is required');
    bad('IPPool', { cidr: '198.18.0.0' }, 'spec.cidr', '"198.18.0.0" is not a valid CIDR');
    bad('IPPool', { cidr: '198.18.300.0/24' }, 'spec.cidr', 'not a valid IP address');
    bad('IPPool', { cidr: '198.18.0.1/16' }, 'spec.cidr', 'host bits set');
    bad('IPPool', { cidr: 'fd00::1/64' }, 'spec.cidr', 'host bits set');
    bad('IPPool', { cidr: '198.18.0.0/33' }, 'spec.cidr', 'too long');
    bad('IPPool', { cidr: '198.18.0.0/27' }, 'spec.cidr', 'prefix /27 is longer than the block size /26');
    bad('IPPool', { cidr: 'fd00::/123' }, 'spec.cidr', 'longer than the block size /122');
    bad('IPPool', { cidr: '198.18.0.0/16', blockSize: 19 }, 'spec.blockSize', 'out of range 20..32');
    bad('IPPool', { cidr: '198.18.0.0/16', blockSize: 33 }, 'spec.blockSize', 'out of range 20..32');
    bad('IPPool', { cidr: 'fd00::/64', blockSize: 115 }, 'spec.blockSize', 'out of range 116..128');
    bad('IPPool', { cidr: '198.18.0.0/16', blockSize: 'big' }, 'spec.blockSize', 'not an integer');
  });

  it('rejects reserved ranges, bad modes, IPIP+VXLAN, IPIP on v6, bad types and unknown fields', () => {
    bad('IPPool', { cidr: '169.254.0.0/16' }, 'spec.cidr', 'reserved range 169.254.0.0/16');
    bad('IPPool', { cidr: '127.0.0.0/16' }, 'spec.cidr', 'reserved range');
    bad('IPPool', { cidr: 'fe80::/64' }, 'spec.cidr', 'reserved range');
    bad('IPPool', { cidr: '198.18.0.0/16', ipipMode: 'Sometimes' }, 'spec.ipipMode', 'not one of Always, CrossSubnet, Never');
    bad('IPPool', { cidr: '198.18.0.0/16', ipipMode: 'Always', vxlanMode: 'Always' }, 'spec.vxlanMode', 'cannot both');
    bad('IPPool', { cidr: 'fd00::/64', ipipMode: 'Always' }, 'spec.ipipMode', 'IPv6');
    bad('IPPool', { cidr: '198.18.0.0/16', natOutgoing: 'yes' }, 'spec.natOutgoing', 'must be a boolean');
    bad('IPPool', { cidr: '198.18.0.0/16', nodeSelector: 'a ==' }, 'spec.nodeSelector', 'at position 4');
    bad('IPPool', { cidr: '198.18.0.0/16', masquerade: true }, 'spec.masquerade', 'unknown field');
  });

  it('validateAgainst rejects a pool overlapping another, not itself', () => {
    const a = validateResource(res('IPPool', { cidr: '198.18.0.0/16' }, 'a'));
    const b = validateResource(res('IPPool', { cidr: '198.18.4.0/24' }, 'b'));
    const c = validateResource(res('IPPool', { cidr: '198.19.0.0/16' }, 'c'));
    const e = errorOf(() => validateAgainst(b, [a, c]));
    expect(e.field).toBe('spec.cidr');
    expect(e.reason).toContain('overlaps IPPool a (198.18.0.0/16)');
    expect(() => validateAgainst(c, [a, b])).not.toThrow();
    expect(() => validateAgainst(a, [a])).not.toThrow();
  });

  it('the ResourceClient refuses an overlapping pool and writes nothing', async () => {
    const client = new ResourceClient(new MemoryDatastore());
    await client.create(res('IPPool', { cidr: '198.18.0.0/16' }, 'pool-a'));
    await expect(client.create(res('IPPool', { cidr: '198.18.128.0/20' }, 'pool-b'))).rejects.toThrow(/spec\.cidr: .*overlaps IPPool pool-a/);
    await expect(client.apply(res('IPPool', { cidr: '198.16.0.0/14' }, 'pool-c'))).rejects.toThrow(ValidationError);
    await client.create(res('IPPool', { cidr: '198.19.0.0/16' }, 'pool-d'));
    // changing a pool's own settings is not an overlap with itself
    await client.apply(res('IPPool', { cidr: '198.18.0.0/16', natOutgoing: true }, 'pool-a'));
    expect((await client.list('IPPool')).map((p) => p.metadata.name)).toEqual(['pool-a', 'pool-d']);
  });
});

describe('rules (Profile, policies)', () => {
  it('normalises actions, protocols and ports', () => {
    const s = good('Profile', {
      ingress: [
        { action: 'allow', protocol: 'tcp', source: { nets: ['198.18.0.0/24', '198.18.1.5'] }, destination: { ports: [80, '443', '1000:2000', '22:22'] } },
        { action: 'Deny', protocol: 'udplite' },
        { action: 'log', protocol: 132, destination: { notPorts: ['5000:6000'] } },
        { action: 'Pass', protocol: '17', destination: { ports: [53] } },
        { action: 'Allow', protocol: 'icmpv6', icmp: { type: 128, code: 0 } },
      ],
      egress: [{ action: 'Allow' }],
      labelsToApply: { web: '' },
    }).spec as { ingress: unknown[] };
    expect(s.ingress).toEqual([
      { action: 'Allow', protocol: 'TCP', source: { nets: ['198.18.0.0/24', '198.18.1.5/32'] }, destination: { ports: [80, 443, '1000:2000', 22] } },
      { action: 'Deny', protocol: 'UDPLite' },
      { action: 'Log', protocol: 132, destination: { notPorts: ['5000:6000'] } },
      { action: 'Pass', protocol: 17, destination: { ports: [53] } },
      { action: 'Allow', protocol: 'ICMPv6', icmp: { type: 128, code: 0 } },
    ]);
  });

  it('rejects a missing or unknown action', () => {
    bad('Profile', { ingress: [{}] }, 'spec.ingress[0].action', 'is required');
    bad('Profile', rule({ action: 'Accept' }), 'spec.ingress[0].action', 'not one of Allow, Deny, Log, Pass');
  });

  it('rejects bad protocols', () => {
    bad('Profile', rule({ protocol: 'gre' }), 'spec.ingress[0].protocol', 'not a protocol');
    bad('Profile', rule({ protocol: 0 }), 'spec.ingress[0].protocol', 'not a protocol');
    bad('Profile', rule({ protocol: 256 }), 'spec.ingress[0].protocol', 'not a protocol');
    bad('Profile', rule({ notProtocol: 'xyz' }), 'spec.ingress[0].notProtocol', 'not a protocol');
  });

  it('rejects bad ports and ranges with the exact index', () => {
    const tcp = (dst: unknown) => rule({ protocol: 'TCP', destination: dst });
    bad('Profile', tcp({ ports: [80, 65536] }), 'spec.ingress[0].destination.ports[1]', 'out of range 0..65535');
    bad('Profile', tcp({ ports: [80, '2000:1000'] }), 'spec.ingress[0].destination.ports[1]', 'start above its end');
    bad('Profile', tcp({ ports: ['1:70000'] }), 'spec.ingress[0].destination.ports[0]', 'out of range');
    bad('Profile', tcp({ ports: ['http'] }), 'spec.ingress[0].destination.ports[0]', 'not a port');
    bad('Profile', tcp({ ports: [-1] }), 'spec.ingress[0].destination.ports[0]', 'out of range');
    bad('Profile', tcp({ ports: [1.5] }), 'spec.ingress[0].destination.ports[0]', 'not a port');
    bad('Profile', tcp({ notPorts: ['a:b'] }), 'spec.ingress[0].destination.notPorts[0]', 'not a port');
  });

  it('allows ports only with TCP, UDP or SCTP', () => {
    bad('Profile', rule({ destination: { ports: [80] } }), 'spec.ingress[0].destination.ports', 'only allowed with protocol TCP, UDP or SCTP');
    bad('Profile', rule({ protocol: 'ICMP', source: { ports: [80] } }), 'spec.ingress[0].source.ports', 'only allowed');
    bad('Profile', rule({ protocol: 47, source: { notPorts: [80] } }), 'spec.ingress[0].source.notPorts', 'only allowed');
    expect(good('Profile', rule({ protocol: 'sctp', destination: { ports: [9] } }))).toBeTruthy();
    expect(good('Profile', rule({ protocol: 6, destination: { ports: [9] } }))).toBeTruthy();
  });

  it('checks ICMP type and code', () => {
    bad('Profile', rule({ protocol: 'ICMP', icmp: { type: 255 } }), 'spec.ingress[0].icmp.type', 'out of range 0..254');
    bad('Profile', rule({ protocol: 'ICMP', icmp: { type: 8, code: 256 } }), 'spec.ingress[0].icmp.code', 'out of range 0..255');
    bad('Profile', rule({ protocol: 'ICMP', icmp: { code: 0 } }), 'spec.ingress[0].icmp.code', 'requires an ICMP type');
    bad('Profile', rule({ protocol: 'TCP', icmp: { type: 8 } }), 'spec.ingress[0].icmp', 'requires protocol ICMP or ICMPv6');
    bad('Profile', rule({ notICMP: { type: 8 } }), 'spec.ingress[0].notICMP', 'requires protocol ICMP');
    bad('Profile', rule({ protocol: 'ICMP', icmp: { type: 8, foo: 1 } }), 'spec.ingress[0].icmp.foo', 'unknown field');
    expect(good('Profile', rule({ protocol: 'ICMP', icmp: { type: 8 }, notICMP: { type: 0, code: 0 } }))).toBeTruthy();
  });

  it('checks ipVersion against nets and the ICMP family', () => {
    bad('Profile', rule({ ipVersion: 5 }), 'spec.ingress[0].ipVersion', 'not an IP version');
    bad('Profile', rule({ ipVersion: 4, source: { nets: ['198.18.0.0/24', 'fd00::/64'] } }), 'spec.ingress[0].source.nets[1]', 'not IPv4');
    bad('Profile', rule({ ipVersion: 6, destination: { notNets: ['198.18.0.0/24'] } }), 'spec.ingress[0].destination.notNets[0]', 'not IPv6');
    bad('Profile', rule({ ipVersion: 6, protocol: 'ICMP' }), 'spec.ingress[0].ipVersion', 'does not match protocol ICMP');
    bad('Profile', rule({ protocol: 'ICMPv6', source: { nets: ['198.18.0.0/24'] } }), 'spec.ingress[0].source.nets[0]', 'not IPv6');
    bad('Profile', rule({ source: { nets: ['198.18.0.0/24'] }, destination: { nets: ['fd00::/64'] } }), 'spec.ingress[0].destination.nets', 'can never match');
    bad('Profile', rule({ source: { nets: ['198.18.0.1/24'] } }), 'spec.ingress[0].source.nets[0]', 'host bits set');
    const s = good('Profile', rule({ ipVersion: 6, source: { nets: ['fd00::1'] } })).spec as { ingress: { source: unknown }[] };
    expect(s.ingress[0]!.source).toEqual({ nets: ['fd00::1/128'] });
  });

  it('checks selectors in rules and unknown rule fields', () => {
    bad('Profile', rule({ source: { selector: 'role = "db"' } }), 'spec.ingress[0].source.selector', 'position 5');
    bad('Profile', rule({ destination: { notSelector: 'has(' } }), 'spec.ingress[0].destination.notSelector', 'position 4');
    bad('Profile', rule({ source: { namespaceSelector: '!' } }), 'spec.ingress[0].source.namespaceSelector', 'position 1');
    bad('Profile', rule({ source: { serviceAccounts: { selector: '&&' } } }), 'spec.ingress[0].source.serviceAccounts.selector', 'position 0');
    bad('Profile', rule({ source: { tag: 'web' } }), 'spec.ingress[0].source.tag', 'unknown field');
    bad('Profile', rule({ dst_ports: [80] }), 'spec.ingress[0].dst_ports', 'unknown field');
    bad('Profile', { egress: {} }, 'spec.egress', 'must be an array');
  });

  it('validates labelsToApply', () => {
    bad('Profile', { labelsToApply: { 'a b': '' } }, 'spec.labelsToApply.a b', 'label key');
    bad('Profile', { labelsToApply: { ok: 'x'.repeat(64) } }, 'spec.labelsToApply.ok', 'label value');
  });

  it('validateRule and validateSelector name the given field', () => {
    expect(validateRule({ action: 'deny', protocol: 'udp', destination: { ports: ['53'] } })).toEqual({
      action: 'Deny',
      protocol: 'UDP',
      destination: { ports: [53] },
    });
    expect(errorOf(() => validateRule({ action: 'x' }, 'args')).field).toBe('args.action');
    expect(validateSelector("has(web) && a == 'b'")).toBe("has(web) && a == 'b'");
    const e = errorOf(() => validateSelector('a in {', '--selector'));
    expect(e.field).toBe('--selector');
    expect(e.reason).toContain('position 6');
  });
});

describe('GlobalNetworkPolicy and NetworkPolicy', () => {
  it('defaults types as Calico does', () => {
    const types = (spec: object) => (good('GlobalNetworkPolicy', spec).spec as { types: string[] }).types;
    expect(types({})).toEqual(['Ingress']);
    expect(types({ ingress: [{ action: 'Allow' }] })).toEqual(['Ingress']);
    expect(types({ egress: [{ action: 'Allow' }] })).toEqual(['Egress']);
    expect(types({ ingress: [{ action: 'Deny' }], egress: [{ action: 'Allow' }] })).toEqual(['Ingress', 'Egress']);
    expect(types({ types: ['egress'] })).toEqual(['Egress']);
    const np = good('NetworkPolicy', { order: 10, selector: "app == 'web'", egress: [{ action: 'Allow' }] }, 'np', { namespace: 'prod' });
    expect(np.spec).toEqual({ order: 10, selector: "app == 'web'", types: ['Egress'], egress: [{ action: 'Allow' }] });
    expect(np.metadata.namespace).toBe('prod');
  });

  it('checks order, types, selectors and the GNP-only flags', () => {
    bad('GlobalNetworkPolicy', { order: 'first' }, 'spec.order', 'not a number');
    expect((good('GlobalNetworkPolicy', { order: 1.5 }).spec as { order: number }).order).toBe(1.5);
    bad('GlobalNetworkPolicy', { types: ['Sideways'] }, 'spec.types[0]', 'not one of Ingress, Egress');
    bad('GlobalNetworkPolicy', { types: ['Ingress', 'Ingress'] }, 'spec.types', 'twice');
    bad('GlobalNetworkPolicy', { types: ['Ingress'], egress: [{ action: 'Allow' }] }, 'spec.egress', 'does not include Egress');
    bad('GlobalNetworkPolicy', { types: ['Egress'], ingress: [{ action: 'Allow' }] }, 'spec.ingress', 'does not include Ingress');
    bad('GlobalNetworkPolicy', { selector: 'a == "b" ||' }, 'spec.selector', 'position 11');
    bad('GlobalNetworkPolicy', { namespaceSelector: 'x in {"a"' }, 'spec.namespaceSelector', 'position 9');
    bad('GlobalNetworkPolicy', { preDNAT: true, doNotTrack: true, applyOnForward: true }, 'spec.preDNAT', 'cannot both');
    bad('GlobalNetworkPolicy', { doNotTrack: true }, 'spec.applyOnForward', 'must be true when doNotTrack');
    bad('GlobalNetworkPolicy', { preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }, 'spec.egress', 'preDNAT');
    bad('NetworkPolicy', { doNotTrack: true }, 'spec.doNotTrack', 'unknown field');
    bad('GlobalNetworkPolicy', { ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [1, 2, '9:8'] } }] }, 'spec.ingress[0].destination.ports[2]', 'start above its end');
    bad('GlobalNetworkPolicy', { egress: [{ action: 'Allow' }, { action: 'Allow', protocol: 'UDP', destination: { ports: [99999] } }] }, 'spec.egress[1].destination.ports[0]', 'out of range');
  });
});

describe('Node', () => {
  it('accepts the BGP fields, normalising AS numbers and bare addresses', () => {
    const s = good('Node', {
      bgp: { ipv4Address: '198.18.0.10/24', ipv6Address: 'fd00::a', asNumber: '65000.10', routeReflectorClusterID: '224.0.0.1' },
      orchRefs: [{ orchestrator: 'k8s', nodeName: 'n1' }],
    }, 'host-1').spec;
    expect(s).toEqual({
      bgp: { ipv4Address: '198.18.0.10/24', ipv6Address: 'fd00::a/128', asNumber: 65000 * 65536 + 10, routeReflectorClusterID: '224.0.0.1' },
      orchRefs: [{ orchestrator: 'k8s', nodeName: 'n1' }],
    });
    expect(good('Node', {}, 'bare').spec).toEqual({});
  });

  it('rejects bad addresses, AS numbers, cluster ids and names', () => {
    bad('Node', { bgp: { ipv4Address: 'fd00::1/64' } }, 'spec.bgp.ipv4Address', 'not an IPv4 address');
    bad('Node', { bgp: { ipv4Address: '198.18.0.300/24' } }, 'spec.bgp.ipv4Address', 'not a valid IP address');
    bad('Node', { bgp: { ipv6Address: '198.18.0.1' } }, 'spec.bgp.ipv6Address', 'not an IPv6 address');
    bad('Node', { bgp: { asNumber: 64512 } }, 'spec.bgp', 'needs ipv4Address or ipv6Address');
    bad('Node', { bgp: { ipv4Address: '198.18.0.1/24', asNumber: 0 } }, 'spec.bgp.asNumber', 'out of range 1..4294967295');
    bad('Node', { bgp: { ipv4Address: '198.18.0.1/24', asNumber: 4294967296 } }, 'spec.bgp.asNumber', 'out of range');
    bad('Node', { bgp: { ipv4Address: '198.18.0.1/24', asNumber: '1.65536' } }, 'spec.bgp.asNumber', '0..65535');
    bad('Node', { bgp: { ipv4Address: '198.18.0.1/24', asNumber: 'AS64512' } }, 'spec.bgp.asNumber', 'not an AS number');
    bad('Node', { bgp: { ipv4Address: '198.18.0.1/24', routeReflectorClusterID: 'fd00::1' } }, 'spec.bgp.routeReflectorClusterID', 'not an IPv4');
    bad('Node', { orchRefs: [{ nodeName: 'x' }] }, 'spec.orchRefs[0].orchestrator', 'is required');
    bad('Node', { orchRefs: [{ orchestrator: '' }] }, 'spec.orchRefs[0].orchestrator', 'non-empty');
    bad('Node', {}, 'metadata.name', 'not a valid name', 'Host_1');
  });
});

describe('BGPPeer', () => {
  it('accepts global and per-node peers, selectors and both password forms', () => {
    expect(good('BGPPeer', { peerIP: '198.18.0.1', asNumber: 64513 }).spec).toEqual({ peerIP: '198.18.0.1', asNumber: 64513 });
    expect(good('BGPPeer', { node: 'host-1', peerIP: 'fd00::1', asNumber: '64513', password: 's3cret' }).spec).toEqual({
      node: 'host-1',
      peerIP: 'fd00::1',
      asNumber: 64513,
      password: 's3cret',
    });
    expect(good('BGPPeer', { nodeSelector: 'all()', peerSelector: "has(rr)", password: { secretKeyRef: { name: 'bgp', key: 'pw' } } }).spec).toMatchObject({
      password: { secretKeyRef: { name: 'bgp', key: 'pw' } },
    });
  });

  it('rejects bad peers', () => {
    bad('BGPPeer', { peerIP: '198.18.0.999', asNumber: 1 }, 'spec.peerIP', 'not a valid IP address');
    bad('BGPPeer', { peerIP: '198.18.0.0/24', asNumber: 1 }, 'spec.peerIP', 'not a valid IP address');
    bad('BGPPeer', { asNumber: 1 }, 'spec.peerIP', 'is required');
    bad('BGPPeer', { peerIP: '198.18.0.1' }, 'spec.asNumber', 'is required with peerIP');
    bad('BGPPeer', { peerIP: '198.18.0.1', peerSelector: 'all()', asNumber: 1 }, 'spec.peerSelector', 'together with peerIP');
    bad('BGPPeer', { peerSelector: 'all()', asNumber: 1 }, 'spec.asNumber', 'must be empty');
    bad('BGPPeer', { node: 'a', nodeSelector: 'all()', peerIP: '198.18.0.1', asNumber: 1 }, 'spec.nodeSelector', 'together with node');
    bad('BGPPeer', { node: 'A!', peerIP: '198.18.0.1', asNumber: 1 }, 'spec.node', 'not a valid name');
    bad('BGPPeer', { peerSelector: 'has(a', nodeSelector: 'all()' }, 'spec.peerSelector', 'position 5');
    bad('BGPPeer', { peerIP: '198.18.0.1', asNumber: 1, password: '' }, 'spec.password', 'must not be empty');
    bad('BGPPeer', { peerIP: '198.18.0.1', asNumber: 1, password: { secretKeyRef: { name: 'x' } } }, 'spec.password.secretKeyRef.key', 'is required');
    bad('BGPPeer', { peerIP: '198.18.0.1', asNumber: 1, password: { plain: 'x' } }, 'spec.password', 'plain-text password or {secretKeyRef');
  });
});

describe('BGPConfiguration', () => {
  it('accepts the Calico fields', () => {
    const s = good('BGPConfiguration', {
      asNumber: '64512',
      nodeToNodeMeshEnabled: false,
      logSeverityScreen: 'debug',
      listenPort: 1179,
      serviceClusterIPs: [{ cidr: '198.19.0.0/24' }],
    }, 'default').spec;
    expect(s).toEqual({
      asNumber: 64512,
      nodeToNodeMeshEnabled: false,
      logSeverityScreen: 'Debug',
      listenPort: 1179,
      serviceClusterIPs: [{ cidr: '198.19.0.0/24' }],
    });
    expect(good('BGPConfiguration', {}, 'node.host-1').spec).toEqual({});
  });

  it('rejects bad values', () => {
    bad('BGPConfiguration', { listenPort: 0 }, 'spec.listenPort', 'out of range 1..65535');
    bad('BGPConfiguration', { listenPort: 65536 }, 'spec.listenPort', 'out of range');
    bad('BGPConfiguration', { nodeToNodeMeshEnabled: 'on' }, 'spec.nodeToNodeMeshEnabled', 'must be a boolean');
    bad('BGPConfiguration', { logSeverityScreen: 'loud' }, 'spec.logSeverityScreen', 'not one of Debug, Info');
    bad('BGPConfiguration', { asNumber: -5 }, 'spec.asNumber', 'out of range');
    bad('BGPConfiguration', { serviceClusterIPs: [{ cidr: '198.19.0.1/24' }] }, 'spec.serviceClusterIPs[0].cidr', 'host bits');
    bad('BGPConfiguration', { serviceClusterIPs: [{ cidr: '198.19.0.1' }] }, 'spec.serviceClusterIPs[0].cidr', 'not a valid CIDR');
    bad('BGPConfiguration', { nodeToNodeMesh: true }, 'spec.nodeToNodeMesh', 'unknown field');
  });
});

describe('FelixConfiguration', () => {
  it('accepts the Felix parameters and normalises enum casing, durations and the mark mask', () => {
    const s = good('FelixConfiguration', {
      logSeverityScreen: 'warning',
      iptablesBackend: 'nft',
      iptablesRefreshInterval: '90s',
      routeRefreshInterval: 30,
      ipsetsRefreshInterval: '1m30s',
      defaultEndpointToHostAction: 'RETURN',
      interfacePrefix: 'cali',
      iptablesMarkMask: '0xffff0000',
      ignoreLooseRPF: true,
      healthEnabled: true,
      healthPort: 9099,
      prometheusMetricsEnabled: false,
      prometheusMetricsPort: 9091,
      reportingInterval: '0s',
      chainInsertMode: 'append',
      ipv6Support: false,
      natOutgoingAddress: '198.18.0.1',
      logPrefix: 'calico-packet',
      failsafeInboundHostPorts: [{ protocol: 'tcp', port: 22 }],
    }, 'default').spec;
    expect(s).toEqual({
      logSeverityScreen: 'Warning',
      iptablesBackend: 'NFT',
      iptablesRefreshInterval: '90s',
      routeRefreshInterval: '30s',
      ipsetsRefreshInterval: '1m30s',
      defaultEndpointToHostAction: 'Return',
      interfacePrefix: 'cali',
      iptablesMarkMask: 0xffff0000,
      ignoreLooseRPF: true,
      healthEnabled: true,
      healthPort: 9099,
      prometheusMetricsEnabled: false,
      prometheusMetricsPort: 9091,
      reportingInterval: '0s',
      chainInsertMode: 'Append',
      ipv6Support: false,
      natOutgoingAddress: '198.18.0.1',
      logPrefix: 'calico-packet',
      failsafeInboundHostPorts: [{ protocol: 'TCP', port: 22 }],
    });
    expect(good('FelixConfiguration', {}, 'node.host-1').spec).toEqual({});
    expect(FELIX_PARAMETERS).toContain('iptablesBackend');
  });

  it('rejects unknown parameters with a suggestion, and bad values', () => {
    bad('FelixConfiguration', { IptablesBackend: 'NFT' }, 'spec.IptablesBackend', 'unknown Felix parameter (did you mean iptablesBackend?)');
    bad('FelixConfiguration', { reportingIntervalSecs: 30 }, 'spec.reportingIntervalSecs', 'did you mean reportingInterval?');
    bad('FelixConfiguration', { noSuchThing: 1 }, 'spec.noSuchThing', 'unknown Felix parameter');
    bad('FelixConfiguration', { iptablesBackend: 'iptables' }, 'spec.iptablesBackend', 'not one of Auto, NFT, Legacy');
    bad('FelixConfiguration', { iptablesRefreshInterval: '90 seconds' }, 'spec.iptablesRefreshInterval', 'not a duration');
    bad('FelixConfiguration', { routeRefreshInterval: -1 }, 'spec.routeRefreshInterval', 'not a duration');
    bad('FelixConfiguration', { defaultEndpointToHostAction: 'Reject' }, 'spec.defaultEndpointToHostAction', 'Drop, Return, Accept');
    bad('FelixConfiguration', { iptablesMarkMask: '0x1' }, 'spec.iptablesMarkMask', 'at least 4');
    bad('FelixConfiguration', { iptablesMarkMask: 'lots' }, 'spec.iptablesMarkMask', '32-bit mask');
    bad('FelixConfiguration', { healthPort: 70000 }, 'spec.healthPort', 'out of range');
    bad('FelixConfiguration', { prometheusMetricsPort: 0 }, 'spec.prometheusMetricsPort', 'out of range');
    bad('FelixConfiguration', { chainInsertMode: 'top' }, 'spec.chainInsertMode', 'Insert, Append');
    bad('FelixConfiguration', { ignoreLooseRPF: 'true' }, 'spec.ignoreLooseRPF', 'must be a boolean');
    bad('FelixConfiguration', { natOutgoingAddress: 'fd00::1' }, 'spec.natOutgoingAddress', 'not an IPv4');
    bad('FelixConfiguration', { logPrefix: 'x'.repeat(30) }, 'spec.logPrefix', '29');
    bad('FelixConfiguration', { interfacePrefix: 'cali tap' }, 'spec.interfacePrefix', 'not an interface prefix');
    bad('FelixConfiguration', { failsafeInboundHostPorts: [{ protocol: 'icmp', port: 1 }] }, 'spec.failsafeInboundHostPorts[0].protocol', 'TCP, UDP, SCTP');
  });
});

describe('WorkloadEndpoint', () => {
  const spec = {
    orchestrator: 'cni',
    workload: 'abc-123',
    node: 'host-1',
    endpoint: 'eth0',
    containerID: 'abc123',
    ipNetworks: ['198.18.1.2', 'fd00::2/128'],
    profiles: ['web'],
    interfaceName: 'cali1234567890a',
    mac: 'EE-EE-EE-EE-EE-EE',
    ipNATs: [{ internalIP: '198.18.1.2', externalIP: '198.19.0.9' }],
  };
  const wepName = workloadEndpointName({ node: 'host-1', orchestrator: 'cni', workload: 'abc-123', endpoint: 'eth0' });

  it('builds names with escaped dashes and accepts a full endpoint', () => {
    expect(wepName).toBe('host--1-cni-abc--123-eth0');
    expect(workloadEndpointName({ node: 'n', orchestrator: 'k8s', pod: 'web-0', endpoint: 'eth0' })).toBe('n-k8s-web--0-eth0');
    const r = good('WorkloadEndpoint', spec, wepName, { namespace: 'default', labels: { app: 'web' } });
    expect(r.spec).toMatchObject({ ipNetworks: ['198.18.1.2/32', 'fd00::2/128'], mac: 'ee:ee:ee:ee:ee:ee' });
  });

  it('checks a k8s endpoint name against its pod', () => {
    const k8s = { orchestrator: 'k8s', pod: 'web-0', node: 'host-1', endpoint: 'eth0' };
    expect(good('WorkloadEndpoint', k8s, 'host--1-k8s-web--0-eth0', { namespace: 'prod' })).toBeTruthy();
    bad('WorkloadEndpoint', k8s, 'metadata.name', 'expected "host--1-k8s-web--0-eth0"', 'host-1-k8s-web-0-eth0');
  });

  it('rejects bad endpoint fields', () => {
    const with_ = (x: object) => ({ ...spec, ...x });
    bad('WorkloadEndpoint', spec, 'metadata.name', 'does not match', 'some-other-name');
    bad('WorkloadEndpoint', with_({ interfaceName: 'cali1234567890ab' }), 'spec.interfaceName', 'longer than 15');
    bad('WorkloadEndpoint', with_({ interfaceName: 'cali/1' }), 'spec.interfaceName', 'not a valid interface name');
    bad('WorkloadEndpoint', with_({ ipNetworks: ['198.18.1.0/24'] }), 'spec.ipNetworks[0]', 'single address');
    bad('WorkloadEndpoint', with_({ ipNetworks: ['198.18.1.2', 'nope'] }), 'spec.ipNetworks[1]', 'not a valid IP address');
    bad('WorkloadEndpoint', with_({ mac: 'ee:ee:ee' }), 'spec.mac', 'not a MAC address');
    bad('WorkloadEndpoint', with_({ profiles: ['Bad Profile'] }), 'spec.profiles[0]', 'not a valid name');
    bad('WorkloadEndpoint', with_({ node: 'Host_1' }), 'spec.node', 'not a valid name');
    bad('WorkloadEndpoint', with_({ ipv4Gateway: 'fd00::1' }), 'spec.ipv4Gateway', 'not an IPv4');
    bad('WorkloadEndpoint', with_({ ipNATs: [{ internalIP: '198.18.1.2' }] }), 'spec.ipNATs[0].externalIP', 'is required');
    bad('WorkloadEndpoint', with_({ ports: [{ name: 'http', protocol: 'TCP', port: 0 }] }), 'spec.ports[0].port', 'out of range 1..65535');
    bad('WorkloadEndpoint', with_({ workload: '' }), 'spec.workload', 'non-empty');
  });
});

describe('HostEndpoint', () => {
  it('accepts an interface or expected IPs', () => {
    expect(good('HostEndpoint', { node: 'host-1', interfaceName: 'eth0', profiles: ['p'] }).spec).toEqual({ node: 'host-1', interfaceName: 'eth0', profiles: ['p'] });
    expect(good('HostEndpoint', { node: 'host-1', expectedIPs: ['198.18.0.1', 'fd00::1'] })).toBeTruthy();
    expect(good('HostEndpoint', { node: 'host-1', interfaceName: '*' })).toBeTruthy();
  });

  it('rejects bad host endpoints', () => {
    bad('HostEndpoint', { interfaceName: 'eth0' }, 'spec.node', 'is required');
    bad('HostEndpoint', { node: 'host-1' }, 'spec.interfaceName', 'interfaceName or expectedIPs is required');
    bad('HostEndpoint', { node: 'host-1', expectedIPs: ['198.18.0.0/24'] }, 'spec.expectedIPs[0]', 'not a valid IP address');
    bad('HostEndpoint', { node: 'host-1', interfaceName: 'a-very-long-interface' }, 'spec.interfaceName', 'longer than 15');
  });
});

describe('field parsers', () => {
  it('AS numbers', () => {
    expect(parseAsNumber(1)).toBe(1);
    expect(parseAsNumber('4294967295')).toBe(4294967295);
    expect(parseAsNumber('1.0')).toBe(65536);
    expect(parseAsNumber('65535.65535')).toBe(4294967295);
    expect(() => parseAsNumber('1.2.3')).toThrow(/not an AS number/);
    expect(() => parseAsNumber(1.5)).toThrow(ValidationError);
    expect(errorOf(() => parseAsNumber('0.0', 'as')).field).toBe('as');
  });

  it('ports and ranges', () => {
    expect(parsePort(0)).toBe(0);
    expect(parsePort('65535')).toBe(65535);
    expect(parsePort('10:20')).toBe('10:20');
    expect(parsePort('7:7')).toBe(7);
    expect(portRange('10:20')).toEqual([10, 20]);
    expect(portRange(80)).toEqual([80, 80]);
    expect(() => parsePort('20:10')).toThrow(/start above its end/);
    expect(() => parsePort(true)).toThrow(/not a port/);
  });

  it('protocols', () => {
    expect(['tcp', 'UDP', 'Icmp', 'icmpV6', 'sctp', 'UDPLITE'].map((p) => parseProtocol(p))).toEqual(['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite']);
    expect(parseProtocol(255)).toBe(255);
    expect(parseProtocol('47')).toBe(47);
    expect(() => parseProtocol('1.5')).toThrow(/not a protocol/);
  });

  it('canonical address text, as the kernel prints it', () => {
    expect(canonicalIp('198.18.0.1')).toBe('198.18.0.1');
    expect(canonicalIp('FD00:0019:0:0::0001')).toBe('fd00:19::1');
    expect(canonicalIp('fd00:0:0:1:0:0:0:1')).toBe('fd00:0:0:1::1');
    expect(canonicalIp('::ffff:198.18.0.1')).toBe('::ffff:198.18.0.1');
    for (const b of ['198.018.0.1', 'fd00::1::2', 'fe80::1%eth0', '', 7 as unknown as string, '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', ':1::', 'fd00::12345', 'g::1']) {
      expect(() => canonicalIp(b), String(b)).toThrow(ValidationError);
    }
  });
  it('canonical IPv6 text matches inet_ntop (node SocketAddress) on every kind of zero run and spelling', () => {
    const ntop = (ip: string) => new SocketAddress({ address: ip, family: 'ipv6' }).address;
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let k = 0; k < 3000; k++) {
      // mostly zeros, so that runs of every length and position occur; now and then ffff (mapped forms)
      const words = Array.from({ length: 8 }, () => (rnd(3) ? 0 : rnd(4) ? rnd(0x10000) : 0xffff));
      const spellings = [
        words.map((w) => w.toString(16)).join(':'),
        words.map((w) => w.toString(16).padStart(4, '0').toUpperCase()).join(':'),
        ntop(words.map((w) => w.toString(16)).join(':')),
      ];
      for (const ip of spellings) expect(canonicalIp(ip), ip).toBe(ntop(ip));
    }
  });

  it('host CIDRs', () => {
    expect([hostCidr('198.18.0.1'), hostCidr('fd00::1'), hostCidr('198.18.0.0/24')]).toEqual(['198.18.0.1/32', 'fd00::1/128', '198.18.0.0/24']);
  });

  it('IPv4 addresses (hand-parsed fast path in net.ts)', () => {
    expect(parseIp('198.18.0.1')).toEqual({ family: 4, value: 0xc6120001n });
    expect(formatIp(4, 0xc6120001n)).toBe('198.18.0.1');
    expect(formatIp(4, 0n)).toBe('0.0.0.0');
    expect(parseIp('255.255.255.255').value).toBe(0xffffffffn);
    for (const b of ['198.18.0.256', '198.018.0.1', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '1.2.3.4/32']) {
      expect(() => parseIp(b, 'f'), b).toThrow(/f: .* is not a valid IP address/);
    }
    expect(() => parseIp(5 as unknown as string, 'f')).toThrow(ValidationError);
    expect(parseIp('fd00::1').family).toBe(6);
  });

  it('IPv6 addresses (hand-parsed): values, every spelling, dotted-quad tails, and what node accepts', () => {
    const words = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn));
    let seed = 11;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let k = 0; k < 3000; k++) {
      const v = Array.from({ length: 8 }, () => (rnd(3) ? 0 : rnd(4) ? rnd(0x10000) : 0xffff)).reduce((a, w) => (a << 16n) | BigInt(w), 0n);
      const text = formatIp(6, v);
      // RFC 5952, hex groups only (inet_ntop agrees except where it writes a dotted quad)
      if (!text.includes('.')) expect(text).toBe(text.toLowerCase());
      if (!/^::(ffff:)?[0-9a-f]{1,4}:[0-9a-f]{1,4}$|^::[0-9a-f]{1,4}$/.test(text)) expect(text).toBe(new SocketAddress({ address: text, family: 'ipv6' }).address);
      const w = words(v);
      const full = w.map((x) => x.toString(16).padStart(4, '0').toUpperCase()).join(':');
      const dotted = `${w.slice(0, 6).map((x) => x.toString(16)).join(':')}:${w[6]! >> 8}.${w[6]! & 255}.${w[7]! >> 8}.${w[7]! & 255}`;
      for (const spelling of [text, full, dotted]) expect(parseIp(spelling).value, spelling).toBe(v);
    }
    expect(formatIp(6, 0n)).toBe('::');
    expect(formatIp(6, 1n)).toBe('::1');
    expect(formatIp(6, 0xffff_c612_0001n)).toBe('::ffff:c612:1'); // hex, not ::ffff:198.18.0.1
    expect(formatIp(6, 0xfd00_0000_0000_0001_0000_0000_0000_0001n)).toBe('fd00:0:0:1::1'); // the first of equal runs
    expect(formatIp(6, 0x0001_0000_0001_0001_0001_0001_0001_0001n)).toBe('1:0:1:1:1:1:1:1'); // one zero word stays
    expect(parseIp('::ffff:198.18.0.1').value).toBe(0xffff_c612_0001n);
    for (const ip of ['::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:1.2.3.4', '::1.2.3.4', '1::1.2.3.4', 'FD00::A', 'fe80::1%eth0', '', ':', ':::', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '::1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::1.2.3', '::01.2.3.4', '::256.1.1.1', 'g::1', ' ::1', '1:', ':1', '1:2:3:4:5:6:7::', '1::2:3.4.5.6', '::1.2.3.4:5', '1:2:3:4:5:6:7:']) {
      expect(ipFamily(ip) === 6, ip).toBe(isIPv6(ip) && !ip.includes('%'));
    }
  });

  it('Go durations', () => {
    expect(parseDuration('90s')).toBe(90);
    expect(parseDuration('1m30s')).toBe(90);
    expect(parseDuration('1h')).toBe(3600);
    expect(parseDuration('500ms')).toBe(0.5);
    expect(parseDuration('1.5s')).toBe(1.5);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration(10)).toBe(10);
    expect(parseDuration('10')).toBe(10);
    expect(parseDuration('2m0.5s')).toBe(120.5);
    for (const b of ['', 's', '10x', '1m-1s', '-5s', 'ms']) expect(() => parseDuration(b), b).toThrow(/not a duration/);
  });

  it('names and labels', () => {
    expect(checkDns1123Label('ns-1', 'f')).toBe('ns-1');
    expect(() => checkDns1123Label('a'.repeat(64), 'f')).toThrow(/longer than 63/);
    expect(checkLabelKey('projectcalico.org/namespace', 'k')).toBeTruthy();
    expect(() => checkLabelKey('Bad_Prefix/x', 'k')).toThrow(/invalid prefix/);
    expect(() => checkLabelKey('a/' + 'x'.repeat(64), 'k')).toThrow(/invalid/);
    expect(() => checkLabelKey('', 'k')).toThrow(/invalid/);
    expect(checkLabelValue('', 'v')).toBe('');
    expect(() => checkLabelValue('-a', 'v')).toThrow(/invalid/);
    expect(escapeDashes('a-b--c')).toBe('a--b----c');
    expect(poolNameFromCidr('198.18.0.0/16')).toBe('198-18-0-0-16');
  });
});
