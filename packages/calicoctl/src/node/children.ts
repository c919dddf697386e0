import { join } from 'node:path';
import { findProgram, shebangNodeFlags } from '@calico/libcalico/exec';
import { fileURLToPath } from 'node:url';
import { birdConfig, birdSocket, childPidFile, type NodeLayout } from './layout.js';

/** How the supervisor knows a child is up. */
export type Readiness =
  /** BIRD answers on its control socket; `config` is the file confd renders for it */
  | { kind: 'bird'; socket: string; config: string }
  | { kind: 'file'; path: string };

export interface ChildSpec {
  /** also the name of its log (<logDir>/<name>.log) and pid file */
  name: string;
  argv: string[];
  ready: Readiness;
  /** the child that must be ready before this one starts (BIRD reads the configs confd renders) */
  after?: string;
}

export type Backend = 'bird' | 'none';

/**
 * The command for one of our node binaries: an override from the environment
 * (a .js file runs under this node, anything else is executed as is), else
 * the sibling workspace package's bundled main (dist/main.bundle.js), so no
 * PATH or global install is needed. A .js file gets the node flags its
 * shebang asks for.
 */
export function nodeBinary(pkg: 'felix' | 'confd', env: NodeJS.ProcessEnv = process.env): string[] {
  const override = env[pkg === 'felix' ? 'CALICO_FELIX_BIN' : 'CALICO_CONFD_BIN'];
  const path = override || fileURLToPath(import.meta.resolve(`@calico/${pkg}/main.bundle`));
  return /\.[cm]?js$/.test(path) ? [process.execPath, ...shebangNodeFlags(path), path] : [path];
}

/**
 * felix readiness, as the felix package documents it: `<runDir>/felix-ready`
 * exists once felix is in sync with the datastore and has programmed the
 * dataplane.
 */
export const felixReadyFile = (layout: NodeLayout) => join(layout.runDir, 'felix-ready');

/**
 * confd readiness: `<runDir>/confd-ready` exists once the confd daemon's first
 * render has put bird.cfg and bird6.cfg in place (see docs/readme/confd.md).
 */
export const confdReadyFile = (layout: NodeLayout) => join(layout.runDir, 'confd-ready');

/**
 * The children of a node, in start order (stopped in reverse). felix and confd
 * start at once; BIRD starts when confd's first render is done.
 */
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
        ready: { kind: 'bird', socket: birdSocket(layout, family), config: birdConfig(layout, family) },
        after: 'confd',
      });
    }
    children.push({ name: 'confd', argv: nodeBinary('confd', env), ready: { kind: 'file', path: confdReadyFile(layout) } });
  }
  children.push({ name: 'felix', argv: nodeBinary('felix', env), ready: { kind: 'file', path: felixReadyFile(layout) } });
  return children;
}
