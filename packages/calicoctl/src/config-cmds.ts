// `config get|set|unset NAME [VALUE] [--node N]`: friendly names for the
// common Felix and BGP settings, stored in FelixConfiguration /
// BGPConfiguration `default` (or `node.<N>` with --node).
import type { Resource, ResourceClient } from '@calico/libcalico';
import { durationField, intInRange, parseAsNumber } from '@calico/libcalico/resources/fields';
import { defaultBgpConfiguration } from './bgp-cmds.js';
import { CliError } from './errors.js';
import { modifyResource } from './modify.js';
import { formatTable } from './output.js';

type Kind = 'FelixConfiguration' | 'BGPConfiguration';

export interface ConfigName {
  name: string;
  aliases: string[];
  kind: Kind;
  field: string;
  /** may be set per node (`node.<N>`) */
  perNode: boolean;
  /** value as typed → value stored (throws with the reason) */
  parse(v: string): unknown;
  /** stored value → text */
  show?(v: unknown): string;
  /** Calico's default, shown when unset */
  dflt?: string;
  help: string;
}

const choice =
  (values: string[], aliases: Record<string, string> = {}) =>
  (v: string): string => {
    const hit = values.find((x) => x.toLowerCase() === v.toLowerCase()) ?? aliases[v.toLowerCase()];
    if (!hit) throw new Error(`must be one of ${values.join(', ')}`);
    return hit;
  };
const SEVERITY = choice(['Debug', 'Info', 'Warning', 'Error', 'Fatal'], { warn: 'Warning', critical: 'Fatal' });
const BOOL = (v: string): boolean => {
  if (/^(true|on|yes)$/i.test(v)) return true;
  if (/^(false|off|no)$/i.test(v)) return false;
  throw new Error('must be true or false (on/off)');
};
const ON_OFF = (v: unknown): string => (v ? 'on' : 'off');
const INT = (min: number, max: number) => (v: string) => intInRange(/^\d+$/.test(v) ? Number(v) : v, min, max, 'value');
const DURATION = (v: string) => durationField(v, 'value');

/** The supported names (documented in docs/readme/calicoctl.md). */
export const CONFIG_NAMES: ConfigName[] = [
  { name: 'logLevel', aliases: ['loglevel', 'logSeverityScreen', 'LogSeverityScreen'], kind: 'FelixConfiguration', field: 'logSeverityScreen', perNode: true, parse: SEVERITY, dflt: 'Info', help: 'Felix log level on stderr' },
  { name: 'bgpLogLevel', aliases: ['bgploglevel'], kind: 'BGPConfiguration', field: 'logSeverityScreen', perNode: true, parse: SEVERITY, dflt: 'Info', help: 'BIRD/confd log level' },
  { name: 'asNumber', aliases: ['asnumber', 'as'], kind: 'BGPConfiguration', field: 'asNumber', perNode: false, parse: (v) => parseAsNumber(v, 'value'), dflt: '64512', help: 'default AS of nodes without their own' },
  { name: 'nodeToNodeMesh', aliases: ['nodeToNodeMeshEnabled', 'nodetonodemesh'], kind: 'BGPConfiguration', field: 'nodeToNodeMeshEnabled', perNode: false, parse: BOOL, show: ON_OFF, dflt: 'on', help: 'full BGP mesh between nodes (on|off)' },
  { name: 'listenPort', aliases: ['bgpListenPort'], kind: 'BGPConfiguration', field: 'listenPort', perNode: false, parse: INT(1, 65535), dflt: '179', help: 'BGP listen port' },
  { name: 'ipipEnabled', aliases: ['ipip', 'IpInIpEnabled'], kind: 'FelixConfiguration', field: 'ipipEnabled', perNode: true, parse: BOOL, dflt: 'false', help: 'Felix manages the IPIP device' },
  { name: 'ipipMTU', aliases: ['IpInIpMtu'], kind: 'FelixConfiguration', field: 'ipipMTU', perNode: true, parse: INT(576, 9000), dflt: '1440', help: 'MTU of the IPIP device' },
  { name: 'interfacePrefix', aliases: ['InterfacePrefix'], kind: 'FelixConfiguration', field: 'interfacePrefix', perNode: true, parse: (v) => v, dflt: 'cali', help: 'prefix of workload interfaces' },
  { name: 'defaultEndpointToHostAction', aliases: ['DefaultEndpointToHostAction'], kind: 'FelixConfiguration', field: 'defaultEndpointToHostAction', perNode: true, parse: choice(['Drop', 'Return', 'Accept']), dflt: 'Drop', help: 'traffic from workloads to their host' },
  { name: 'iptablesBackend', aliases: ['IptablesBackend'], kind: 'FelixConfiguration', field: 'iptablesBackend', perNode: true, parse: choice(['Auto', 'NFT', 'Legacy']), dflt: 'Auto', help: 'iptables flavour' },
  { name: 'iptablesRefreshInterval', aliases: ['IptablesRefreshInterval'], kind: 'FelixConfiguration', field: 'iptablesRefreshInterval', perNode: true, parse: DURATION, dflt: '90s', help: 'period of the iptables drift check' },
  { name: 'routeRefreshInterval', aliases: ['RouteRefreshInterval'], kind: 'FelixConfiguration', field: 'routeRefreshInterval', perNode: true, parse: DURATION, dflt: '90s', help: 'period of the route drift check' },
  { name: 'ipv6Support', aliases: ['Ipv6Support'], kind: 'FelixConfiguration', field: 'ipv6Support', perNode: true, parse: BOOL, dflt: 'true', help: 'program IPv6 too' },
  { name: 'sharedEndpointChains', aliases: ['SharedEndpointChains'], kind: 'FelixConfiguration', field: 'sharedEndpointChains', perNode: true, parse: BOOL, dflt: 'false', help: 'endpoints with equal policies share chains (fast changes at scale)' },
  { name: 'reportingInterval', aliases: ['ReportingIntervalSecs'], kind: 'FelixConfiguration', field: 'reportingInterval', perNode: true, parse: DURATION, dflt: '30s', help: 'Felix status report period' },
];

const BY_NAME = new Map(CONFIG_NAMES.flatMap((c) => [c.name, ...c.aliases].map((n) => [n.toLowerCase(), c] as const)));

export function configName(name: string): ConfigName {
  const c = BY_NAME.get(name.toLowerCase());
  if (!c) throw new CliError(`unknown config name ${JSON.stringify(name)}; known: ${CONFIG_NAMES.map((x) => x.name).join(', ')}`);
  return c;
}

function target(c: ConfigName, node: string | undefined): string {
  if (!node) return 'default';
  if (!c.perNode) throw new CliError(`${c.name} is a global setting (--node is not supported for it)`);
  return `node.${node}`;
}

const showValue = (c: ConfigName, v: unknown): string => (v === undefined ? '' : c.show ? c.show(v) : String(v));

async function field(client: ResourceClient, c: ConfigName, name: string): Promise<unknown> {
  return (await client.tryGet<Record<string, unknown>>(c.kind, name))?.spec[c.field];
}

/** The effective value: the node's own, else the global one, else Calico's default. */
export async function configGet(client: ResourceClient, name: string, node?: string): Promise<string> {
  const c = configName(name);
  const own = node ? await field(client, c, target(c, node)) : undefined;
  const value = own ?? (await field(client, c, 'default'));
  return value === undefined ? (c.dflt ?? '') : showValue(c, value);
}

/** Every known name with its value (and where it comes from). */
export async function configList(client: ResourceClient, node?: string): Promise<string> {
  const rows: string[][] = [];
  for (const c of CONFIG_NAMES) {
    const own = node && c.perNode ? await field(client, c, `node.${node}`) : undefined;
    const global = await field(client, c, 'default');
    const [value, source] =
      own !== undefined ? [showValue(c, own), `node.${node}`] : global !== undefined ? [showValue(c, global), 'default'] : [c.dflt ?? '', '(built-in)'];
    rows.push([c.name, value, source, `${c.kind}.${c.field}`]);
  }
  return formatTable(['NAME', 'VALUE', 'FROM', 'FIELD'], rows).trimEnd();
}

export async function configSet(client: ResourceClient, name: string, raw: string, node?: string): Promise<string> {
  const c = configName(name);
  const resName = target(c, node);
  let value: unknown;
  try {
    value = c.parse(raw);
  } catch (e) {
    throw new CliError(`${c.name}: ${JSON.stringify(raw)}: ${(e as Error).message.replace(/^value: /, '')}`);
  }
  const initial = (): Resource<Record<string, unknown>> =>
    c.kind === 'BGPConfiguration' && resName === 'default'
      ? (defaultBgpConfiguration() as Resource<Record<string, unknown>>)
      : { apiVersion: 'projectcalico.org/v3', kind: c.kind, metadata: { name: resName }, spec: {} };
  await modifyResource<Record<string, unknown>>(client, c.kind, resName, (r) => {
    r.spec[c.field] = value;
  }, initial);
  return `Set ${c.name} = ${showValue(c, value)} (${c.kind} ${resName})`;
}

export async function configUnset(client: ResourceClient, name: string, node?: string): Promise<string> {
  const c = configName(name);
  const resName = target(c, node);
  if (!(await client.tryGet(c.kind, resName))) return `${c.name} is not set (${c.kind} ${resName} does not exist)`;
  await modifyResource<Record<string, unknown>>(client, c.kind, resName, (r) => {
    delete r.spec[c.field];
  });
  return `Unset ${c.name} (${c.kind} ${resName})`;
}
