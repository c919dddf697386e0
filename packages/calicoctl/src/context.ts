import type { Command } from 'commander';
import type { Datastore, ResourceClient } from '@calico/libcalico';

/** Global options every command can read (from the root program). */
export interface GlobalOpts {
  etcdEndpoints?: string;
  logLevel?: string;
}

export function globalOpts(cmd: Command): GlobalOpts {
  let root = cmd;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOpts>();
}

/**
 * Open the datastore for a command (loads the etcd client lazily).
 * Call `close()` when done so the process can exit.
 */
export async function openClient(cmd: Command): Promise<{ ds: Datastore; client: ResourceClient; close(): Promise<void> }> {
  const lib = await import('@calico/libcalico');
  const cfg = lib.etcdConfigFromEnv(process.env, globalOpts(cmd).etcdEndpoints);
  const ds = await lib.connectDatastore(cfg);
  const client = new lib.ResourceClient(ds);
  return { ds, client, close: () => ds.close() };
}
