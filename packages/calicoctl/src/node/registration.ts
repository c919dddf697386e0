import { ValidationError } from '@calico/libcalico/errors';
import { canonicalIp, isIp } from '@calico/libcalico/net';
import type { Resource, ResourceClient } from '@calico/libcalico';
import type { NodeBGPSpec, NodeSpec } from '@calico/libcalico/resources/spec';
import { formatHostAddress, type HostAddress } from './autodetect.js';

export interface Registration {
  name: string;
  ipv4?: HostAddress;
  ipv6?: HostAddress;
  asNumber?: number;
}

/** The address part of a stored IP/len, canonical (undefined if absent or malformed). */
function ipOf(cidr: string | undefined): string | undefined {
  const ip = cidr?.split('/')[0];
  return ip && isIp(ip) ? canonicalIp(ip) : undefined;
}

/** Refuse an address another node already has (Calico's startup exits in that case too). */
function assertAddressesFree(nodes: Resource<NodeSpec>[], reg: Registration): void {
  for (const other of nodes) {
    if (other.metadata.name === reg.name) continue;
    const bgp = other.spec.bgp ?? {};
    if (reg.ipv4 && ipOf(bgp.ipv4Address) === reg.ipv4.ip) {
      throw new ValidationError('--ip', `${reg.ipv4.ip} is already used by node ${other.metadata.name}`);
    }
    if (reg.ipv6 && ipOf(bgp.ipv6Address) === reg.ipv6.ip) {
      throw new ValidationError('--ip6', `${reg.ipv6.ip} is already used by node ${other.metadata.name}`);
    }
  }
}

/**
 * Create or update this node's Node resource with its BGP addresses and AS.
 * Other fields (labels, route reflector cluster id, …) are kept. Returns the
 * resource as it was before, so a failed start can put it back.
 */
export async function registerNode(client: ResourceClient, reg: Registration): Promise<{ before?: Resource<NodeSpec> }> {
  assertAddressesFree(await client.list<NodeSpec>('Node'), reg);
  const before = await client.tryGet<NodeSpec>('Node', reg.name);
  const bgp: NodeBGPSpec = { ...(before?.spec.bgp ?? {}) };
  if (reg.ipv4) bgp.ipv4Address = formatHostAddress(reg.ipv4);
  else delete bgp.ipv4Address;
  if (reg.ipv6) bgp.ipv6Address = formatHostAddress(reg.ipv6);
  else delete bgp.ipv6Address;
  if (reg.asNumber !== undefined) bgp.asNumber = reg.asNumber;
  const node = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Node',
    metadata: { ...(before?.metadata ?? {}), name: reg.name },
    spec: { ...(before?.spec ?? {}), bgp },
  };
  if (before) await client.update(node);
  else await client.create(node);
  return { before };
}

/** Undo registerNode after a failed start: delete a node we created, restore one we changed. */
export async function unregisterAfterFailure(client: ResourceClient, name: string, before?: Resource<NodeSpec>): Promise<void> {
  if (!before) {
    await client.delete('Node', name).catch(() => {});
    return;
  }
  const { resourceVersion: _rv, ...metadata } = before.metadata;
  await client.apply({ ...before, metadata });
}
