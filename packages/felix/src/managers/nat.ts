import { ALL_POOLS_SET, ipsetFamily, ipsetName, MASQ_POOLS_SET } from '../names.js';
import { NAT_HOOKS, natChains } from '../rules/static.js';
import { rule } from '../rules/types.js';
import type { Pool } from '../calc/model.js';
import type { DesiredState } from './tables.js';

/**
 * NAT outgoing: traffic from a `natOutgoing` pool to anywhere outside all
 * pools is masqueraded (`cali-nat-outgoing`), using the sets
 * `cali40masq-ipam-pools` and `cali40all-ipam-pools` (and cali60… for IPv6).
 */
export class NatManager {
  constructor(private readonly out: DesiredState) {}

  update(pools: Iterable<Pool>, natOutgoingAddress: string): void {
    const list = [...pools];
    for (const v of this.out.versions) {
      const mine = list.filter((p) => p.cidr.includes(':') === (v === 6));
      const all = ipsetName(v, ALL_POOLS_SET);
      const masq = ipsetName(v, MASQ_POOLS_SET);
      const masqCidrs = mine.filter((p) => p.natOutgoing && !p.disabled).map((p) => p.cidr);
      this.out.ipsets.setIpset(all, 'hash:net', ipsetFamily(v), mine.map((p) => p.cidr));
      this.out.ipsets.setIpset(masq, 'hash:net', ipsetFamily(v), masqCidrs);
      const snatTo = v === 4 ? natOutgoingAddress : '';
      for (const c of natChains(masqCidrs.length ? masq : undefined, all, snatTo)) this.out.nat[v].setChain(c.name, c.rules);
      for (const [hook, chain] of Object.entries(NAT_HOOKS)) this.out.nat[v].setInsertions(hook, [rule('', `-j ${chain}`)]);
    }
  }
}
