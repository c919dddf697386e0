import { hash } from 'node:crypto';

/**
 * Names of every kernel object felix owns, and the kernel's length limits.
 * Everything we create starts with `cali` so that, after a restart, we can
 * tell ours from everyone else's with no memory of earlier runs.
 */
export const CHAIN_PREFIX = 'cali-';
export const MAX_CHAIN_NAME = 28;
export const MAX_IPSET_NAME = 31;
/** `ip route ... proto 80`: routes felix programs (Calico's DefaultRouteProto). Only these are ever removed. */
export const ROUTE_PROTO = 80;
/** Rule comments are `cali:<16 chars>`; the hash is how the iptables driver recognises and diffs rules. */
export const RULE_HASH_PREFIX = 'cali:';
export const RULE_HASH_LEN = 16;

export type IpVersion = 4 | 6;

// crypto.hash (one-shot) costs a third of createHash()…digest() for short inputs: ~50k rule hashes at 1,000 endpoints.
const b64url = (data: string, alg = 'sha256'): string => hash(alg, data, 'base64url');

/** prefix+id if it fits in `max`, else prefix + '_' + hash of id (Calico's GetLengthLimitedID). */
export function lengthLimited(prefix: string, id: string, max: number): string {
  const safe = /^[A-Za-z0-9.-][A-Za-z0-9_.-]*$/.test(id);
  if (safe && prefix.length + id.length <= max) return prefix + id;
  return prefix + '_' + b64url(id).slice(0, max - prefix.length - 1);
}

export const chainName = (prefix: string, id: string): string => lengthLimited(prefix, id, MAX_CHAIN_NAME);

export const CHAINS = {
  input: 'cali-INPUT',
  forward: 'cali-FORWARD',
  output: 'cali-OUTPUT',
  wlToHost: 'cali-wl-to-host',
  fromWlDispatch: 'cali-from-wl-dispatch',
  toWlDispatch: 'cali-to-wl-dispatch',
  natPostrouting: 'cali-POSTROUTING',
  natOutgoing: 'cali-nat-outgoing',
  rawPrerouting: 'cali-PREROUTING',
} as const;

export const fromWorkloadChain = (ifname: string): string => chainName('cali-fw-', ifname);
export const toWorkloadChain = (ifname: string): string => chainName('cali-tw-', ifname);
export const policyInChain = (id: string): string => chainName('cali-pi-', id);
export const policyOutChain = (id: string): string => chainName('cali-po-', id);
export const profileInChain = (name: string): string => chainName('cali-pri-', name);
export const profileOutChain = (name: string): string => chainName('cali-pro-', name);

/** `cali40` / `cali60` + id, at most 31 characters (ipset's limit). */
export function ipsetName(version: IpVersion, id: string): string {
  return `cali${version}0${id}`.slice(0, MAX_IPSET_NAME);
}
/** The `family` an ipset of this IP version is created with. */
export const ipsetFamily = (v: IpVersion): 'inet' | 'inet6' => (v === 4 ? 'inet' : 'inet6');

/** id of a content-addressed set: `s:` selector sets, `n:` net lists, `g:` shared endpoint chain groups. */
export const hashedSetId = (kind: 's' | 'n' | 'g', content: string): string => `${kind}:${b64url(content).slice(0, 23)}`;

export const ALL_POOLS_SET = 'all-ipam-pools';
export const MASQ_POOLS_SET = 'masq-ipam-pools';
/** Shared endpoint chains: every local workload address with its interface (`<ip>,<if>`), for anti-spoofing. */
export const WORKLOAD_ADDRS_SET = 'wl-addrs';

/**
 * Hash of each rule, chained from the chain name and all preceding rules
 * (as Calico's RuleHashes): a rule's hash changes if anything before it
 * changes, so comparing hash lists position by position is a full diff.
 */
export function ruleHashes(chain: string, rules: readonly string[]): string[] {
  let prev = chain;
  return rules.map((r) => (prev = nextRuleHash(prev, r)));
}

/**
 * The hash of a rule that follows the rule (or chain name) hashed `prev`.
 * SHA-1 where Calico uses SHA-224: it only tells our rules apart (96 bits
 * kept), and costs half as much, which is ~0.3 s of a 5,000-endpoint cold
 * start (235k rules).
 */
export const nextRuleHash = (prev: string, rule: string): string => b64url(`${prev}\0${rule}`, 'sha1').slice(0, RULE_HASH_LEN);

/** Bits allocated from the mark mask, lowest first: accept, pass. */
export interface Marks {
  accept: number;
  pass: number;
  mask: number;
}

export function marksFromMask(mask: number): Marks {
  const bits: number[] = [];
  for (let b = 0; b < 32 && bits.length < 2; b++) if ((mask >>> b) & 1) bits.push((1 << b) >>> 0);
  if (bits.length < 2) throw new Error(`IptablesMarkMask 0x${mask.toString(16)} has fewer than 2 bits set`);
  return { accept: bits[0]!, pass: bits[1]!, mask: mask >>> 0 };
}

export const hex = (n: number): string => '0x' + (n >>> 0).toString(16);
