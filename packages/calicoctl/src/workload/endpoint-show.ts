// `calicoctl endpoint show`: the workload endpoints in the datastore as a table.
import type { Command } from 'commander';
import { listWorkloadEndpoints } from '@calico/libcalico/workload/endpoint';
import type { WorkloadEndpoint } from '@calico/libcalico/resources/spec';
import type { EndpointShowOpts } from '../commands/endpoint.js';
import { parseOutputFormat, printResources, printTable, type OutputFormat } from '../output.js';
import { withClient } from '../context.js';

const PS_HEADERS = ['HOSTNAME', 'ORCHESTRATOR', 'WORKLOAD', 'ENDPOINT', 'INTERFACE', 'IPS', 'PROFILES', 'STATE'];
const WIDE_HEADERS = [...PS_HEADERS, 'NAMESPACE', 'MAC', 'LABELS'];

/**
 * STATE is what the datastore can tell: `active` when the endpoint has an
 * interface and at least one address (what felix needs to program it),
 * `incomplete` otherwise.
 */
function state(w: WorkloadEndpoint): string {
  return w.spec.interfaceName && (w.spec.ipNetworks ?? []).length > 0 ? 'active' : 'incomplete';
}

function row(w: WorkloadEndpoint, wide: boolean): string[] {
  const s = w.spec;
  const cells = [
    s.node ?? '',
    s.orchestrator ?? '',
    s.workload ?? s.pod ?? '',
    s.endpoint ?? '',
    s.interfaceName ?? '',
    (s.ipNetworks ?? []).join(','),
    (s.profiles ?? []).join(','),
    state(w),
  ];
  if (!wide) return cells;
  const labels = Object.entries(w.metadata.labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return [...cells, w.metadata.namespace ?? '', s.mac ?? '', labels.join(',')];
}

/** Print endpoints as a table (ps/wide) or as a WorkloadEndpointList (yaml/json), sorted by node then name. */
export function printEndpoints(weps: WorkloadEndpoint[], format: OutputFormat): void {
  const sorted = [...weps].sort(
    (a, b) => (a.spec.node ?? '').localeCompare(b.spec.node ?? '') || a.metadata.name.localeCompare(b.metadata.name),
  );
  if (format === 'yaml' || format === 'json') {
    printResources(sorted, format, { kind: 'WorkloadEndpoint' });
    return;
  }
  const wide = format === 'wide';
  printTable(wide ? WIDE_HEADERS : PS_HEADERS, sorted.map((w) => row(w, wide)));
}

export async function endpointShow(cmd: Command, opts: EndpointShowOpts): Promise<void> {
  let format = parseOutputFormat(opts.output);
  if (opts.detailed && format === 'ps') format = 'wide';
  await withClient(cmd, async ({ ds }) => printEndpoints(await listWorkloadEndpoints(ds, opts.host), format));
}
