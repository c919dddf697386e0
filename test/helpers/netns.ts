import { randomBytes } from 'node:crypto';
import { run } from '@calico/libcalico';

/** Short unique id for names this run creates (netns, interfaces, etcd prefixes). */
export function runId(): string {
  return randomBytes(3).toString('hex');
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('this test needs root (network namespaces, iptables): run as root');
}

/** Run a command inside a named network namespace. */
export function inNs(ns: string, cmd: string[], opts: Parameters<typeof run>[1] = {}) {
  return run(['ip', 'netns', 'exec', ns, ...cmd], opts);
}

/** Create a namespace with lo up; returns its name. */
export async function createNetns(name: string): Promise<string> {
  requireRoot();
  await run(['ip', 'netns', 'add', name]);
  await run(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Delete a namespace we created (ignores one that is already gone). */
export async function deleteNetns(name: string): Promise<void> {
  await run(['ip', 'netns', 'del', name], { allowFail: true });
}

/** Names of the links in a namespace. */
export async function linkNames(ns: string): Promise<string[]> {
  const r = await inNs(ns, ['ip', '-j', 'link', 'show']);
  return (JSON.parse(r.stdout) as { ifname: string }[]).map((l) => l.ifname);
}
