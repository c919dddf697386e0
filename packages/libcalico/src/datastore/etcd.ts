import { Etcd3, type IOptions, type IKeyValue, type Watcher, type IWatchResponse } from 'etcd3';
import { noop } from 'cockatiel';
import { DatastoreError } from '../errors.js';
import { readFileIf, type EtcdConfig } from '../config.js';
import { casOne } from './cas.js';
import type { CasOp, CasResult, Datastore, KV, KVList, Watch, WatchEvent, WatchHandlers } from './types.js';

const toKV = (kv: IKeyValue): KV => ({
  key: kv.key.toString(),
  value: kv.value.toString(),
  revision: String(kv.mod_revision),
});

/** Datastore on etcd v3 (the `etcd3` client). Every call has a deadline. */
export class EtcdDatastore implements Datastore {
  readonly client: Etcd3;
  private readonly endpoints: string;

  constructor(cfg: EtcdConfig) {
    this.endpoints = cfg.endpoints.join(',');
    const tls = cfg.endpoints.some((e) => e.startsWith('https://'));
    const opts: IOptions = {
      hosts: cfg.endpoints,
      dialTimeout: cfg.timeoutMs,
      // We retry where it is meaningful (IPAM CAS loops, the syncer); a
      // circuit breaker would keep failing calls after etcd came back.
      faultHandling: {
        host: () => noop,
        global: noop,
      },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + cfg.timeoutMs }),
    };
    if (tls || cfg.caFile) {
      opts.credentials = {
        rootCertificate: readFileIf(cfg.caFile) ?? Buffer.alloc(0),
        privateKey: readFileIf(cfg.keyFile),
        certChain: readFileIf(cfg.certFile),
      };
    }
    this.client = new Etcd3(opts);
  }

  /** Translate the client's errors into ours, naming the endpoint. */
  private wrap(e: unknown, key?: string): DatastoreError {
    if (e instanceof DatastoreError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new DatastoreError('Unavailable', `etcd at ${this.endpoints} unavailable: ${msg}`, key);
  }

  async get(key: string): Promise<KV | null> {
    try {
      const res = await this.client.get(key).exec();
      return res.kvs[0] ? toKV(res.kvs[0]) : null;
    } catch (e) {
      throw this.wrap(e, key);
    }
  }

  async list(prefix: string): Promise<KVList> {
    try {
      const res = await this.client.getAll().prefix(prefix).exec();
      return { kvs: res.kvs.map(toKV), revision: String(res.header.revision) };
    } catch (e) {
      throw this.wrap(e, prefix);
    }
  }

  async create(key: string, value: string): Promise<KV> {
    return (await casOne(this, { key, value, revision: null }))!;
  }

  async update(key: string, value: string, revision: string): Promise<KV> {
    return (await casOne(this, { key, value, revision }))!;
  }

  async put(key: string, value: string): Promise<KV> {
    try {
      const res = await this.client.put(key).value(value).exec();
      return { key, value, revision: String(res.header.revision) };
    } catch (e) {
      throw this.wrap(e, key);
    }
  }

  async delete(key: string, revision?: string): Promise<void> {
    if (revision !== undefined) return void (await casOne(this, { key, value: null, revision }));
    let res;
    try {
      res = await this.client.delete().key(key).exec();
    } catch (e) {
      throw this.wrap(e, key);
    }
    if (res.deleted === '0') throw new DatastoreError('NotFound', `${key} does not exist`, key);
  }

  async commit(ops: CasOp[]): Promise<CasResult> {
    const [first, ...rest] = ops;
    if (!first) return { succeeded: true, kvs: [] };
    // Each key still at its revision (Create == 0: still absent).
    const column = (op: CasOp) => (op.revision === null ? 'Create' : 'Mod') as 'Create' | 'Mod';
    let txn = this.client.if(first.key, column(first), '==', first.revision ?? 0);
    for (const op of rest) txn = txn.and(op.key, column(op), '==', op.revision ?? 0);
    let res;
    try {
      res = await txn
        .then(...ops.map((op) => (op.value === null ? this.client.delete().key(op.key) : this.client.put(op.key).value(op.value))))
        .else(...ops.map((op) => this.client.get(op.key)))
        .commit();
    } catch (e) {
      throw this.wrap(e, first.key);
    }
    if (res.succeeded) {
      const revision = String(res.header.revision);
      return { succeeded: true, kvs: ops.map((op) => (op.value === null ? null : { key: op.key, value: op.value, revision })) };
    }
    return { succeeded: false, current: res.responses.map((r) => (r.response_range?.kvs?.[0] ? toKV(r.response_range.kvs[0]) : null)) };
  }

  async watch(prefix: string, fromRevision: string, handlers: WatchHandlers): Promise<Watch> {
    let watcher: Watcher;
    try {
      watcher = await this.client.watch().prefix(prefix).startRevision(fromRevision).create();
    } catch (e) {
      throw this.wrap(e, prefix);
    }
    let dead = false;
    watcher.on('data', (res: IWatchResponse) => {
      if (dead || !res.events.length) return;
      const events: WatchEvent[] = res.events.map((ev) =>
        ev.type === 'Delete'
          ? { type: 'delete', key: ev.kv.key.toString(), revision: String(ev.kv.mod_revision) }
          : { type: 'put', key: ev.kv.key.toString(), value: ev.kv.value.toString(), revision: String(ev.kv.mod_revision) },
      );
      handlers.onEvents(events);
    });
    watcher.on('error', (err: Error) => {
      if (dead) return;
      dead = true;
      void watcher.cancel().catch(() => {});
      handlers.onError(err);
    });
    return {
      close: async () => {
        dead = true;
        await watcher.cancel().catch(() => {});
      },
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
