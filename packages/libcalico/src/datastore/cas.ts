import { DatastoreError } from '../errors.js';
import type { CasOp, Datastore, KV } from './types.js';

/**
 * One compare-and-swap through `Datastore.commit`, with a lost compare
 * turned into the error the single-key calls promise: AlreadyExists (it
 * had to be absent), NotFound (it is gone) or Conflict (it moved). Every
 * Datastore implements create/update/delete-at-revision with this, so the
 * CAS logic lives in one place: its `commit`.
 */
export async function casOne(ds: Pick<Datastore, 'commit'>, op: CasOp): Promise<KV | null> {
  const res = await ds.commit([op]);
  if (res.succeeded) return res.kvs[0]!;
  const { key, revision } = op;
  if (revision === null) throw new DatastoreError('AlreadyExists', `${key} already exists`, key);
  if (!res.current[0]) throw new DatastoreError('NotFound', `${key} does not exist`, key);
  throw new DatastoreError('Conflict', `${key} was modified concurrently (revision ${revision} is stale)`, key);
}
