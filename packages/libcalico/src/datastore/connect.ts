import { etcdConfigFromEnv, type EtcdConfig } from '../config.js';
import type { Datastore } from './types.js';

/**
 * Open the etcd datastore. The etcd client (grpc) is loaded only here, so
 * commands that never touch etcd start fast.
 */
export async function connectDatastore(cfg: EtcdConfig = etcdConfigFromEnv()): Promise<Datastore> {
  const { EtcdDatastore } = await import('./etcd.js');
  return new EtcdDatastore(cfg);
}
