import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ValidationError } from '@calico/libcalico/errors';
import { etcdConfigFromEnv, nodePaths, type EtcdConfig } from '@calico/libcalico/config';
import type { ResourceClient } from '@calico/libcalico';
import { checkDns1123Subdomain } from '@calico/libcalico/resources/names';
import { autodetect, explicitAddress, type HostAddress } from './autodetect.js';
import { checkSystem } from './checksystem.js';
import type { Backend } from './children.js';
import {
  logTail,
  pidAlive,
  readState,
  runningSupervisor,
  supervisorLogFile,
  supervisorStateFile,
  type NodeLayout,
} from './layout.js';
import { stopOrphans, stopSupervisor } from './stop.js';
import { registerNode, unregisterAfterFailure } from './registration.js';

export interface RunOptions {
  name: string;
  ip: string;
  ip6?: string;
  as?: string;
  backend: string;
  foreground: boolean;
  ipAutodetectionMethod: string;
  ip6AutodetectionMethod: string;
  /** --etcd-endpoints, if given */
  etcdEndpoints?: string;
}

interface Parsed {
  backend: Backend;
  asNumber?: number;
}

const POLL_MS = 50;
/** how long `node run` waits for the node to come up (each child also has its own start-up limit) */
const START_TIMEOUT_MS = 120_000;

function parseOptions(o: RunOptions): Parsed {
  if (o.backend !== 'bird' && o.backend !== 'none') throw new ValidationError('--backend', `must be bird or none, got ${JSON.stringify(o.backend)}`);
  checkDns1123Subdomain(o.name, '--name');
  return { backend: o.backend, asNumber: o.as === undefined ? undefined : parseAsNumber(o.as, '--as') };
}

/** AS numbers as plain (1–4294967295) or asdot (1.10) notation. */
export function parseAsNumber(text: string, field: string): number {
  const dot = /^(\d+)\.(\d+)$/.exec(text);
  const n = dot ? Number(dot[1]) * 65536 + Number(dot[2]) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 4294967295 || (dot && (Number(dot[1]) > 65535 || Number(dot[2]) > 65535))) {
    throw new ValidationError(field, `${JSON.stringify(text)} is not an AS number (1-4294967295 or asdot x.y)`);
  }
  return n;
}

async function resolveAddress(value: string | undefined, family: 4 | 6, method: string, warn: (m: string) => void): Promise<HostAddress | undefined> {
  if (value === undefined || value === '') return undefined;
  const field = family === 4 ? '--ip' : '--ip6';
  if (value === 'autodetect') return autodetect(family, method, family === 4 ? '--ip-autodetection-method' : '--ip6-autodetection-method');
  return explicitAddress(value, family, field, warn);
}

/** Forwarding on, in this network namespace (the host's). */
function enableForwarding(): void {
  writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
  if (existsSync('/proc/sys/net/ipv6/conf/all/forwarding')) writeFileSync('/proc/sys/net/ipv6/conf/all/forwarding', '1');
}

/** The environment the supervisor and its children run with. */
function childEnv(name: string, backend: Backend, etcd: EtcdConfig, layout: NodeLayout, addrs: { v4?: HostAddress; v6?: HostAddress }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODENAME: name,
    ETCD_ENDPOINTS: etcd.endpoints.join(','),
    CALICO_RUN_DIR: layout.runDir,
    CALICO_LOG_DIR: layout.logDir,
    CALICO_CONFD_DIR: layout.confdDir,
    CALICO_NETWORKING_BACKEND: backend,
  };
  // calicoctl's own --log-level (LOG_LEVEL) is not the daemons' log level
  delete env.LOG_LEVEL;
  if (addrs.v4) env.IP = addrs.v4.ip;
  if (addrs.v6) env.IP6 = addrs.v6.ip;
  return env;
}

/**
 * `calicoctl node run`: check the system, register the Node, enable
 * forwarding, make the node's directories and start the supervisor
 * (detached, or in this process with --foreground). Resolves once every
 * child is ready; on failure the supervisor is stopped and the Node
 * resource put back as it was.
 */
export async function runNode(o: RunOptions, client: ResourceClient, out: (line: string) => void): Promise<void> {
  const { backend, asNumber } = parseOptions(o);
  const layout = nodePaths(process.env);
  const etcd = etcdConfigFromEnv(process.env, o.etcdEndpoints);
  const already = runningSupervisor(layout);
  if (already) throw new Error(`calico-node is already running here (pid ${already}, run dir ${layout.runDir}): run \`calicoctl node stop\` first`);

  const orphans = await stopOrphans(layout);
  if (orphans.length) out(`Stopped processes left by an earlier node that died: ${orphans.join(', ')}`);

  const checks = await checkSystem({ backend, etcd });
  const failed = checks.filter((c) => !c.ok);
  if (failed.length) throw new Error(`system check failed: ${failed.map((c) => `${c.name}: ${c.detail}`).join('; ')} (see calicoctl node checksystem)`);

  const warn = (m: string) => out(`WARNING: ${m}`);
  const v4 = await resolveAddress(o.ip, 4, o.ipAutodetectionMethod, warn);
  const v6 = await resolveAddress(o.ip6, 6, o.ip6AutodetectionMethod, warn);
  if (backend === 'bird' && !v4) throw new ValidationError('--ip', 'an IPv4 address is required with --backend bird (it is the BGP router id)');

  const { before } = await registerNode(client, { name: o.name, ipv4: v4, ipv6: v6, asNumber });
  out(`Node ${o.name} registered (IPv4 ${v4 ? `${v4.ip}/${v4.prefixLen}` : 'none'}, IPv6 ${v6 ? `${v6.ip}/${v6.prefixLen}` : 'none'}${asNumber ? `, AS ${asNumber}` : ''})`);
  try {
    enableForwarding();
    for (const d of [layout.runDir, layout.logDir, layout.confdDir]) mkdirSync(d, { recursive: true });
    const env = childEnv(o.name, backend, etcd, layout, { v4, v6 });
    if (o.foreground) {
      // loaded only here: the supervisor's logger is not needed to start a detached one
      const { runForeground } = await import('./supervise.js');
      await runForeground(o.name, backend, layout, env);
      return;
    }
    const pid = await startDetached(layout, env, START_TIMEOUT_MS);
    out(`Calico node ${o.name} is running (supervisor pid ${pid}; logs in ${layout.logDir})`);
  } catch (e) {
    await unregisterAfterFailure(client, o.name, before).catch(() => {});
    throw e;
  }
}

async function waitGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, POLL_MS));
}

/** Start the supervisor (supervise-main.js) in its own session and wait until it reports the node up. */
async function startDetached(layout: NodeLayout, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number> {
  rmSync(supervisorStateFile(layout), { force: true });
  // resolved through the package's exports: this code also runs from the bundle in dist/
  const main = fileURLToPath(import.meta.resolve('@calico/calicoctl/node/supervise-main'));
  const logFile = supervisorLogFile(layout);
  const fd = openSync(logFile, 'a');
  let pid: number | undefined;
  try {
    const child = spawn(process.execPath, [main], { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (!pid) throw new Error(`cannot start the supervisor (${process.execPath} ${main})`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = readState(layout);
    if (st?.pid === pid && st.state === 'running') return pid;
    if (st?.pid === pid && st.state === 'failed') {
      // it has stopped its children; let it finish exiting so nothing is left when we return
      await waitGone(pid, 10_000);
      throw new Error(`node failed to start: ${st.error}`);
    }
    if (!pidAlive(pid)) {
      throw new Error(`the supervisor (pid ${pid}) exited during start-up; last lines of ${logFile}: ${logTail(logFile)}`);
    }
    if (Date.now() > deadline) {
      await stopSupervisor(layout, pid, false);
      throw new Error(`node did not come up within ${timeoutMs} ms (state ${st?.state ?? 'unknown'}); see ${layout.logDir}`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
