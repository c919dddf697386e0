import { DatastoreError } from '../errors.js';
import { casOne } from './cas.js';
import type { CasOp, CasResult, Datastore, KV, KVList, Watch, WatchEvent, WatchHandlers } from './types.js';

/**
 * In-memory Datastore with etcd's revision semantics, for fast unit tests of
 * pure logic. Never a stand-in for etcd in end-to-end tests.
 */
export class MemoryDatastore implements Datastore {
  private rev = 1;
  private readonly data = new Map<string, KV>();
  private readonly history: WatchEvent[] = [];
  private readonly watchers = new Set<{ prefix: string; handlers: WatchHandlers }>();

  async get(key: string): Promise<KV | null> {
    return this.data.get(key) ?? null;
  }

  async list(prefix: string): Promise<KVList> {
    const kvs = [...this.data.values()].filter((kv) => kv.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
    return { kvs, revision: String(this.rev) };
  }

  private write(key: string, value: string): KV {
    const kv = { key, value, revision: String(++this.rev) };
    this.data.set(key, kv);
    this.emit({ type: 'put', ...kv });
    return kv;
  }

  /** Record events that share one revision and deliver them to each watcher as one batch. */
  private emit(...events: WatchEvent[]): void {
    this.history.push(...events);
    for (const w of this.watchers) {
      const mine = events.filter((ev) => ev.key.startsWith(w.prefix));
      if (mine.length) w.handlers.onEvents(mine);
    }
  }

  async create(key: string, value: string): Promise<KV> {
    return (await casOne(this, { key, value, revision: null }))!;
  }

  async update(key: string, value: string, revision: string): Promise<KV> {
    return (await casOne(this, { key, value, revision }))!;
  }

  async put(key: string, value: string): Promise<KV> {
    return this.write(key, value);
  }

  async delete(key: string, revision?: string): Promise<void> {
    if (revision !== undefined) return void (await casOne(this, { key, value: null, revision }));
    if (!this.data.delete(key)) throw new DatastoreError('NotFound', `${key} does not exist`, key);
    this.emit({ type: 'delete', key, revision: String(++this.rev) });
  }

  async commit(ops: CasOp[]): Promise<CasResult> {
    if (!ops.every((op) => (this.data.get(op.key)?.revision ?? null) === op.revision)) {
      return { succeeded: false, current: ops.map((op) => this.data.get(op.key) ?? null) };
    }
    // Like an etcd txn: every change carries the one new store revision
    // (and a txn that changes nothing does not move the store revision).
    const revision = String(this.rev + 1);
    const events: WatchEvent[] = [];
    const kvs = ops.map((op): KV | null => {
      if (op.value === null) {
        if (this.data.delete(op.key)) events.push({ type: 'delete', key: op.key, revision });
        return null;
      }
      const kv = { key: op.key, value: op.value, revision };
      this.data.set(op.key, kv);
      events.push({ type: 'put', ...kv });
      return kv;
    });
    if (events.length) this.rev++;
    this.emit(...events);
    return { succeeded: true, kvs };
  }

  async watch(prefix: string, fromRevision: string, handlers: WatchHandlers): Promise<Watch> {
    const from = Number(fromRevision);
    const backlog = this.history.filter((e) => Number(e.revision) >= from && e.key.startsWith(prefix));
    if (backlog.length) queueMicrotask(() => handlers.onEvents(backlog));
    const w = { prefix, handlers };
    this.watchers.add(w);
    return { close: async () => void this.watchers.delete(w) };
  }

  async close(): Promise<void> {
    this.watchers.clear();
  }
}
