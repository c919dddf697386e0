import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { kindInfo, resourceKey, type KV, type Resource } from '@calico/libcalico';
import { affinityKey } from '@calico/libcalico/ipam/keys';
import { CUSTOM_FILTERS_PREFIX } from '@calico/confd';

/** The repository's templates directory (what calico-confd uses by default). */
export const TEMPLATES_DIR = fileURLToPath(new URL('../../../templates', import.meta.url));
export const FIXTURES_DIR = fileURLToPath(new URL('./fixtures', import.meta.url));
export const GOLDEN_DIR = fileURLToPath(new URL('./golden', import.meta.url));

/** A test scenario: the node confd runs for, Calico resources, and IPAM/filter keys. */
export interface Fixture {
  node: string;
  resources: Resource[];
  affinities?: { ipv4?: string[]; ipv6?: string[] };
  customFilters?: { v4?: Record<string, string>; v6?: Record<string, string> };
}

export function loadFixture(name: string): Fixture {
  return parse(readFileSync(`${FIXTURES_DIR}/${name}.yaml`, 'utf8')) as Fixture;
}

export const AFFINITY_CONFIRMED = JSON.stringify({ state: 'confirmed', deleted: false });

/** The etcd keys and values a fixture stands for (what calicoctl and IPAM would write). */
export function fixtureKvs(f: Fixture): KV[] {
  const kvs: KV[] = [];
  const put = (key: string, value: string) => kvs.push({ key, value, revision: String(kvs.length + 1) });
  for (const r of f.resources) put(resourceKey(kindInfo(r.kind)!, r.metadata.name), JSON.stringify(r));
  for (const cidr of f.affinities?.ipv4 ?? []) put(affinityKey(f.node, 4, cidr), AFFINITY_CONFIRMED);
  for (const cidr of f.affinities?.ipv6 ?? []) put(affinityKey(f.node, 6, cidr), AFFINITY_CONFIRMED);
  for (const v of ['v4', 'v6'] as const) {
    for (const [name, stmt] of Object.entries(f.customFilters?.[v] ?? {})) put(`${CUSTOM_FILTERS_PREFIX}${v}/${name}`, stmt);
  }
  return kvs;
}
