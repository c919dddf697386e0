import type { Command } from 'commander';
import * as lib from '@calico/libcalico';
import { openClient } from '../context.js';

/** Datastore + IPAM for the workload commands; close() when done. */
export async function openWorkloadContext(cmd: Command): Promise<lib.WorkloadContext & { close(): Promise<void> }> {
  const c = await openClient(cmd);
  return { ds: c.ds, ipam: new lib.Ipam(c.ds), close: c.close };
}
