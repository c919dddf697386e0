import { DatastoreError, isCode } from '../errors.js';
import type { CasOp, CasResult, Datastore, KV, KVList } from '../datastore/types.js';

/**
 * Datastore access for IPAM: every write is a compare-and-swap, and calls
 * that fail because etcd is unreachable are retried for a while.
 *
 * A write whose answer was lost (etcd died after committing) is ambiguous.
 * Before writing again we read the key back: if it already holds exactly
 * what we wrote, our write went through; if it moved, the caller gets a
 * Conflict and re-reads, as for any lost race. So a retry never applies an
 * allocation twice, and never writes over someone else's update.
 */
export class IpamStore {
  constructor(
    readonly ds: Datastore,
    /** how long to keep retrying while etcd is unreachable */
    private readonly unavailableMs: number,
  ) {}

  /** Run a read (or a write that handles its own ambiguity), retrying while etcd is unreachable. */
  async retrying<T>(fn: (ambiguous: boolean) => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(attempt > 0);
      } catch (e) {
        if (!isCode(e, 'Unavailable') || Date.now() - started > this.unavailableMs) throw e;
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
      }
    }
  }

  get(key: string): Promise<KV | null> {
    return this.retrying(() => this.ds.get(key));
  }

  list(prefix: string): Promise<KVList> {
    return this.retrying(() => this.ds.list(prefix));
  }

  /**
   * Write `value` if the key is still at `prev` (null: still absent).
   * Throws DatastoreError Conflict / NotFound / AlreadyExists if it moved.
   */
  write(key: string, value: string, prev: KV | null): Promise<KV> {
    return this.retrying(async (ambiguous) => {
      if (ambiguous) {
        const cur = await this.ds.get(key);
        if (cur && cur.value === value) return cur;
        assertUnmoved(key, prev, cur);
      }
      return prev ? this.ds.update(key, value, prev.revision) : this.ds.create(key, value);
    });
  }

  /**
   * Several CAS writes as one `Datastore.commit` (all or nothing; a lost race
   * returns the current values in the same round trip).
   */
  commit(ops: CasOp[]): Promise<CasResult> {
    return this.retrying(async (ambiguous) => {
      if (ambiguous) {
        // Did the lost answer commit? Then every key holds what we wrote.
        const current = await Promise.all(ops.map((o) => this.ds.get(o.key)));
        if (ops.every((o, i) => (o.value === null ? !current[i] : current[i]?.value === o.value))) return { succeeded: true, kvs: current };
        if (!ops.every((o, i) => (current[i]?.revision ?? null) === o.revision)) return { succeeded: false, current };
      }
      return this.ds.commit(ops);
    });
  }

  /** Delete the key if it is still at `prev`. */
  remove(key: string, prev: KV): Promise<void> {
    return this.retrying(async (ambiguous) => {
      if (ambiguous) {
        const cur = await this.ds.get(key);
        if (!cur) return;
        assertUnmoved(key, prev, cur);
      }
      await this.ds.delete(key, prev.revision);
    });
  }

  /** Delete whatever is there; absent is fine. */
  async removeIfPresent(key: string): Promise<void> {
    await this.retrying(async () => {
      try {
        await this.ds.delete(key);
      } catch (e) {
        if (!isCode(e, 'NotFound')) throw e;
      }
    });
  }

  /** Create if absent; an existing key is left alone. Returns whether we created it. */
  async createIfAbsent(key: string, value: string): Promise<boolean> {
    try {
      await this.write(key, value, null);
      return true;
    } catch (e) {
      if (isCode(e, 'AlreadyExists')) return false;
      throw e;
    }
  }
}

function assertUnmoved(key: string, prev: KV | null, cur: KV | null): void {
  if (!prev && cur) throw new DatastoreError('AlreadyExists', `${key} already exists`, key);
  if (prev && !cur) throw new DatastoreError('NotFound', `${key} does not exist`, key);
  if (prev && cur && prev.revision !== cur.revision) {
    throw new DatastoreError('Conflict', `${key} was modified concurrently`, key);
  }
}

/** A lost CAS race: re-read and try again. */
export const isLostRace = (e: unknown): boolean =>
  isCode(e, 'Conflict') || isCode(e, 'NotFound') || isCode(e, 'AlreadyExists');
