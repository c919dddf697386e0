import { ValidationError } from '@calico/libcalico/errors';
import { canonicalIp, ipFamily, isIp } from '@calico/libcalico/net';
import type { ResourceClient } from '@calico/libcalico';
import type { BGPPeerSpec } from '@calico/libcalico/resources/spec';
import { ipNameSegment } from '@calico/libcalico/resources/names';
import { formatTable } from '../output.js';

/** Name of a per-node peer when none is given: node.<node>.<ip as a name segment>. */
export const nodePeerName = (node: string, ip: string) => `node.${node}.${ipNameSegment(ip)}`;

function peerIp(text: string): string {
  if (!isIp(text)) throw new ValidationError('PEER_IP', `${JSON.stringify(text)} is not an IP address`);
  return canonicalIp(text);
}

async function nodePeers(client: ResourceClient, node: string) {
  return (await client.list<BGPPeerSpec>('BGPPeer')).filter((p) => p.spec.node === node);
}

/** `node bgp peer add IP as AS [--name N]`: a BGPPeer that applies to this node only (an existing one gets the new AS). */
export async function peerAdd(client: ResourceClient, node: string, ipText: string, as: number, name?: string): Promise<string> {
  const ip = peerIp(ipText);
  const existing = (await nodePeers(client, node)).find((p) => p.spec.peerIP && canonicalIp(p.spec.peerIP) === ip);
  if (existing && name && name !== existing.metadata.name) {
    throw new ValidationError('--name', `node ${node} already peers with ${ip} as BGPPeer ${existing.metadata.name}`);
  }
  if (existing) {
    await client.update({ ...existing, spec: { ...existing.spec, asNumber: as } });
    return `Updated BGP peer ${ip} (AS ${as}) for node ${node} (BGPPeer ${existing.metadata.name})`;
  }
  const peerName = name ?? nodePeerName(node, ip);
  await client.create({ apiVersion: 'projectcalico.org/v3', kind: 'BGPPeer', metadata: { name: peerName }, spec: { node, peerIP: ip, asNumber: as } });
  return `Added BGP peer ${ip} (AS ${as}) for node ${node} as BGPPeer ${peerName}`;
}

/** `node bgp peer remove IP`. */
export async function peerRemove(client: ResourceClient, node: string, ipText: string): Promise<string> {
  const ip = peerIp(ipText);
  const matches = (await nodePeers(client, node)).filter((p) => p.spec.peerIP && canonicalIp(p.spec.peerIP) === ip);
  if (!matches.length) throw new ValidationError('PEER_IP', `node ${node} has no BGP peer ${ip}`);
  for (const p of matches) await client.delete('BGPPeer', p.metadata.name);
  return `Removed BGP peer ${ip} from node ${node}`;
}

/** `node bgp peer show [--ipv4|--ipv6]`: one table per family, as Calico prints them. */
export async function peerShow(client: ResourceClient, node: string, only?: 4 | 6): Promise<string> {
  const peers = await nodePeers(client, node);
  let text = '';
  for (const family of [4, 6] as const) {
    if (only && only !== family) continue;
    const rows = peers
      .filter((p) => p.spec.peerIP && ipFamily(p.spec.peerIP) === family)
      .map((p) => [p.spec.peerIP!, p.spec.asNumber !== undefined ? String(p.spec.asNumber) : '(node AS)', p.metadata.name]);
    if (text) text += '\n';
    text += rows.length ? formatTable([`ipv${family} bgp peer`, 'as num', 'name'], rows) : `No IPv${family} BGP peers defined for node ${node}.\n`;
  }
  return text;
}
