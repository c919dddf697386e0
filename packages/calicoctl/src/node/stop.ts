import { rmSync } from 'node:fs';
import { childPidFile, pidAlive, pidRuns, signalPid, readState, runningSupervisor, supervisorPidFile, type NodeLayout } from './layout.js';

const POLL_MS = 50;

/**
 * Stop a supervisor and wait until it and every child it reported are gone.
 * SIGTERM lets it stop its children cleanly; `force` SIGKILLs all of them at
 * once (children by the pids it recorded).
 */
export async function stopSupervisor(layout: NodeLayout, pid: number, force: boolean, timeoutMs = 30_000): Promise<void> {
  const children = Object.values(readState(layout)?.children ?? {})
    .filter((c) => pidRuns(c.pid, c.argv[0]!))
    .map((c) => c.pid!);
  signalPid(pid, force ? 'SIGKILL' : 'SIGTERM');
  // each child leads a process group (see Supervisor.spawnChild): the group goes too
  if (force) for (const c of children) signalPid(-c, 'SIGKILL');
  const deadline = Date.now() + timeoutMs;
  while ([pid, ...children].some(pidAlive)) {
    if (Date.now() > deadline) {
      const left = [pid, ...children].filter(pidAlive);
      throw new Error(`calico-node did not stop within ${timeoutMs} ms (pids still running: ${left.join(', ')}): use \`calicoctl node stop --force\``);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  rmSync(supervisorPidFile(layout), { force: true });
  if (force) {
    for (const name of Object.keys(readState(layout)?.children ?? {})) rmSync(childPidFile(layout, name), { force: true });
  }
}

/**
 * Children a dead supervisor left behind (it was SIGKILLed): still running
 * the program recorded in calico-node.json. They hold BIRD's sockets and
 * would fight a new node, so `node run` and `node stop` end them.
 */
export async function stopOrphans(layout: NodeLayout, timeoutMs = 10_000): Promise<number[]> {
  if (runningSupervisor(layout)) return [];
  const orphans = Object.values(readState(layout)?.children ?? {})
    .filter((c) => pidRuns(c.pid, c.argv[0]!))
    .map((c) => c.pid!);
  for (const pid of orphans) signalPid(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (orphans.some(pidAlive)) {
    if (Date.now() > deadline) for (const pid of orphans.filter(pidAlive)) signalPid(-pid, 'SIGKILL');
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  for (const pid of orphans) signalPid(-pid, 'SIGKILL'); // what they started themselves
  return orphans;
}

/** `calicoctl node stop`: the supervisor's pid, or none if no node was running here. */
export async function stopNode(layout: NodeLayout, force: boolean): Promise<{ pid?: number; orphans: number[] }> {
  const pid = runningSupervisor(layout);
  if (!pid) return { orphans: await stopOrphans(layout) };
  await stopSupervisor(layout, pid, force);
  return { pid, orphans: [] };
}
