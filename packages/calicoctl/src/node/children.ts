import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { birdConfig, birdSocket, childPidFile, type NodeLayout } from './layout.js';

/** How the supervisor knows a child is up. */
export type Readiness =
  | { kind: 'alive'; ms: number }
  | { kind: 'bird'; socket: string }
  | { kind: 'file'; path: string };

export interface ChildSpec {
  /** also the name of its log (<logDir>/<name>.log) and pid file */
  name: string;
  /** log file name when it differs from name (the one-time confd run shares confd.log) */
  logName?: string;
  argv: string[];
  ready: Readiness;
  /** needs the configs of the one-time confd render (BIRD reads them at start) */
  afterRender?: boolean;
}

export type Backend = 'bird' | 'none';

/**
 * The command for one of our node binaries: an override from the environment
 * (a .js file runs under this node, anything else is executed as is), else
 * the sibling workspace package's dist main, so no PATH or global install is
 * needed.
 */
export function nodeBinary(pkg: 'felix' | 'confd', env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env[pkg === 'felix' ? 'CALICO_FELIX_BIN' : 'CALICO_CONFD_BIN'];
  const path = override || fileURLToPath(import.meta.resolve(`@calico/${pkg}/main`));
  return /\.[cm]?js$/.test(path) ? [process.execPath, path] : [path];
}

/** Find a system program on PATH, also looking in the sbin dirs a non-login PATH may lack. */
export function findProgram(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [...(env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (d && existsSync(join(d, name))) return join(d, name);
  }
  return undefined;
}

/**
 * felix readiness, as the felix package documents it: `<runDir>/felix-ready`
 * exists once felix is in sync with the datastore and has programmed the
 * dataplane.
 */
export const felixReadyFile = (layout: NodeLayout) => join(layout.runDir, 'felix-ready');

/** The one-time confd render that must finish before BIRD can start. */
export function confdOnetime(env: NodeJS.ProcessEnv = process.env): ChildSpec {
  return { name: 'confd-onetime', logName: 'confd', argv: [...nodeBinary('confd', env), '--onetime'], ready: { kind: 'alive', ms: 0 } };
}

/** The long-running children of a node, in start order (felix does not wait for the one-time render). */
export function nodeChildren(layout: NodeLayout, backend: Backend, env: NodeJS.ProcessEnv = process.env): ChildSpec[] {
  const children: ChildSpec[] = [];
  if (backend === 'bird') {
    // -R: graceful-restart recovery, as Calico runs BIRD; a restarted BIRD keeps the
    // routes it had in the kernel until its sessions have converged again
    for (const family of [4, 6] as const) {
      const name = family === 4 ? 'bird' : 'bird6';
      const bin = findProgram(name, env) ?? name;
      children.push({
        name,
        argv: [bin, '-R', '-f', '-c', birdConfig(layout, family), '-s', birdSocket(layout, family), '-P', childPidFile(layout, name)],
        ready: { kind: 'bird', socket: birdSocket(layout, family) },
        afterRender: true,
      });
    }
    children.push({ name: 'confd', argv: nodeBinary('confd', env), ready: { kind: 'alive', ms: 200 }, afterRender: true });
  }
  children.push({ name: 'felix', argv: nodeBinary('felix', env), ready: { kind: 'file', path: felixReadyFile(layout) } });
  return children;
}
