import type { Command } from 'commander';
import type { Datastore, EtcdConfig, ResourceClient } from '@calico/libcalico';

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
 * The CLI's per-request etcd deadline when ETCD_TIMEOUT_MS is not set: an
 * operator at a terminal should hear about a dead etcd within seconds.
 */
const CLI_ETCD_TIMEOUT_MS = 3000;

export interface CtlClient {
  ds: Datastore;
  client: ResourceClient;
  close(): Promise<void>;
}

/**
 * Open the datastore for a command (loads the etcd client lazily).
 * Call `close()` when done so the process can exit.
 */
export async function openClient(cmd: Command): Promise<CtlClient> {
  // Sub-path imports: the libcalico index would load every module (logging, plumbing, …).
  const [{ etcdConfigFromEnv }, { ResourceClient }] = await Promise.all([
    import('@calico/libcalico/config'),
    import('@calico/libcalico/resources/client'),
  ]);
  const cfg = etcdConfigFromEnv(process.env, globalOpts(cmd).etcdEndpoints);
  if (!process.env.ETCD_TIMEOUT_MS) cfg.timeoutMs = CLI_ETCD_TIMEOUT_MS;
  const ds = await openDatastore(cfg);
  return { ds, client: new ResourceClient(ds), close: () => ds.close() };
}

/**
 * etcd over its JSON gateway (fast to load, see libcalico datastore/gateway.ts), or over
 * gRPC with the etcd3 client when CALICOCTL_ETCD_CLIENT=grpc.
 */
async function openDatastore(cfg: EtcdConfig): Promise<Datastore> {
  if (process.env.CALICOCTL_ETCD_CLIENT === 'grpc') {
    const { connectDatastore } = await import('@calico/libcalico/datastore/connect');
    return connectDatastore(cfg);
  }
  const { GatewayDatastore } = await import('@calico/libcalico/datastore/gateway');
  return new GatewayDatastore(cfg);
}

/**
 * Run `fn` with just the datastore (no resource validation loaded: the
 * fastest path, used by `get`), closing it afterwards.
 */
export async function withDatastore<T>(cmd: Command, fn: (ds: Datastore) => Promise<T>): Promise<T> {
  const { etcdConfigFromEnv } = await import('@calico/libcalico/config');
  const cfg = etcdConfigFromEnv(process.env, globalOpts(cmd).etcdEndpoints);
  if (!process.env.ETCD_TIMEOUT_MS) cfg.timeoutMs = CLI_ETCD_TIMEOUT_MS;
  const ds = await openDatastore(cfg);
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

/** Run `fn` with an open client and always close it afterwards. */
export async function withClient<T>(cmd: Command, fn: (c: CtlClient) => Promise<T>): Promise<T> {
  const c = await openClient(cmd);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}
