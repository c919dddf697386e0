/**
 * Kernel plumbing for one workload: the veth pair between a host and a
 * container network namespace, the container's addresses and routes, and
 * the host-side sysctls that make the 169.254.1.1 gateway answer.
 *
 * What this module does NOT do: the host route `<ip>/32 dev caliX scope link`
 * (and /128). Felix installs it when the WorkloadEndpoint appears in the
 * datastore, exactly as in Calico, so that a host route exists only for an
 * endpoint felix knows about (and felix removes it again).
 *
 * Namespaces are given as paths (`/var/run/netns/x`, `/proc/PID/ns/net`).
 * Commands run as argument arrays, through `nsenter --net=PATH` when a
 * namespace other than the caller's is meant.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { ValidationError } from '../errors.js';
import { ExecError, run } from '../exec.js';
import { ipFamily, parseIp } from '../net.js';
import { undoAndRethrow } from './undo.js';
import { interfaceNameField } from '../resources/fields.js';

/** The fixed MAC of every host-side veth end (Calico's choice). */
export const HOST_SIDE_MAC = 'ee:ee:ee:ee:ee:ee';
/** The IPv4 gateway every workload routes through; the host answers for it by proxy ARP. */
export const IPV4_GATEWAY = '169.254.1.1';
/** The IPv6 gateway: the host end's link-local address (the EUI-64 one of HOST_SIDE_MAC, as Calico's). */
export const IPV6_GATEWAY = 'fe80::ecee:eeff:feee:eeee';
/** Linux's limit on interface names (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;

/**
 * Host-side interface name for an endpoint: prefix + the first hex digits
 * of sha1(endpointId), 15 characters in all (`cali` + 11).
 */
export function hostInterfaceName(endpointId: string, prefix = 'cali'): string {
  if (!prefix || prefix.length >= MAX_IFNAME) {
    throw new ValidationError('interfacePrefix', `must be 1-${MAX_IFNAME - 1} characters`);
  }
  const hash = createHash('sha1').update(endpointId).digest('hex');
  return prefix + hash.slice(0, MAX_IFNAME - prefix.length);
}

/** Throw ValidationError(field) unless path names an existing network namespace file. */
export function validateNetnsPath(path: string, field: string): void {
  if (!path.startsWith('/') || /\s/.test(path)) {
    throw new ValidationError(field, `${JSON.stringify(path)} must be an absolute path (without spaces) to a network namespace`);
  }
  if (!existsSync(path)) throw new ValidationError(field, `network namespace ${path} does not exist`);
}

/** Prefix a command so it runs in the namespace at netnsPath (or here, if undefined). */
export function inNetns(netnsPath: string | undefined, cmd: string[]): string[] {
  return netnsPath ? ['nsenter', `--net=${netnsPath}`, ...cmd] : cmd;
}

/**
 * Set sysctls in a namespace: written straight to /proc/sys when it is our
 * own (no process), else with `sysctl -w` inside it. Keys are slash-separated,
 * so interface names with dots are safe.
 */
async function sysctl(netnsPath: string | undefined, settings: Record<string, string>): Promise<void> {
  if (netnsPath === undefined) {
    for (const [k, v] of Object.entries(settings)) await writeFile(`/proc/sys/${k}`, v);
    return;
  }
  await run(inNetns(netnsPath, ['sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]));
}

/** Run `ip -batch -` with one command per line (stops at the first failure). */
function ipBatch(netnsPath: string | undefined, lines: string[]): Promise<unknown> {
  return run(inNetns(netnsPath, ['ip', '-batch', '-']), { input: lines.join('\n') + '\n' });
}

/** The line of an `ip -batch -` that failed ("Command failed -:N"), if that is what failed. */
function failedBatchLine(e: unknown): number | undefined {
  const m = e instanceof ExecError ? /Command failed -:(\d+)/.exec(e.result.stderr) : null;
  return m ? Number(m[1]) : undefined;
}

/** A random locally administered unicast MAC for the container end. */
function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function checkIps(ips: string[], family: 4 | 6, field: string): void {
  for (const ip of ips) {
    parseIp(ip, field);
    if (ipFamily(ip) !== family) throw new ValidationError(field, `${ip} is not an IPv${family} address`);
  }
}

function checkMtu(mtu: number | undefined): void {
  if (mtu !== undefined && !(Number.isInteger(mtu) && mtu >= 68 && mtu <= 65535)) {
    throw new ValidationError('mtu', 'must be an integer from 68 to 65535');
  }
}

/** Whether the kernel has IPv6 at all (booted without ipv6.disable=1). */
const kernelHasIpv6 = (): boolean => existsSync('/proc/sys/net/ipv6');

/**
 * Create the pair and bring the host end up, in one `ip -batch` (one
 * process). The first line creates both ends in one netlink request (the
 * peer by name plus its own options, e.g. `netns PATH`), so a name clash on
 * either side fails before anything exists. The host end gets no
 * kernel-generated link-local address but the gateway one, added without
 * DAD, so the IPv6 gateway answers as soon as the link is up. If a later
 * line fails the pair is deleted again.
 */
async function createPair(o: { hostNetns?: string; hostIfName: string; peerName: string; peerOpts: string[]; mtu?: number }): Promise<void> {
  const mtu = o.mtu !== undefined ? ` mtu ${o.mtu}` : '';
  const host = o.hostIfName;
  try {
    await ipBatch(o.hostNetns, [
      `link add ${host} address ${HOST_SIDE_MAC}${mtu} type veth peer name ${o.peerName}${mtu} ${o.peerOpts.join(' ')}`,
      ...(kernelHasIpv6() ? [`link set ${host} addrgenmode none`, `addr add ${IPV6_GATEWAY}/64 dev ${host} nodad`] : []),
      `link set ${host} up`,
    ]);
  } catch (e) {
    const line = failedBatchLine(e);
    if (line === 1 && e instanceof ExecError && /File exists/.test(e.result.stderr)) {
      throw new ValidationError('interface', `${host} (host end) or ${o.peerName} (other end) already exists`);
    }
    if (line === undefined || line === 1) throw e; // nothing was created
    return undoAndRethrow(e, [() => detachWorkload({ hostIfName: host, hostNetns: o.hostNetns })]);
  }
}

export interface AttachOptions {
  /** the container's network namespace */
  netnsPath: string;
  /** host end name (see hostInterfaceName) */
  hostIfName: string;
  /** container end name, e.g. eth0 */
  containerIfName: string;
  /** bare addresses; each becomes a /32 */
  ipv4: string[];
  /** bare addresses; each becomes a /128 */
  ipv6: string[];
  mtu?: number;
  /** namespace where the host end lives; default: the caller's */
  hostNetns?: string;
}

export interface AttachResult {
  /** MAC of the container end */
  mac: string;
  hostIfName: string;
}

/**
 * Create the veth pair and configure both ends. The container end is created
 * directly inside the container's namespace under its final name, so no
 * temporary name is needed. Any failure after creation deletes the pair again.
 * Costs two processes (one more with IPv6, one more when hostNetns is given).
 */
export async function attachWorkload(o: AttachOptions): Promise<AttachResult> {
  interfaceNameField(o.hostIfName, 'hostIfName');
  interfaceNameField(o.containerIfName, 'containerIfName');
  validateNetnsPath(o.netnsPath, 'netnsPath');
  if (o.hostNetns !== undefined) validateNetnsPath(o.hostNetns, 'hostNetns');
  checkIps(o.ipv4, 4, 'ipv4');
  checkIps(o.ipv6, 6, 'ipv6');
  checkMtu(o.mtu);
  const mac = randomMac();
  await createPair({ ...o, peerName: o.containerIfName, peerOpts: ['address', mac, 'netns', o.netnsPath] });
  try {
    await hostEndSysctls(o.hostNetns, o.hostIfName);
    await configureContainer(o.netnsPath, o.containerIfName, o.ipv4, o.ipv6);
  } catch (e) {
    return undoAndRethrow(e, [() => detachWorkload({ hostIfName: o.hostIfName, hostNetns: o.hostNetns })]);
  }
  return { mac, hostIfName: o.hostIfName };
}

/**
 * Host end: proxy ARP with no delay (answers for 169.254.1.1) and
 * forwarding. Set right after the link comes up, before the container has an
 * address to send from. Felix enforces the same sysctls (plus rp_filter).
 */
async function hostEndSysctls(hostNetns: string | undefined, ifName: string): Promise<void> {
  await sysctl(hostNetns, {
    [`net/ipv4/conf/${ifName}/proxy_arp`]: '1',
    [`net/ipv4/neigh/${ifName}/proxy_delay`]: '0',
    [`net/ipv4/conf/${ifName}/forwarding`]: '1',
    ...(kernelHasIpv6() ? { [`net/ipv6/conf/${ifName}/forwarding`]: '1' } : {}),
  });
}

/** Container end: IPv6 on and without DAD (if used), addresses, up, gateway routes. */
async function configureContainer(netnsPath: string, ifName: string, ipv4: string[], ipv6: string[]): Promise<void> {
  if (ipv6.length > 0) {
    await sysctl(netnsPath, {
      [`net/ipv6/conf/${ifName}/disable_ipv6`]: '0',
      [`net/ipv6/conf/${ifName}/accept_dad`]: '0',
    });
  }
  await ipBatch(netnsPath, [
    ...ipv4.map((ip) => `addr add ${ip}/32 dev ${ifName}`),
    ...ipv6.map((ip) => `addr add ${ip}/128 dev ${ifName} nodad`),
    `link set ${ifName} up`,
    ...gatewayRoutes(ifName, ipv4.length > 0, ipv6.length > 0),
  ]);
}

function gatewayRoutes(ifName: string, v4: boolean, v6: boolean): string[] {
  return [
    ...(v4 ? [`route replace ${IPV4_GATEWAY} dev ${ifName} scope link`, `route replace default via ${IPV4_GATEWAY} dev ${ifName}`] : []),
    ...(v6 ? [`route replace default via ${IPV6_GATEWAY} dev ${ifName}`] : []),
  ];
}

export interface HostVethOptions {
  hostIfName: string;
  /** name of the other end, left in the host namespace for a runtime to move (Docker's SrcName) */
  peerIfName: string;
  mtu?: number;
  hostNetns?: string;
}

/**
 * For runtimes that move the container end themselves (Docker's remote
 * driver): create the pair with both ends in the host namespace, configure
 * the host end as attachWorkload does, and return the peer's MAC. The peer
 * stays down and unaddressed; the runtime moves, renames and addresses it.
 * Rolled back on failure.
 */
export async function createHostVeth(o: HostVethOptions): Promise<{ peerMac: string }> {
  interfaceNameField(o.hostIfName, 'hostIfName');
  interfaceNameField(o.peerIfName, 'peerIfName');
  if (o.hostNetns !== undefined) validateNetnsPath(o.hostNetns, 'hostNetns');
  checkMtu(o.mtu);
  const peerMac = randomMac();
  await createPair({ ...o, peerName: o.peerIfName, peerOpts: ['address', peerMac] });
  try {
    await hostEndSysctls(o.hostNetns, o.hostIfName);
  } catch (e) {
    return undoAndRethrow(e, [() => detachWorkload({ hostIfName: o.hostIfName, hostNetns: o.hostNetns })]);
  }
  return { peerMac };
}

export interface DetachOptions {
  hostIfName: string;
  hostNetns?: string;
}

/** Delete the veth pair (both ends go together). Succeeds if it is already gone. */
export async function detachWorkload(o: DetachOptions): Promise<void> {
  interfaceNameField(o.hostIfName, 'hostIfName');
  const r = await run(inNetns(o.hostNetns, ['ip', 'link', 'del', o.hostIfName]), { allowFail: true });
  if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) {
    throw new ExecError(['ip', 'link', 'del', o.hostIfName], r);
  }
}

export interface ContainerIpsOptions {
  netnsPath: string;
  containerIfName: string;
  ips: string[];
}

/**
 * Add addresses to a running workload (/32 or /128), with the gateway route
 * of each family that gets its first address. Adding one that is present is
 * an error from the kernel ("File exists").
 */
export async function addContainerIps(o: ContainerIpsOptions): Promise<void> {
  validateNetnsPath(o.netnsPath, 'netnsPath');
  interfaceNameField(o.containerIfName, 'containerIfName');
  const v4 = o.ips.filter((ip) => ipFamily(ip) === 4);
  const v6 = o.ips.filter((ip) => ipFamily(ip) === 6);
  if (v4.length + v6.length !== o.ips.length) throw new ValidationError('ip', `not an IP address in ${o.ips.join(', ')}`);
  if (v6.length > 0) {
    await sysctl(o.netnsPath, { [`net/ipv6/conf/${o.containerIfName}/disable_ipv6`]: '0' });
  }
  await ipBatch(o.netnsPath, [
    ...v4.map((ip) => `addr add ${ip}/32 dev ${o.containerIfName}`),
    ...v6.map((ip) => `addr add ${ip}/128 dev ${o.containerIfName} nodad`),
    ...gatewayRoutes(o.containerIfName, v4.length > 0, v6.length > 0),
  ]);
}

/** Remove addresses from a running workload; one that is already gone is fine. */
export async function removeContainerIps(o: ContainerIpsOptions): Promise<void> {
  validateNetnsPath(o.netnsPath, 'netnsPath');
  interfaceNameField(o.containerIfName, 'containerIfName');
  for (const ip of o.ips) {
    const family = ipFamily(ip);
    if (!family) throw new ValidationError('ip', `${ip} is not an IP address`);
    const r = await run(
      inNetns(o.netnsPath, ['ip', 'addr', 'del', `${ip}/${family === 4 ? 32 : 128}`, 'dev', o.containerIfName]),
      { allowFail: true },
    );
    if (r.code !== 0 && !/Address not found|Cannot assign requested address|Cannot find device/.test(r.stderr)) {
      throw new ExecError(['ip', 'addr', 'del', ip], r);
    }
  }
}
