import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Where one node keeps its files. Every path comes from CALICO_RUN_DIR /
 * CALICO_LOG_DIR / CALICO_CONFD_DIR, so several nodes can share a machine.
 */
export interface NodeLayout {
  runDir: string;
  logDir: string;
  confdDir: string;
}

/** The supervisor's pid (what `node stop` signals). */
export const supervisorPidFile = (l: NodeLayout) => join(l.runDir, 'calico-node.pid');
/** The supervisor's view of itself and its children, rewritten on every change. */
export const supervisorStateFile = (l: NodeLayout) => join(l.runDir, 'calico-node.json');
export const supervisorLogFile = (l: NodeLayout) => join(l.logDir, 'calico-node.log');
export const childLogFile = (l: NodeLayout, child: string) => join(l.logDir, `${child}.log`);
export const childPidFile = (l: NodeLayout, child: string) => join(l.runDir, `${child}.pid`);
export const birdSocket = (l: NodeLayout, family: 4 | 6) => join(l.runDir, family === 4 ? 'bird.ctl' : 'bird6.ctl');
export const birdConfig = (l: NodeLayout, family: 4 | 6) => join(l.confdDir, family === 4 ? 'bird.cfg' : 'bird6.cfg');

export type NodeState = 'starting' | 'running' | 'failed' | 'stopping' | 'stopped';

export interface ChildState {
  pid?: number;
  argv: string[];
  restarts: number;
  ready: boolean;
  startedAt?: string;
}

/** Content of calico-node.json. */
export interface SupervisorState {
  pid: number;
  nodeName: string;
  backend: 'bird' | 'none';
  state: NodeState;
  error?: string;
  children: Record<string, ChildState>;
}

export function readState(l: NodeLayout): SupervisorState | undefined {
  try {
    return JSON.parse(readFileSync(supervisorStateFile(l), 'utf8')) as SupervisorState;
  } catch {
    return undefined;
  }
}

export function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is dead for our purposes
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Send a signal to a pid that may have exited meanwhile. */
export function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Is pid alive and running the program argv0 (guards against a reused pid)? */
export function pidRuns(pid: number | undefined, argv0: string): boolean {
  if (!pidAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] === argv0;
  } catch {
    return false;
  }
}

/** The pid of a running supervisor for this layout (checks it really is one, not a reused pid). */
export function runningSupervisor(l: NodeLayout): number | undefined {
  const pid = readPid(supervisorPidFile(l));
  if (!pidAlive(pid)) return undefined;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const detached = cmdline[1]?.endsWith('/supervise-main.js');
    return detached || (cmdline.includes('node') && (cmdline.includes('supervise') || cmdline.includes('run'))) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Last lines of a log file, for error messages. */
export function logTail(file: string, lines = 15): string {
  try {
    const text = readFileSync(file, 'utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
