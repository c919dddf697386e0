// `calicoctl container …`: attach a network namespace or a Docker container
// to Calico through libcalico's workload plumbing, and change its addresses
// and profiles afterwards.
import type { Command } from 'commander';
// Sub-path imports, not the libcalico index: this runs for every container a
// runtime starts, and the index would also load the logger and unrelated modules.
import { ValidationError } from '@calico/libcalico/errors';
import { run } from '@calico/libcalico/exec';
import { nodeName } from '@calico/libcalico/config';
import { canonicalIp, formatCidr, isIp, parseCidr } from '@calico/libcalico/net';
import { ResourceClient } from '@calico/libcalico/resources/client';
import {
  addWorkload,
  addWorkloadIps,
  findWorkloadEndpoints,
  removeWorkload,
  removeWorkloadIps,
  setWorkloadProfiles,
  type AddressRequest,
  type ProfileChange,
  type WorkloadContext,
} from '@calico/libcalico/workload/endpoint';
import type { WorkloadEndpoint } from '@calico/libcalico/resources/spec';
import type { ContainerOpts } from '../commands/container.js';
import { CliError } from '../errors.js';
import { openWorkloadContext } from './context.js';
import { printEndpoints } from './endpoint-show.js';

/** Orchestrator ids for what calicoctl attaches: a bare netns path, or a Docker container. */
export const NETNS_ORCHESTRATOR = 'calicoctl';
export const DOCKER_ORCHESTRATOR = 'docker';

export interface ContainerTarget {
  orchestrator: string;
  workload: string;
  /** where the container's network namespace is (undefined: not running) */
  netnsPath?: string;
  containerID?: string;
}

/**
 * What CONTAINER names. A path is a network namespace: its workload id is the
 * netns name (`/var/run/netns/NAME`) or `pid<PID>` (`/proc/PID/ns/net`).
 * Anything else is a Docker container: its workload id is the full container
 * id (container names may hold characters a WorkloadEndpoint name cannot),
 * its namespace /proc/<State.Pid>/ns/net. When Docker no longer knows the
 * container, the argument itself is taken as the id, so that a container
 * already deleted can still be removed from Calico.
 */
export async function resolveContainer(arg: string): Promise<ContainerTarget> {
  if (arg.startsWith('/')) {
    const pid = /^\/proc\/(\d+)\/ns\/net$/.exec(arg);
    const workload = pid ? `pid${pid[1]}` : arg.split('/').filter(Boolean).pop();
    if (!workload) throw new ValidationError('CONTAINER', `${arg} does not name a network namespace`);
    return { orchestrator: NETNS_ORCHESTRATOR, workload, netnsPath: arg };
  }
  const r = await run(['docker', 'inspect', '--type', 'container', '-f', '{{.State.Pid}} {{.Id}}', arg], { allowFail: true });
  if (r.code !== 0) {
    return { orchestrator: DOCKER_ORCHESTRATOR, workload: arg, containerID: arg };
  }
  const [pid, id] = r.stdout.trim().split(/\s+/);
  return {
    orchestrator: DOCKER_ORCHESTRATOR,
    workload: id!,
    containerID: id!,
    netnsPath: pid && pid !== '0' ? `/proc/${pid}/ns/net` : undefined,
  };
}

function requireNetns(arg: string, t: ContainerTarget): string {
  if (!t.netnsPath) throw new CliError(`container ${arg} is not running (or Docker does not know it)`);
  return t.netnsPath;
}

/** `IP`, `POOL_CIDR`, `ipv4` or `ipv6` → what to ask IPAM for. */
export function parseAddressRequest(spec: string): AddressRequest {
  if (spec === 'ipv4') return { num4: 1 };
  if (spec === 'ipv6') return { num6: 1 };
  if (spec.includes('/')) {
    const pool = parseCidr(spec, 'IP');
    const cidr = formatCidr(pool);
    return pool.family === 4 ? { num4: 1, pools: [cidr] } : { num6: 1, pools: [cidr] };
  }
  if (isIp(spec)) return { ips: [canonicalIp(spec)] };
  throw new ValidationError('IP', `${JSON.stringify(spec)} is not an IP address, a pool CIDR, ipv4 or ipv6`);
}

export async function containerCommand(cmd: Command, words: string[], opts: ContainerOpts): Promise<void> {
  const action = parseWords(words, opts.node ?? nodeName(), opts);
  const ctx = await openWorkloadContext(cmd);
  try {
    await action(ctx);
  } finally {
    await ctx.close();
  }
}

/** Which verb the words name, checked before etcd is contacted. */
function parseWords(words: string[], node: string, opts: ContainerOpts): (ctx: Ctx) => Promise<void> {
  const [first, second, ...rest] = words;
  if (first === 'add' && second && rest.length === 1) {
    const request = parseAddressRequest(rest[0]!);
    return (ctx) => add(ctx, second, request, node, opts);
  }
  if (first === 'remove' && second && rest.length === 0) return (ctx) => remove(ctx, second, node, opts);
  if (first && second === 'ip' && rest.length === 2 && (rest[0] === 'add' || rest[0] === 'remove')) {
    const [action, ipSpec] = rest as ['add' | 'remove', string];
    if (action === 'remove' && !isIp(ipSpec)) throw new ValidationError('IP', `${JSON.stringify(ipSpec)} is not an IP address`);
    const request = parseAddressRequest(ipSpec);
    return (ctx) => changeIp(ctx, first, action, request, node, opts);
  }
  if (first && second === 'profile' && rest.length >= 1 && ['append', 'remove', 'set'].includes(rest[0]!)) {
    const change = rest[0] as ProfileChange;
    const profiles = rest.slice(1);
    if (profiles.length === 0 && change !== 'set') throw new CliError(`profile ${change} needs at least one profile name`);
    return (ctx) => changeProfiles(ctx, first, change, profiles, node, opts);
  }
  if (first && second === 'endpoint' && rest.length === 1 && rest[0] === 'show') return (ctx) => show(ctx, first, node);
  throw new CliError(`unrecognised container command: ${words.join(' ')} (see calicoctl container --help)`);
}

type Ctx = WorkloadContext & { close(): Promise<void> };

async function add(ctx: Ctx, arg: string, request: AddressRequest, node: string, opts: ContainerOpts): Promise<void> {
  // An operator's typo should not leave an endpoint that no policy applies to.
  const client = new ResourceClient(ctx.ds);
  for (const p of opts.profile ?? []) {
    if (!(await client.tryGet('Profile', p))) throw new ValidationError('profile', `profile ${p} does not exist`);
  }
  const t = await resolveContainer(arg);
  const wep = await addWorkload(ctx, {
    node,
    orchestrator: t.orchestrator,
    workload: t.workload,
    endpoint: opts.interface,
    containerID: t.containerID,
    netnsPath: requireNetns(arg, t),
    hostNetns: opts.hostNetns,
    profiles: opts.profile ?? [],
    ...request,
  });
  const ips = (wep.spec.ipNetworks ?? []).map((n) => n.split('/')[0]).join(', ');
  process.stdout.write(`Container ${arg} added to Calico: ${opts.interface} ${ips} (host interface ${wep.spec.interfaceName})\n`);
}

async function remove(ctx: Ctx, arg: string, node: string, opts: ContainerOpts): Promise<void> {
  const t = await resolveContainer(arg);
  const weps = await findWorkloadEndpoints(ctx.ds, { node, orchestrator: t.orchestrator, workload: t.workload });
  if (weps.length === 0) {
    // Nothing recorded: still clear a leftover veth or IPAM handle of a half-done add.
    await removeWorkload(ctx, { node, orchestrator: t.orchestrator, workload: t.workload, endpoint: opts.interface, hostNetns: opts.hostNetns });
    process.stdout.write(`Container ${arg} has no Calico endpoints on ${node}; nothing to remove\n`);
    return;
  }
  for (const w of weps) {
    await removeWorkload(ctx, {
      node,
      orchestrator: t.orchestrator,
      workload: t.workload,
      endpoint: w.spec.endpoint,
      namespace: w.metadata.namespace,
      hostNetns: opts.hostNetns,
    });
  }
  process.stdout.write(`Container ${arg} removed from Calico\n`);
}

/** The endpoint (--interface) of a container that must already be attached. */
async function attached(ctx: Ctx, arg: string, node: string, endpoint: string): Promise<{ t: ContainerTarget; w: WorkloadEndpoint }> {
  const t = await resolveContainer(arg);
  const w = (await findWorkloadEndpoints(ctx.ds, { node, orchestrator: t.orchestrator, workload: t.workload })).find(
    (x) => x.spec.endpoint === endpoint,
  );
  if (!w) throw new CliError(`container ${arg} has no Calico endpoint ${endpoint} on node ${node}: use \`calicoctl container add\` first`);
  return { t, w };
}

async function changeIp(ctx: Ctx, arg: string, action: 'add' | 'remove', request: AddressRequest, node: string, opts: ContainerOpts): Promise<void> {
  const { t, w } = await attached(ctx, arg, node, opts.interface);
  const ref = { node, orchestrator: t.orchestrator, workload: t.workload, endpoint: opts.interface, namespace: w.metadata.namespace };
  if (action === 'add') {
    const ips = await addWorkloadIps(ctx, { ...ref, netnsPath: requireNetns(arg, t), ...request });
    process.stdout.write(`IP ${ips.join(', ')} added to ${arg}\n`);
    return;
  }
  const ips = request.ips!;
  await removeWorkloadIps(ctx, { ...ref, netnsPath: requireNetns(arg, t), ips });
  process.stdout.write(`IP ${ips.join(', ')} removed from ${arg}\n`);
}

async function changeProfiles(ctx: Ctx, arg: string, change: ProfileChange, profiles: string[], node: string, opts: ContainerOpts): Promise<void> {
  const { t, w } = await attached(ctx, arg, node, opts.interface);
  const updated = await setWorkloadProfiles(
    ctx.ds,
    { node, orchestrator: t.orchestrator, workload: t.workload, endpoint: opts.interface, namespace: w.metadata.namespace },
    change,
    profiles,
  );
  process.stdout.write(`Profiles of ${arg}: ${(updated.spec.profiles ?? []).join(', ') || '(none)'}\n`);
}

async function show(ctx: Ctx, arg: string, node: string): Promise<void> {
  const t = await resolveContainer(arg);
  printEndpoints(await findWorkloadEndpoints(ctx.ds, { node, orchestrator: t.orchestrator, workload: t.workload }), 'wide');
}
