// What a lab created, recorded on disk as it goes (so a crashed run, or a demo left up
// with --keep, can be torn down later by run id), and the synchronous destroy that
// removes it: processes inside the lab's namespaces (by PID), the namespaces, the dirs.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface LabState {
  id: string;
  dir: string;
  /** every netns this lab created, in creation order */
  netns: string[];
  /** directories outside `dir` to remove (etcd's data dir) */
  dirs: string[];
}

export const labDir = (id: string): string => `/tmp/calilab-${id}`;
const stateFile = (dir: string): string => join(dir, 'lab.json');

export function saveState(s: LabState): void {
  writeFileSync(stateFile(s.dir), JSON.stringify(s, null, 2));
}

export function loadState(id: string): LabState | undefined {
  const f = stateFile(labDir(id));
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as LabState) : undefined;
}

const sleepSync = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

/** PIDs of the processes whose network namespace is `ns` (all of them started by the lab). */
export function netnsPids(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((p) => p !== process.pid);
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const p of pids) {
    try {
      process.kill(p, sig);
    } catch {
      /* already gone */
    }
  }
}

/**
 * Ends every process living in the lab's namespaces (TERM, then KILL after `graceMs`),
 * deletes the namespaces and the directories. Synchronous, so it also runs from an
 * `exit` handler. Safe to call twice.
 */
export function destroySync(s: LabState, graceMs = 2000): void {
  const live = (): number[] => s.netns.flatMap(netnsPids);
  let pids = live();
  if (pids.length) {
    signal(pids, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while ((pids = live()).length && Date.now() < deadline) sleepSync(50);
    if (pids.length) {
      signal(pids, 'SIGKILL');
      const killDeadline = Date.now() + 2000;
      while (live().length && Date.now() < killDeadline) sleepSync(20);
    }
  }
  // workloads first: deleting a namespace removes its veths with it
  for (const ns of [...s.netns].reverse()) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  for (const d of [...s.dirs, s.dir]) rmSync(d, { recursive: true, force: true });
}

/** Tear down a lab by run id (used by `demo.ts --teardown ID`). */
export function destroyById(id: string): LabState | undefined {
  if (!/^[0-9a-f]{6}$/.test(id)) throw new Error(`run id: expected 6 hex digits, got "${id}"`);
  const s = loadState(id);
  if (!s) return undefined;
  destroySync(s);
  return s;
}
