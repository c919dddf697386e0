import type { IptablesTable } from '../drivers/iptables.js';
import type { IpsetsDriver } from '../drivers/ipsets.js';
import type { RouteTable } from '../drivers/routes.js';
import type { Sysctls } from '../drivers/sysctls.js';
import type { IpVersion } from '../names.js';

/**
 * The desired-state sinks the managers write to. Their setters only record
 * desired state (no I/O); the dataplane applies it later in batches.
 */
export interface DesiredState {
  versions: IpVersion[];
  filter: Record<IpVersion, IptablesTable>;
  nat: Record<IpVersion, IptablesTable>;
  raw: Record<IpVersion, IptablesTable>;
  ipsets: IpsetsDriver;
  routes: RouteTable;
  sysctls: Sysctls;
}
