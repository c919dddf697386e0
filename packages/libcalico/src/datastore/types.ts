/**
 * The key/value contract every datastore implements (etcd v3 in production,
 * memory for pure unit tests). Revisions are etcd mod revisions as decimal
 * strings; every write that takes a revision is a compare-and-swap.
 */
export interface KV {
  key: string;
  value: string;
  /** mod revision of this key */
  revision: string;
}

export interface KVList {
  kvs: KV[];
  /** store revision the list was read at; watch from revision+1 to resume */
  revision: string;
}

export type WatchEvent =
  | { type: 'put'; key: string; value: string; revision: string }
  | { type: 'delete'; key: string; revision: string };

export interface Watch {
  close(): Promise<void>;
}

export interface WatchHandlers {
  /** events in revision order */
  onEvents(events: WatchEvent[]): void;
  /**
   * The watch broke (connection lost, history compacted). The watch is dead;
   * the caller relists and watches again (see syncer.ts).
   */
  onError(err: Error): void;
}

/**
 * One key of a multi-key compare-and-swap (`Datastore.commit`). Every op is a
 * CAS: `revision` is the mod revision the key must still be at, null means
 * the key must be absent. `value` is what to write; null deletes the key
 * (with `revision: null` the op only asserts that the key is absent).
 */
export interface CasOp {
  key: string;
  value: string | null;
  revision: string | null;
}

export type CasResult =
  /** every compare held and every op was applied; kvs[i] is what op i left (null: deleted) */
  | { succeeded: true; kvs: (KV | null)[] }
  /**
   * Some compare failed and nothing was written; current[i] is ops[i].key as
   * it is now (null: absent), read in the same round trip.
   */
  | { succeeded: false; current: (KV | null)[] };

export interface Datastore {
  get(key: string): Promise<KV | null>;
  list(prefix: string): Promise<KVList>;
  /** create-if-absent; throws DatastoreError('AlreadyExists') */
  create(key: string, value: string): Promise<KV>;
  /** CAS on the key's mod revision; throws 'Conflict' if it moved, 'NotFound' if gone */
  update(key: string, value: string, revision: string): Promise<KV>;
  /** unconditional put (for status reports and config we own outright) */
  put(key: string, value: string): Promise<KV>;
  /** delete; with a revision it is a CAS. Throws 'NotFound' if absent. */
  delete(key: string, revision?: string): Promise<void>;
  /**
   * Several CAS writes, all or nothing, in one round trip (one etcd txn).
   * Keys must be distinct. A lost race is a result, not an error; only an
   * unreachable datastore throws ('Unavailable').
   */
  commit(ops: CasOp[]): Promise<CasResult>;
  /** watch every key under prefix, starting at fromRevision (inclusive) */
  watch(prefix: string, fromRevision: string, handlers: WatchHandlers): Promise<Watch>;
  close(): Promise<void>;
}
