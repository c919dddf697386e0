// The Docker-era `bgp` verbs: global BGP peers (BGPPeer without node) and the
// global BGPConfiguration `default` (node-to-node mesh, default AS).
import type { Resource, ResourceClient } from '@calico/libcalico';
import { canonicalIp, ipFamily } from '@calico/libcalico/net';
import { parseAsNumber } from '@calico/libcalico/resources/fields';
import { ipNameSegment } from '@calico/libcalico/resources/names';
import { BGP_DEFAULTS, type BGPConfigurationSpec, type BGPPeerSpec } from '@calico/libcalico/resources/spec';
import { CliError, warnInvalid } from './errors.js';
import { modifyResource } from './modify.js';
import { formatTable, listOf, parseOutputFormat, toJson, toYaml } from './output.js';
import { runFileAction } from './resource-ops.js';

export function defaultBgpConfiguration(): Resource<BGPConfigurationSpec> {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { ...BGP_DEFAULTS, logSeverityScreen: 'Info' },
  };
}

/** Global BGPPeer name for a peer IP: `198.18.0.1` → `bgppeer-198-18-0-1`, `fd00::1` → `bgppeer-fd00--1`. */
export function peerName(ip: string): string {
  return `bgppeer-${ipNameSegment(canonicalIp(ip))}`;
}

/** Global peers: every node peers with them (per-node peers are `node bgp peer …`). */
async function globalPeers(client: ResourceClient, onInvalid: (key: string, err: Error) => void = () => {}): Promise<Resource<BGPPeerSpec>[]> {
  return (await client.list<BGPPeerSpec>('BGPPeer', { onInvalid })).filter((p) => !p.spec.node && !p.spec.nodeSelector && p.spec.peerIP);
}

function checkedIp(ip: string): string {
  if (!ipFamily(ip)) throw new CliError(`peer IP: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  return canonicalIp(ip);
}

/** `bgp peer add IP as AS` */
export async function peerAdd(client: ResourceClient, ip: string, asNumber: string): Promise<string> {
  const peerIP = checkedIp(ip);
  let as: number;
  try {
    as = parseAsNumber(asNumber, 'AS number');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const raw = { apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: peerName(peerIP) }, spec: { peerIP, asNumber: as } };
  const exists = (await globalPeers(client)).find((p) => canonicalIp(p.spec.peerIP!) === peerIP);
  if (exists) throw new CliError(`BGP peer ${peerIP} already exists (BGPPeer ${exists.metadata.name})`);
  await runFileAction(client, [{ where: '', raw }], 'create');
  return `Added global BGP peer ${peerIP} as ${as}`;
}

export async function peerRemove(client: ResourceClient, ip: string): Promise<string> {
  const peerIP = checkedIp(ip);
  const peers = (await globalPeers(client)).filter((p) => canonicalIp(p.spec.peerIP!) === peerIP);
  if (!peers.length) throw new CliError(`no global BGP peer with IP ${peerIP}`);
  for (const p of peers) await client.delete('BGPPeer', p.metadata.name);
  return `Removed global BGP peer ${peerIP}`;
}

export async function peerShow(client: ResourceClient, opts: { ipv4?: boolean; ipv6?: boolean; output?: string }): Promise<string> {
  const format = parseOutputFormat(opts.output);
  const families = opts.ipv4 && !opts.ipv6 ? [4] : opts.ipv6 && !opts.ipv4 ? [6] : [4, 6];
  const peers = (await globalPeers(client, warnInvalid)).filter((p) => families.includes(ipFamily(p.spec.peerIP!) ?? 0));
  if (format === 'yaml' || format === 'json') return (format === 'json' ? toJson : toYaml)(listOf(peers, 'BGPPeer')).trimEnd();
  return families
    .map((f) =>
      formatTable(
        [`global IPv${f} BGP peer`, 'AS NUM', 'NAME'],
        peers.filter((p) => ipFamily(p.spec.peerIP!) === f).map((p) => [p.spec.peerIP!, String(p.spec.asNumber ?? ''), p.metadata.name]),
      ),
    )
    .join('\n')
    .trimEnd();
}

async function readBgpConfig(client: ResourceClient): Promise<BGPConfigurationSpec> {
  return (await client.tryGet<BGPConfigurationSpec>('BGPConfiguration', 'default'))?.spec ?? defaultBgpConfiguration().spec;
}

/** Change BGPConfiguration `default`, creating it with Calico's defaults first if missing. */
export function setBgpConfig(client: ResourceClient, change: (s: BGPConfigurationSpec) => void): Promise<Resource<BGPConfigurationSpec>> {
  return modifyResource<BGPConfigurationSpec>(client, 'BGPConfiguration', 'default', (r) => change(r.spec), defaultBgpConfiguration);
}

export async function nodeMesh(client: ResourceClient, value: string | undefined): Promise<string> {
  if (value === undefined) return (await readBgpConfig(client)).nodeToNodeMeshEnabled ?? BGP_DEFAULTS.nodeToNodeMeshEnabled ? 'on' : 'off';
  if (value !== 'on' && value !== 'off') throw new CliError(`node-mesh: expected on or off, got ${JSON.stringify(value)}`);
  await setBgpConfig(client, (s) => {
    s.nodeToNodeMeshEnabled = value === 'on';
  });
  return `Node-to-node mesh ${value}`;
}

export async function defaultNodeAs(client: ResourceClient, value: string | undefined): Promise<string> {
  if (value === undefined) return String((await readBgpConfig(client)).asNumber ?? BGP_DEFAULTS.asNumber);
  let as: number;
  try {
    as = parseAsNumber(value, 'AS number');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  await setBgpConfig(client, (s) => {
    s.asNumber = as;
  });
  return `Default node AS number ${as}`;
}

