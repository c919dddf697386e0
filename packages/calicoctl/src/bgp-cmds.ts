// The Docker-era `bgp` verbs: global BGP peers (BGPPeer without node) and the
// global BGPConfiguration `default` (node-to-node mesh, default AS).
import type { Resource, ResourceClient } from '@calico/libcalico';
import { canonicalIp, ipFamily } from '@calico/libcalico/net';
import { parseAsNumber } from '@calico/libcalico/resources/fields';
import type { BGPConfigurationSpec, BGPPeerSpec } from '@calico/libcalico/resources/spec';
import { CliError } from './errors.js';
import { modifyResource } from './modify.js';
import { formatTable } from './output.js';
import { runFileAction } from './resource-ops.js';

/** Calico's defaults when BGPConfiguration `default` does not exist (calico.md §1.2). */
export const DEFAULT_AS = 64512;
export const DEFAULT_MESH = true;

export function defaultBgpConfiguration(): Resource<BGPConfigurationSpec> {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'BGPConfiguration',
    metadata: { name: 'default' },
    spec: { asNumber: DEFAULT_AS, nodeToNodeMeshEnabled: DEFAULT_MESH, logSeverityScreen: 'Info' },
  };
}

/** BGPPeer name for a peer IP: `198.18.0.1` → `bgppeer-198-18-0-1` (per node: `<node>.bgppeer-…`). */
export function peerName(ip: string, node?: string): string {
  const base = `bgppeer-${canonicalIp(ip).replace(/[.:]/g, '-').replace(/-$/, '-0')}`;
  return node ? `${node}.${base}` : base;
}

const isForNode = (p: Resource<BGPPeerSpec>, node?: string): boolean =>
  node ? p.spec.node === node : !p.spec.node && !p.spec.nodeSelector;

function checkedIp(ip: string): string {
  if (!ipFamily(ip)) throw new CliError(`peer IP: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  return canonicalIp(ip);
}

/** `bgp peer add IP as AS` (global), or for one node when `node` is given. */
export async function peerAdd(client: ResourceClient, ip: string, asNumber: string, node?: string): Promise<string> {
  const peerIP = checkedIp(ip);
  let as: number;
  try {
    as = parseAsNumber(asNumber, 'AS number');
  } catch (e) {
    throw new CliError((e as Error).message);
  }
  const spec: BGPPeerSpec = { peerIP, asNumber: as, ...(node ? { node } : {}) };
  const raw = { apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: peerName(peerIP, node) }, spec };
  const exists = (await client.list<BGPPeerSpec>('BGPPeer', { onInvalid: () => {} })).find(
    (p) => isForNode(p, node) && p.spec.peerIP === peerIP,
  );
  if (exists) throw new CliError(`BGP peer ${peerIP} already exists${node ? ` for node ${node}` : ''} (BGPPeer ${exists.metadata.name})`);
  await runFileAction(client, [{ where: '', raw }], 'create');
  return `Added ${node ? `node ${node}` : 'global'} BGP peer ${peerIP} as ${as}`;
}

export async function peerRemove(client: ResourceClient, ip: string, node?: string): Promise<string> {
  const peerIP = checkedIp(ip);
  const peers = (await client.list<BGPPeerSpec>('BGPPeer', { onInvalid: () => {} })).filter(
    (p) => isForNode(p, node) && p.spec.peerIP === peerIP,
  );
  if (!peers.length) throw new CliError(`no ${node ? `BGP peer of node ${node}` : 'global BGP peer'} with IP ${peerIP}`);
  for (const p of peers) await client.delete('BGPPeer', p.metadata.name);
  return `Removed ${node ? `node ${node}` : 'global'} BGP peer ${peerIP}`;
}

export async function peerShow(client: ResourceClient, opts: { ipv4?: boolean; ipv6?: boolean }, node?: string): Promise<string> {
  const families = opts.ipv4 && !opts.ipv6 ? [4] : opts.ipv6 && !opts.ipv4 ? [6] : [4, 6];
  const peers = (await client.list<BGPPeerSpec>('BGPPeer', { onInvalid: () => {} })).filter((p) => isForNode(p, node) && p.spec.peerIP);
  const scope = node ? `node ${node}` : 'global';
  return families
    .map((f) =>
      formatTable(
        [`${scope} IPv${f} BGP peer`, 'AS NUM', 'NAME'],
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
  if (value === undefined) return (await readBgpConfig(client)).nodeToNodeMeshEnabled ?? DEFAULT_MESH ? 'on' : 'off';
  if (value !== 'on' && value !== 'off') throw new CliError(`node-mesh: expected on or off, got ${JSON.stringify(value)}`);
  await setBgpConfig(client, (s) => {
    s.nodeToNodeMeshEnabled = value === 'on';
  });
  return `Node-to-node mesh ${value}`;
}

export async function defaultNodeAs(client: ResourceClient, value: string | undefined): Promise<string> {
  if (value === undefined) return String((await readBgpConfig(client)).asNumber ?? DEFAULT_AS);
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

