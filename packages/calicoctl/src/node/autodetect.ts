import { run } from '@calico/libcalico/exec';
import { ValidationError } from '@calico/libcalico/errors';
import { isIp, parseCidr, canonicalIp, ipFamily } from '@calico/libcalico/net';

/** An address of this host with the prefix length of its interface, e.g. 198.18.0.2/24. */
export interface HostAddress {
  ip: string;
  prefixLen: number;
  iface?: string;
}

export const formatHostAddress = (a: HostAddress) => `${a.ip}/${a.prefixLen}`;

/** Interfaces never used for the node address (Calico's default exclusions). */
const EXCLUDED = [/^lo$/, /^docker/, /^cbr/, /^virbr/, /^lxcbr/, /^veth/, /^cali/, /^tunl/, /^flannel/, /^vxlan/, /^kube-ipvs/, /^wireguard/];

interface IpAddrJson {
  ifname: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope: string; tentative?: boolean }[];
}

async function hostAddresses(family: 4 | 6): Promise<HostAddress[]> {
  const { stdout } = await run(['ip', '-j', `-${family}`, 'addr', 'show']);
  const links = JSON.parse(stdout || '[]') as IpAddrJson[];
  const out: HostAddress[] = [];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      if (a.scope !== 'global') continue;
      out.push({ ip: canonicalIp(a.local), prefixLen: a.prefixlen, iface: l.ifname });
    }
  }
  return out;
}

export const AUTODETECT_METHODS = 'first-found, can-reach=DEST, interface=REGEX[,REGEX], skip-interface=REGEX[,REGEX]';

function regexes(field: string, list: string): RegExp[] {
  return list.split(',').map((r) => {
    try {
      return new RegExp(r);
    } catch (e) {
      throw new ValidationError(field, `bad regular expression ${JSON.stringify(r)}: ${(e as Error).message}`);
    }
  });
}

/**
 * Find this host's address (Calico's --ip-autodetection-method):
 * first-found skips the usual virtual interfaces; can-reach=DEST uses the
 * source address of the route to DEST; interface= / skip-interface= filter
 * interface names by regular expressions.
 */
export async function autodetect(family: 4 | 6, method = 'first-found', field = '--ip-autodetection-method'): Promise<HostAddress> {
  const all = await hostAddresses(family);
  const usable = (a: HostAddress) => !EXCLUDED.some((re) => re.test(a.iface ?? ''));
  let found: HostAddress | undefined;
  const [kind, arg = ''] = splitMethod(method);
  switch (kind) {
    case 'first-found':
      found = all.find(usable);
      break;
    case 'interface': {
      const res = regexes(field, arg);
      found = all.find((a) => res.some((re) => re.test(a.iface ?? '')));
      break;
    }
    case 'skip-interface': {
      const res = regexes(field, arg);
      found = all.find((a) => usable(a) && !res.some((re) => re.test(a.iface ?? '')));
      break;
    }
    case 'can-reach': {
      const dest = arg;
      if (!isIp(dest)) throw new ValidationError(field, `can-reach needs an IP address, got ${JSON.stringify(dest)}`);
      if (ipFamily(dest) !== family) throw new ValidationError(field, `can-reach=${dest} is not an IPv${family} address`);
      const res = await run(['ip', '-j', `-${family}`, 'route', 'get', dest], { allowFail: true });
      if (res.code !== 0) throw new ValidationError(field, `no route to ${dest}: ${res.stderr.trim()}`);
      const route = (JSON.parse(res.stdout) as { prefsrc?: string; dev?: string }[])[0];
      const src = route?.prefsrc && canonicalIp(route.prefsrc);
      found = all.find((a) => a.ip === src) ?? (src ? { ip: src, prefixLen: family === 4 ? 32 : 128, iface: route?.dev } : undefined);
      break;
    }
    default:
      throw new ValidationError(field, `unknown method ${JSON.stringify(method)}; use one of ${AUTODETECT_METHODS}`);
  }
  if (!found) throw new ValidationError(family === 4 ? '--ip' : '--ip6', `autodetection (${method}) found no IPv${family} address on this host`);
  return found;
}

function splitMethod(method: string): [string, string?] {
  const i = method.indexOf('=');
  return i < 0 ? [method] : [method.slice(0, i), method.slice(i + 1)];
}

/**
 * An address given on the command line: `IP` or `IP/len`. Without a length,
 * the length of the interface that carries it is used (a /32 or /128 if no
 * interface here has it: Calico warns in that case, so do we).
 */
export async function explicitAddress(
  value: string,
  family: 4 | 6,
  field: string,
  warn: (msg: string) => void,
): Promise<HostAddress> {
  const cidr = value.includes('/') ? parseCidr(value, field, true) : undefined;
  const ip = cidr ? value.slice(0, value.indexOf('/')) : value;
  if (!isIp(ip) || ipFamily(ip) !== family) throw new ValidationError(field, `${JSON.stringify(value)} is not an IPv${family} address`);
  const canon = canonicalIp(ip);
  const local = (await hostAddresses(family)).find((a) => a.ip === canon);
  if (!local) warn(`${canon} is not an address of this host`);
  return { ip: canon, prefixLen: cidr?.prefix ?? local?.prefixLen ?? (family === 4 ? 32 : 128), iface: local?.iface };
}
