// The Docker-era `pool add|remove|show` verbs over IPPool resources.
import type { Resource, ResourceClient } from '@calico/libcalico';
import { canonicalCidr, ipFamily, parseCidr } from '@calico/libcalico/net';
import { poolNameFromCidr } from '@calico/libcalico/resources/names';
import type { IPPoolSpec } from '@calico/libcalico/resources/spec';
import { CliError, warnInvalid } from './errors.js';
import { formatTable, parseOutputFormat, printResources } from './output.js';
import { runFileAction } from './resource-ops.js';

/** IPPool name for a CIDR, as Calico's converter names them: `198.19.0.0/16` → `198-19-0-0-16`. */
export function poolName(cidr: string): string {
  return poolNameFromCidr(canonicalCidr(cidr));
}

export interface PoolAddOptions {
  ipip?: boolean;
  natOutgoing?: boolean;
  disabled?: boolean;
  blockSize?: string;
}

export function poolResource(cidr: string, opts: PoolAddOptions): Resource {
  const c = parseCidr(cidr, 'CIDR');
  if (opts.ipip && c.family === 6) throw new CliError(`--ipip: IPIP encapsulation is IPv4 only (pool ${cidr})`);
  const spec: Partial<IPPoolSpec> = {
    cidr: canonicalCidr(cidr),
    ipipMode: opts.ipip ? 'Always' : 'Never',
    natOutgoing: !!opts.natOutgoing,
    disabled: !!opts.disabled,
  };
  if (opts.blockSize !== undefined) {
    if (!/^\d+$/.test(opts.blockSize)) throw new CliError(`--block-size: ${JSON.stringify(opts.blockSize)} is not a prefix length`);
    spec.blockSize = Number(opts.blockSize);
  }
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: poolName(cidr) }, spec };
}

/** Create one pool per CIDR; all are validated (also against each other) before any is written. */
export async function poolAdd(client: ResourceClient, cidrs: string[], opts: PoolAddOptions): Promise<string> {
  const docs = cidrs.map((c) => ({ where: `pool ${c}`, raw: poolResource(c, opts) }));
  await runFileAction(client, docs, 'create');
  return cidrs.map((c) => `Created IP pool ${poolName(c)} (${canonicalCidr(c)})`).join('\n');
}

export async function poolRemove(client: ResourceClient, cidrs: string[]): Promise<string> {
  const pools = await client.list<IPPoolSpec>('IPPool', { onInvalid: () => {} });
  const victims = cidrs.map((c) => {
    const want = canonicalCidr(c);
    const p = pools.find((x) => x.spec.cidr === want);
    if (!p) throw new CliError(`no IP pool with CIDR ${want}`);
    return p;
  });
  for (const p of victims) await client.delete('IPPool', p.metadata.name);
  return victims.map((p) => `Removed IP pool ${p.metadata.name} (${p.spec.cidr})`).join('\n');
}

/** Options as the old CLI listed them, e.g. `ipip,nat-outgoing,block-size=26`. */
function options(s: IPPoolSpec): string {
  const o: string[] = [];
  if (s.ipipMode && s.ipipMode !== 'Never') o.push(s.ipipMode === 'Always' ? 'ipip' : `ipip=${s.ipipMode}`);
  if (s.vxlanMode && s.vxlanMode !== 'Never') o.push(`vxlan=${s.vxlanMode}`);
  if (s.natOutgoing) o.push('nat-outgoing');
  if (s.disabled) o.push('disabled');
  const defaultBlock = s.cidr.includes(':') ? 122 : 26;
  if (s.blockSize && s.blockSize !== defaultBlock) o.push(`block-size=${s.blockSize}`);
  if (s.nodeSelector && s.nodeSelector !== 'all()') o.push(`node-selector=${s.nodeSelector}`);
  return o.join(',');
}

export async function poolShow(client: ResourceClient, opts: { ipv4?: boolean; ipv6?: boolean; output?: string }): Promise<string | undefined> {
  const format = parseOutputFormat(opts.output);
  const families = opts.ipv4 && !opts.ipv6 ? [4] : opts.ipv6 && !opts.ipv4 ? [6] : [4, 6];
  const pools = (await client.list<IPPoolSpec>('IPPool', { onInvalid: warnInvalid })).filter((p) =>
    families.includes(ipFamily(p.spec.cidr.split('/')[0]!) ?? 0),
  );
  if (format !== 'ps') {
    printResources(pools, format, { kind: 'IPPool' });
    return undefined;
  }
  return families
    .map((f) => formatTable([`IPv${f} CIDR`, 'NAME', 'OPTIONS'], pools.filter((p) => p.spec.cidr.includes(f === 4 ? '.' : ':')).map((p) => [p.spec.cidr, p.metadata.name, options(p.spec)])))
    .join('\n')
    .trimEnd();
}
