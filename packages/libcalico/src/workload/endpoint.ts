/**
 * A workload's whole life on a host, shared by calicoctl, the Docker plugin
 * and the CNI plugin: addresses from IPAM, the veth (veth.ts) and the
 * WorkloadEndpoint resource felix acts on. Every step that fails undoes the
 * steps before it, and removal is idempotent.
 *
 * Order on add: IPAM → veth → WorkloadEndpoint (felix then installs the host
 * route). Order on remove: veth → WorkloadEndpoint → IPAM, so an address is
 * only reusable once nothing on the host refers to it any more.
 */
import { DatastoreError, ValidationError, isCode } from '../errors.js';
import type { Datastore } from '../datastore/types.js';
import { ResourceClient } from '../resources/client.js';
import { API_VERSION, DEFAULT_NAMESPACE } from '../resources/kinds.js';
import type { WorkloadEndpoint, WorkloadEndpointSpec } from '../resources/spec.js';
import { workloadEndpointName } from '../resources/names.js';
import { canonicalIp, ipFamily } from '../net.js';
import { attachWorkload, detachWorkload, addContainerIps, removeContainerIps, hostInterfaceName, validateNetnsPath } from './veth.js';
import type { Ipam } from '../ipam/ipam.js';
import { undoAndRethrow } from './undo.js';

/** Identifies one endpoint of one workload on one node. */
export interface WorkloadRef {
  node: string;
  orchestrator: string;
  workload: string;
  /** endpoint id and container interface name (default eth0) */
  endpoint?: string;
  /** WorkloadEndpoint namespace (default "default") */
  namespace?: string;
}

/** Which addresses a workload gets: explicit ones, and/or so many from IPAM's pools. */
export interface AddressRequest {
  /** taken from IPAM exactly (error if in use or outside every pool) */
  ips?: string[];
  /** how many to allocate per family */
  num4?: number;
  num6?: number;
  /** restrict allocation to these pools (CIDRs) */
  pools?: string[];
}

export interface WorkloadContext {
  ds: Datastore;
  ipam: Ipam;
}

export interface AddWorkloadOptions extends WorkloadRef, AddressRequest {
  /**
   * Addresses the caller already holds (e.g. from a CNI IPAM plugin): used as
   * they are instead of asking IPAM, and never released here.
   */
  allocated?: string[];
  netnsPath: string;
  /** netns path of the host end; default the caller's netns */
  hostNetns?: string;
  profiles?: string[];
  labels?: Record<string, string>;
  containerID?: string;
  /** IPAM handle every address of this endpoint is recorded against (default `<orchestrator>.<node>.<workload>.<endpoint>`) */
  handleId?: string;
  /** host interface name (default: prefix + hash of the WorkloadEndpoint name) */
  hostIfName?: string;
  interfacePrefix?: string;
  mtu?: number;
}

const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';
const NAMESPACE_LABEL = 'projectcalico.org/namespace';

function resolved(ref: WorkloadRef): Required<WorkloadRef> & { name: string } {
  const endpoint = ref.endpoint ?? 'eth0';
  const namespace = ref.namespace ?? DEFAULT_NAMESPACE;
  const name = workloadEndpointName({ node: ref.node, orchestrator: ref.orchestrator, workload: ref.workload, endpoint });
  return { node: ref.node, orchestrator: ref.orchestrator, workload: ref.workload, endpoint, namespace, name };
}

/**
 * The IPAM handle a workload's addresses are recorded against, unless the
 * caller names one. It includes the node: a netns name like `web1` may well
 * exist on several hosts, and releasing one must not free the others.
 */
export function defaultHandleId(ref: WorkloadRef): string {
  return `${ref.orchestrator}.${ref.node}.${ref.workload}.${ref.endpoint ?? 'eth0'}`;
}

/** A /32 or /128 network for a bare address. */
const hostNet = (ip: string): string => `${canonicalIp(ip)}/${ipFamily(ip) === 4 ? 32 : 128}`;

/** What IPAM records about who holds an address. */
const ipamAttrs = (ref: Required<WorkloadRef>): Record<string, string> => ({
  node: ref.node,
  namespace: ref.namespace,
  workload: ref.workload,
  endpoint: ref.endpoint,
});

/** Take the requested addresses from IPAM (autoAssign is all or nothing); on failure nothing stays allocated. */
async function allocate(ipam: Ipam, req: AddressRequest, handleId: string, ref: Required<WorkloadRef>): Promise<string[]> {
  const attrs = ipamAttrs(ref);
  const got: string[] = [];
  try {
    for (const ip of req.ips ?? []) {
      if (!ipFamily(ip)) throw new ValidationError('ip', `${JSON.stringify(ip)} is not an IP address`);
      await ipam.assignIp({ ip, handleId, attrs, hostname: ref.node });
      got.push(canonicalIp(ip));
    }
    const num4 = req.num4 ?? 0;
    const num6 = req.num6 ?? 0;
    if (num4 > 0 || num6 > 0) {
      const r = await ipam.autoAssign({ num4, num6, handleId, attrs, hostname: ref.node, pools: req.pools });
      got.push(...r.ipv4.map(canonicalIp), ...r.ipv6.map(canonicalIp));
    }
  } catch (e) {
    return undoAndRethrow(e, [() => ipam.releaseIps(got)]);
  }
  return got;
}

/**
 * Attach a workload: allocate its addresses, plumb the veth, write its
 * WorkloadEndpoint. Returns the endpoint written. On any failure everything
 * done so far is undone and the error is rethrown.
 */
export async function addWorkload(ctx: WorkloadContext, o: AddWorkloadOptions): Promise<WorkloadEndpoint> {
  const ref = resolved(o);
  const client = new ResourceClient(ctx.ds);
  if (!(o.allocated?.length || o.ips?.length || o.num4 || o.num6)) throw new ValidationError('ip', 'the workload needs at least one address');
  if (o.allocated && (o.ips?.length || o.num4 || o.num6)) throw new ValidationError('ip', 'give either allocated addresses or addresses to allocate, not both');
  for (const ip of o.allocated ?? []) if (!ipFamily(ip)) throw new ValidationError('allocated', `${JSON.stringify(ip)} is not an IP address`);
  validateNetnsPath(o.netnsPath, 'netnsPath');
  if (o.hostNetns !== undefined) validateNetnsPath(o.hostNetns, 'hostNetns');
  const hostIfName = o.hostIfName ?? hostInterfaceName(ref.name, o.interfacePrefix);
  const draft = (ips: string[], mac?: string): WorkloadEndpoint => ({
    apiVersion: API_VERSION,
    kind: 'WorkloadEndpoint',
    metadata: {
      name: ref.name,
      namespace: ref.namespace,
      labels: { ...o.labels, [ORCHESTRATOR_LABEL]: ref.orchestrator, [NAMESPACE_LABEL]: ref.namespace },
    },
    spec: {
      orchestrator: ref.orchestrator,
      workload: ref.workload,
      node: ref.node,
      endpoint: ref.endpoint,
      ...(o.containerID ? { containerID: o.containerID } : {}),
      ipNetworks: ips.map(hostNet),
      profiles: o.profiles ?? [],
      interfaceName: hostIfName,
      ...(mac ? { mac } : {}),
    },
  });
  // Bad names, labels or profiles fail here, before anything is allocated.
  await client.check(draft([]));
  if (await client.tryGet('WorkloadEndpoint', ref.name, ref.namespace)) {
    throw new DatastoreError('AlreadyExists', `WorkloadEndpoint(${ref.namespace}/${ref.name}) already exists: workload ${ref.workload} already has endpoint ${ref.endpoint} on ${ref.node}`);
  }
  const ips = o.allocated ? o.allocated.map(canonicalIp) : await allocate(ctx.ipam, o, o.handleId ?? defaultHandleId(ref), ref);
  let attached = false;
  try {
    const { mac } = await attachWorkload({
      netnsPath: o.netnsPath,
      hostNetns: o.hostNetns,
      hostIfName,
      containerIfName: ref.endpoint,
      ipv4: ips.filter((ip) => ipFamily(ip) === 4),
      ipv6: ips.filter((ip) => ipFamily(ip) === 6),
      mtu: o.mtu,
    });
    attached = true;
    return (await client.create(draft(ips, mac))) as WorkloadEndpoint;
  } catch (e) {
    return undoAndRethrow(e, [
      ...(attached ? [() => detachWorkload({ hostIfName, hostNetns: o.hostNetns })] : []),
      ...(o.allocated ? [] : [() => ctx.ipam.releaseIps(ips)]),
    ]);
  }
}

export interface RemoveWorkloadOptions extends WorkloadRef {
  hostNetns?: string;
  handleId?: string;
  /** host interface to delete when the WorkloadEndpoint is already gone */
  hostIfName?: string;
  interfacePrefix?: string;
}

/**
 * Detach a workload: delete its veth, its WorkloadEndpoint and release its
 * addresses by handle (pass the handleId used on add, if not the default).
 * Anything already gone is skipped, so a repeated remove succeeds. Returns
 * the endpoint that was removed, if there was one.
 */
export async function removeWorkload(ctx: WorkloadContext, o: RemoveWorkloadOptions): Promise<WorkloadEndpoint | undefined> {
  const ref = resolved(o);
  const client = new ResourceClient(ctx.ds);
  const wep = await client.tryGet<WorkloadEndpointSpec>('WorkloadEndpoint', ref.name, ref.namespace);
  const hostIfName = wep?.spec.interfaceName ?? o.hostIfName ?? hostInterfaceName(ref.name, o.interfacePrefix);
  await detachWorkload({ hostIfName, hostNetns: o.hostNetns });
  if (wep) {
    try {
      await client.delete('WorkloadEndpoint', ref.name, ref.namespace);
    } catch (e) {
      if (!isCode(e, 'NotFound')) throw e;
    }
  }
  // By handle only: releasing the endpoint's addresses by IP could free an
  // address that another workload was given after our handle let it go.
  await ctx.ipam.releaseByHandle(o.handleId ?? defaultHandleId(ref));
  return wep;
}

/** Read-modify-write of an endpoint with a CAS, retried when someone else wrote in between. */
async function mutateEndpoint(
  client: ResourceClient,
  ref: { name: string; namespace: string },
  change: (spec: WorkloadEndpointSpec) => void,
): Promise<WorkloadEndpoint> {
  for (let attempt = 0; ; attempt++) {
    const wep = await client.get<WorkloadEndpointSpec>('WorkloadEndpoint', ref.name, ref.namespace);
    change(wep.spec);
    try {
      return (await client.update(wep)) as WorkloadEndpoint;
    } catch (e) {
      if (!isCode(e, 'Conflict') || attempt >= 5) throw e;
    }
  }
}

export interface UpdateIpsOptions extends WorkloadRef, AddressRequest {
  netnsPath: string;
  handleId?: string;
}

/**
 * Give a running workload more addresses (explicit or allocated): IPAM, then
 * the container's interface, then the WorkloadEndpoint. Returns the new
 * addresses. Undone on failure.
 */
export async function addWorkloadIps(ctx: WorkloadContext, o: UpdateIpsOptions): Promise<string[]> {
  const ref = resolved(o);
  const client = new ResourceClient(ctx.ds);
  const wep = await client.get<WorkloadEndpointSpec>('WorkloadEndpoint', ref.name, ref.namespace);
  for (const ip of o.ips ?? []) {
    if ((wep.spec.ipNetworks ?? []).includes(hostNet(ip))) throw new ValidationError('ip', `${ip} is already assigned to ${ref.workload}`);
  }
  const ips = await allocate(ctx.ipam, o, o.handleId ?? defaultHandleId(ref), ref);
  let plumbed = false;
  try {
    await addContainerIps({ netnsPath: o.netnsPath, containerIfName: ref.endpoint, ips });
    plumbed = true;
    await mutateEndpoint(client, ref, (spec) => {
      spec.ipNetworks = [...(spec.ipNetworks ?? []), ...ips.map(hostNet)];
    });
    return ips;
  } catch (e) {
    return undoAndRethrow(e, [
      ...(plumbed ? [() => removeContainerIps({ netnsPath: o.netnsPath, containerIfName: ref.endpoint, ips })] : []),
      () => ctx.ipam.releaseIps(ips),
    ]);
  }
}

export interface RemoveIpsOptions extends WorkloadRef {
  netnsPath: string;
  ips: string[];
}

/** Take addresses away from a running workload: container, endpoint, then IPAM. */
export async function removeWorkloadIps(ctx: WorkloadContext, o: RemoveIpsOptions): Promise<void> {
  const ref = resolved(o);
  const client = new ResourceClient(ctx.ds);
  const wep = await client.get<WorkloadEndpointSpec>('WorkloadEndpoint', ref.name, ref.namespace);
  for (const ip of o.ips) {
    if (!ipFamily(ip)) throw new ValidationError('ip', `${JSON.stringify(ip)} is not an IP address`);
    if (!(wep.spec.ipNetworks ?? []).includes(hostNet(ip))) throw new ValidationError('ip', `${ip} is not assigned to ${ref.workload}`);
  }
  const nets = new Set(o.ips.map(hostNet));
  await removeContainerIps({ netnsPath: o.netnsPath, containerIfName: ref.endpoint, ips: o.ips });
  await mutateEndpoint(client, ref, (spec) => {
    spec.ipNetworks = (spec.ipNetworks ?? []).filter((n) => !nets.has(n));
  });
  await ctx.ipam.releaseIps(o.ips.map(canonicalIp));
}

export type ProfileChange = 'append' | 'remove' | 'set';

/**
 * Change an endpoint's profile list. Appending or setting a profile that does
 * not exist, or removing one the endpoint does not have, is an error.
 */
export async function setWorkloadProfiles(ds: Datastore, ref: WorkloadRef, change: ProfileChange, profiles: string[]): Promise<WorkloadEndpoint> {
  const r = resolved(ref);
  const client = new ResourceClient(ds);
  if (change !== 'remove') {
    for (const p of profiles) {
      if (!(await client.tryGet('Profile', p))) throw new ValidationError('profile', `profile ${p} does not exist`);
    }
  }
  return mutateEndpoint(client, r, (spec) => {
    const cur = spec.profiles ?? [];
    if (change === 'set') spec.profiles = [...new Set(profiles)];
    else if (change === 'append') spec.profiles = [...cur, ...profiles.filter((p) => !cur.includes(p))];
    else {
      const missing = profiles.filter((p) => !cur.includes(p));
      if (missing.length) throw new ValidationError('profile', `${ref.workload} does not have profile(s) ${missing.join(', ')}`);
      spec.profiles = cur.filter((p) => !profiles.includes(p));
    }
  });
}

/** Every WorkloadEndpoint (optionally of one node), for `endpoint show` and friends. */
export async function listWorkloadEndpoints(ds: Datastore, node?: string): Promise<WorkloadEndpoint[]> {
  const all = await new ResourceClient(ds).list<WorkloadEndpointSpec>('WorkloadEndpoint', { onInvalid: () => {} });
  return (all as WorkloadEndpoint[]).filter((w) => !node || w.spec.node === node);
}

/** A workload's endpoints on one node (any endpoint id), e.g. to remove a whole container. */
export async function findWorkloadEndpoints(ds: Datastore, ref: Omit<WorkloadRef, 'endpoint'>): Promise<WorkloadEndpoint[]> {
  return (await listWorkloadEndpoints(ds, ref.node)).filter(
    (w) => w.spec.orchestrator === ref.orchestrator && w.spec.workload === ref.workload && (!ref.namespace || w.metadata.namespace === ref.namespace),
  );
}
