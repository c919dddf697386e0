import { DatastoreError, ValidationError } from '@calico/libcalico/errors';
import type { Datastore, ResourceClient } from '@calico/libcalico';
import type { BGPPeerSpec, WorkloadEndpointSpec } from '@calico/libcalico/resources/spec';
import { runningSupervisor, readState, type NodeLayout } from './layout.js';

async function deleteIfPresent(client: ResourceClient, kind: string, name: string, namespace?: string): Promise<boolean> {
  try {
    await client.delete(kind, name, namespace);
    return true;
  } catch (e) {
    if (e instanceof DatastoreError && e.code === 'NotFound') return false;
    throw e;
  }
}

/**
 * `calicoctl node remove`: refuse while the node runs here or still has
 * workload endpoints (unless --force, which deletes them and releases their
 * addresses); then delete its per-node BGP peers and configuration, release
 * its IPAM block affinities, and delete the Node last (so a failure half-way
 * can be retried).
 */
export async function removeNode(client: ResourceClient, ds: Datastore, layout: NodeLayout, name: string, force: boolean): Promise<string> {
  const pid = runningSupervisor(layout);
  if (pid && readState(layout)?.nodeName === name) {
    throw new ValidationError('--name', `node ${name} is running here (supervisor pid ${pid}): run \`calicoctl node stop\` first`);
  }
  const node = await client.tryGet('Node', name);
  const weps = (await client.list<WorkloadEndpointSpec>('WorkloadEndpoint', { onInvalid: () => {} })).filter((w) => w.spec.node === name);
  if (weps.length && !force) {
    throw new ValidationError(
      '--name',
      `node ${name} still has ${weps.length} workload endpoint(s) (${weps.slice(0, 5).map((w) => `${w.metadata.namespace}/${w.metadata.name}`).join(', ')}${weps.length > 5 ? ', …' : ''}): remove them first, or use --force`,
    );
  }
  const { Ipam } = await import('@calico/libcalico/ipam/ipam');
  const ipam = new Ipam(ds);
  const done: string[] = [];
  for (const w of weps) {
    const ips = (w.spec.ipNetworks ?? []).map((n) => n.split('/')[0]!);
    if (ips.length) await ipam.releaseIps(ips);
    await deleteIfPresent(client, 'WorkloadEndpoint', w.metadata.name, w.metadata.namespace);
  }
  if (weps.length) done.push(`${weps.length} workload endpoint(s)`);
  const peers = (await client.list<BGPPeerSpec>('BGPPeer', { onInvalid: () => {} })).filter((p) => p.spec.node === name);
  for (const p of peers) await deleteIfPresent(client, 'BGPPeer', p.metadata.name);
  if (peers.length) done.push(`${peers.length} BGP peer(s)`);
  for (const kind of ['BGPConfiguration', 'FelixConfiguration']) {
    if (await deleteIfPresent(client, kind, `node.${name}`)) done.push(`${kind} node.${name}`);
  }
  const blocks = await ipam.releaseHostAffinities(name);
  if (blocks.deleted.length || blocks.released.length) {
    done.push(`IPAM blocks (${blocks.deleted.length} deleted, ${blocks.released.length} released)`);
  }
  const hadNode = node ? await deleteIfPresent(client, 'Node', name) : false;
  if (!hadNode && !done.length) throw new ValidationError('--name', `node ${name} does not exist`);
  return `Removed node ${name}${done.length ? `: ${done.join(', ')}` : ''}`;
}
