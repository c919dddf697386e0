// Read-modify-write of one resource with compare-and-swap, retried when
// someone else wrote in between (the classic verbs edit resources in place).
import type { Resource, ResourceClient } from '@calico/libcalico';
import { DatastoreError } from '@calico/libcalico/errors';

const MAX_ATTEMPTS = 5;

/**
 * Apply `change` to the stored resource (or to `initial()` when it does not
 * exist; without `initial` a missing resource is an error) and write it back.
 * `change` may throw to refuse; it runs again on each retry.
 */
export async function modifyResource<S>(
  client: ResourceClient,
  kind: string,
  name: string,
  change: (r: Resource<S>) => void,
  initial?: () => Resource<S>,
): Promise<Resource<S>> {
  for (let attempt = 1; ; attempt++) {
    const cur = await client.tryGet<S>(kind, name);
    if (!cur && !initial) throw new DatastoreError('NotFound', `${kind}(${name}) does not exist`);
    const r = cur ?? initial!();
    change(r);
    try {
      return cur ? await client.update<S>(r) : await client.create<S>(r);
    } catch (e) {
      const raced = e instanceof DatastoreError && (e.code === 'Conflict' || e.code === 'AlreadyExists' || e.code === 'NotFound');
      if (!raced || attempt >= MAX_ATTEMPTS) throw e;
    }
  }
}
