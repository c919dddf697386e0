// `calicoctl ipam show|check|release|configure`: loaded only when one of them runs.
import type { Datastore, ResourceClient } from '@calico/libcalico';
import { Ipam } from '@calico/libcalico/ipam/ipam';
import { checkIpam, ipamUsage, type IpamCheckReport } from '@calico/libcalico/ipam/report';
import { ValidationError } from '@calico/libcalico/errors';
import { canonicalIp, cidrContains, cidrContainsIp, formatIp, parseCidr, parseIp } from '@calico/libcalico/net';
import { CliError } from './errors.js';
import { formatTable, parseOutputFormat, toJson, toYaml } from './output.js';

type Format = 'ps' | 'yaml' | 'json';

function format(raw: string | undefined): Format {
  const f = parseOutputFormat(raw);
  if (f === 'wide') throw new ValidationError('output', 'ipam prints ps (table), yaml or json');
  return f;
}

function normaliseIp(ip: string, field: string): string {
  const p = parseIp(ip, field);
  return formatIp(p.family, p.value);
}

const structured = (value: unknown, f: 'yaml' | 'json'): string =>
  f === 'json' ? toJson(value) : toYaml(value);

const percent = (part: bigint | number, whole: bigint): string =>
  whole === 0n ? '0%' : `${Number((BigInt(part) * 100n) / whole)}%`;

export async function ipamShow(ds: Datastore, client: ResourceClient, opts: { ip?: string; showBlocks?: boolean; output?: string }): Promise<string> {
  const f = format(opts.output);
  if (opts.ip !== undefined) return showIp(ds, client, opts.ip, f);
  const usage = await ipamUsage(ds, client);
  if (f !== 'ps') {
    // bigint does not serialise: pool sizes as numbers (exact up to 2^53, as strings beyond)
    const num = (b: bigint): number | string => (b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString());
    const pools = usage.pools.map((p) => ({ ...p, size: num(p.size), free: num(p.free) }));
    return structured(opts.showBlocks ? { pools, blocks: usage.blocks } : { pools }, f);
  }
  if (!usage.pools.length) return 'No IP pools are configured.\n';
  const headers = opts.showBlocks
    ? ['GROUPING', 'CIDR', 'HOST', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE']
    : ['GROUPING', 'CIDR', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'];
  const rows: string[][] = [];
  for (const p of usage.pools) {
    const row = [
      p.disabled ? 'IP Pool (disabled)' : 'IP Pool',
      p.cidr,
      p.size.toString(),
      `${p.allocated} (${percent(p.allocated, p.size)})`,
      `${p.free} (${percent(p.free, p.size)})`,
    ];
    if (opts.showBlocks) row.splice(2, 0, '');
    rows.push(row);
    if (!opts.showBlocks) continue;
    for (const b of usage.blocks.filter((b) => cidrWithin(b.cidr, p.cidr))) {
      const size = BigInt(b.size);
      rows.push(['Block', b.cidr, b.host ?? '(none)', String(b.size), `${b.allocated} (${percent(b.allocated, size)})`, `${b.free} (${percent(b.free, size)})`]);
    }
  }
  return formatTable(headers, rows);
}

const cidrWithin = (block: string, pool: string): boolean => cidrContains(parseCidr(pool), parseCidr(block));

async function showIp(ds: Datastore, client: ResourceClient, ip: string, f: Format): Promise<string> {
  const addr = normaliseIp(ip, 'ip');
  const ipam = new Ipam(ds);
  const pools = await ipam.pools();
  const { family, value } = parseIp(addr);
  const pool = pools.find((p) => cidrContainsIp(p.cidr, family, value));
  const attrs = await ipam.getAttributes(addr);
  const owners = (await client.list<{ ipNetworks?: string[] }>('WorkloadEndpoint', { onInvalid: () => {} }))
    .filter((w) => (w.spec.ipNetworks ?? []).some((n) => n.split('/')[0] && canonicalIp(n.split('/')[0]!) === addr))
    .map((w) => `${w.metadata.namespace}/${w.metadata.name}`);
  if (f !== 'ps') return structured({ ip: addr, pool: pool?.cidrText ?? null, allocated: !!attrs, ...(attrs ?? {}), workloadEndpoints: owners }, f);
  if (!attrs) return pool ? `IP ${addr} is not assigned (pool ${pool.cidrText})\n` : `IP ${addr} is not assigned and is not in any IP pool\n`;
  const lines = [
    `IP ${addr} is in use`,
    `  Block:      ${attrs.block}${pool ? ` (pool ${pool.cidrText})` : ' (in no IP pool)'}`,
    `  Handle:     ${attrs.handleId ?? '(none)'}`,
    `  Endpoints:  ${owners.length ? owners.join(', ') : '(none: possibly leaked)'}`,
  ];
  const entries = Object.entries(attrs.attrs);
  if (entries.length) lines.push('  Attributes:', ...entries.map(([k, v]) => `    ${k}: ${v}`));
  return lines.join('\n') + '\n';
}

function checkText(r: IpamCheckReport): string {
  const out: string[] = [`Checked ${r.pools} IP pools, ${r.blocks} blocks, ${r.handles} handles, ${r.allocations} allocated addresses.`];
  const section = (title: string, headers: string[], rows: string[][]): void => {
    out.push('', `${title}: ${rows.length}`);
    if (rows.length) out.push(...formatTable(headers, rows).trimEnd().split('\n').map((l) => `  ${l}`));
  };
  section('Leaked addresses (allocated, used by no workload endpoint or node)', ['IP', 'HANDLE', 'BLOCK'], r.leaks.map((l) => [l.ip, l.handleId ?? '(none)', l.block]));
  section('Allocations whose handle record is missing', ['IP', 'HANDLE', 'BLOCK'], r.missingHandles.map((m) => [m.ip, m.handleId ?? '(none)', m.block]));
  section(
    'Handle records that do not match their blocks',
    ['HANDLE', 'BLOCK', 'RECORDED', 'ACTUAL'],
    r.handleMismatches.map((m) => [m.handleId, m.block, String(m.recorded), String(m.actual)]),
  );
  section('Blocks outside every IP pool', ['BLOCK'], r.blocksOutsidePools.map((b) => [b]));
  section('Host affinities without their block', ['HOST', 'BLOCK', 'REASON'], r.danglingAffinities.map((a) => [a.host, a.block, a.reason]));
  section('Malformed records', ['KEY', 'REASON'], r.malformed.map((m) => [m.key, m.reason]));
  out.push('', r.ok ? 'No problems found.' : `Found ${problemCount(r)} problem(s); release leaked addresses with \`calicoctl ipam release --ip IP\`.`);
  return out.join('\n') + '\n';
}

const problemCount = (r: IpamCheckReport): number =>
  r.leaks.length + r.missingHandles.length + r.handleMismatches.length + r.blocksOutsidePools.length + r.danglingAffinities.length + r.malformed.length;

/** Prints the report; exits 1 (via CliError) when anything was found, so scripts can act on it. */
export async function ipamCheck(ds: Datastore, client: ResourceClient, opts: { output?: string }): Promise<void> {
  const f = format(opts.output);
  const report = await checkIpam(ds, client);
  process.stdout.write(f === 'ps' ? checkText(report) : structured(report, f));
  if (!report.ok) throw new CliError(`IPAM check found ${problemCount(report)} problem(s)`);
}

export async function ipamRelease(ds: Datastore, client: ResourceClient, opts: { ip: string[]; force?: boolean }): Promise<string> {
  const ips = opts.ip.map((ip, i) => normaliseIp(ip, opts.ip.length > 1 ? `ip[${i}]` : 'ip'));
  if (!opts.force) {
    const weps = await client.list<{ ipNetworks?: string[] }>('WorkloadEndpoint', { onInvalid: () => {} });
    for (const ip of ips) {
      const user = weps.find((w) => (w.spec.ipNetworks ?? []).some((n) => canonicalIp(n.split('/')[0]!) === ip));
      if (user) {
        throw new CliError(`IP ${ip} is used by WorkloadEndpoint ${user.metadata.namespace}/${user.metadata.name}; releasing it could hand it to a second workload (use --force to release anyway)`);
      }
    }
  }
  const ipam = new Ipam(ds);
  const notAssigned = await ipam.releaseIps(ips);
  const released = ips.filter((ip) => !notAssigned.includes(ip));
  const out = released.map((ip) => `Successfully released IP address ${ip}\n`).join('');
  if (notAssigned.length) {
    process.stdout.write(out);
    throw new CliError(`IP address ${notAssigned.join(', ')} ${notAssigned.length > 1 ? 'are' : 'is'} not assigned`);
  }
  return out;
}

function bool(v: string, field: string): boolean {
  if (/^(true|yes|on|1)$/i.test(v)) return true;
  if (/^(false|no|off|0)$/i.test(v)) return false;
  throw new ValidationError(field, `${JSON.stringify(v)} is not true or false`);
}

export async function ipamConfigure(ds: Datastore, opts: { strictaffinity?: string; maxBlocksPerHost?: string; autoAllocateBlocks?: string }): Promise<string> {
  const change: Parameters<Ipam['setConfig']>[0] = {};
  if (opts.strictaffinity !== undefined) change.strictAffinity = bool(opts.strictaffinity, 'strictaffinity');
  if (opts.autoAllocateBlocks !== undefined) change.autoAllocateBlocks = bool(opts.autoAllocateBlocks, 'auto-allocate-blocks');
  if (opts.maxBlocksPerHost !== undefined) {
    const n = Number(opts.maxBlocksPerHost);
    if (!/^\d+$/.test(opts.maxBlocksPerHost)) throw new ValidationError('max-blocks-per-host', 'must be a whole number ≥ 0 (0 = unlimited)');
    change.maxBlocksPerHost = n;
  }
  const ipam = new Ipam(ds);
  const c = Object.keys(change).length ? await ipam.setConfig(change) : await ipam.getConfig();
  return `StrictAffinity:      ${c.strictAffinity}\nAutoAllocateBlocks:  ${c.autoAllocateBlocks}\nMaxBlocksPerHost:    ${c.maxBlocksPerHost || 'unlimited'}\n`;
}
