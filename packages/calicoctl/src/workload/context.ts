import type { Command } from 'commander';
import { Ipam } from '@calico/libcalico/ipam/ipam';
import type { WorkloadContext } from '@calico/libcalico/workload/endpoint';
import { openClient } from '../context.js';

/** Datastore + IPAM for the workload commands; close() when done. */
export async function openWorkloadContext(cmd: Command): Promise<WorkloadContext & { close(): Promise<void> }> {
  const c = await openClient(cmd);
  return { ds: c.ds, ipam: new Ipam(c.ds), close: c.close };
}
