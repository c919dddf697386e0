// A Datastore over etcd's v3 JSON gateway (`POST /v3/kv/range|put|txn|watch` on
// the client port, same TLS; `unix:///path` endpoints too). Loading the gRPC
// client (etcd3 → grpc-js + protobufjs) costs ~200 ms before the first request
// and ~30 MB; node:http costs nothing. calicoctl, felix and confd use it.
import { request as httpRequest, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { DatastoreError } from '../errors.js';
import { readFileIf, type EtcdConfig } from '../config.js';
import { casOne } from './cas.js';
import type { CasOp, CasResult, Datastore, KV, KVList, Watch, WatchHandlers } from './types.js';

interface GwKV {
  key: string;
  value?: string;
  mod_revision: string;
}
interface GwHeader {
  revision: string;
}
interface GwRange {
  header: GwHeader;
  kvs?: GwKV[];
  /** a limited range left keys out */
  more?: boolean;
}
interface GwWatchResult {
  created?: boolean;
  canceled?: boolean;
  compact_revision?: string;
  cancel_reason?: string;
  events?: { type?: 'PUT' | 'DELETE'; kv: GwKV }[];
}
interface GwTxn {
  header: GwHeader;
  succeeded?: boolean;
  responses?: { response_range?: { kvs?: GwKV[] } }[];
}

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string => (s ? Buffer.from(s, 'base64').toString('utf8') : '');
const toKV = (kv: GwKV): KV => ({ key: unb64(kv.key), value: unb64(kv.value), revision: kv.mod_revision });

/** The first key after `key` (base64 in, base64 out): `key` + a zero byte. */
const keyAfter = (key: string): string => Buffer.concat([Buffer.from(key, 'base64'), Buffer.from([0])]).toString('base64');

/**
 * Keys per range request in list(). This bounds what felix, confd and calicoctl hold at once
 * while a list is read: etcd's JSON for 100,000 endpoints is ~70 MB, and node's
 * copies of it would be several times that, more than felix's 256 MB heap.
 */
export const LIST_PAGE = 2000;

/** The range_end that selects every key starting with `prefix`. */
function prefixEnd(prefix: string): string {
  const b = Buffer.from(prefix, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]!++;
      return end.toString('base64');
    }
  }
  return b64('\0');
}

export class GatewayDatastore implements Datastore {
  private readonly endpoints: URL[];
  private readonly tls: Pick<RequestOptions & { ca?: Buffer; cert?: Buffer; key?: Buffer }, 'ca' | 'cert' | 'key'>;
  /** index of the endpoint that answered last */
  private current = 0;
  private readonly watches = new Set<ClientRequest>();

  constructor(
    private readonly cfg: EtcdConfig,
    private readonly listPage = LIST_PAGE,
  ) {
    this.endpoints = cfg.endpoints.map((e) => new URL(e));
    this.tls = { ca: readFileIf(cfg.caFile), cert: readFileIf(cfg.certFile), key: readFileIf(cfg.keyFile) };
  }

  /** A POST to `path` on `url` (`unix:///path/to/socket` goes through that socket). */
  private request(url: URL, path: string, data: string, onResponse: (res: IncomingMessage) => void, timeoutMs?: number): ClientRequest {
    const https = url.protocol === 'https:';
    const where = url.protocol === 'unix:' ? { socketPath: url.pathname } : { host: url.hostname, port: url.port || (https ? 443 : 2379) };
    // node:https (and TLS under it) is loaded only for an https endpoint: ~4 ms of every start otherwise.
    return (https ? process.getBuiltinModule('node:https').request : httpRequest)(
      {
        ...where,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
        timeout: timeoutMs,
        ...(https ? this.tls : {}),
      },
      onResponse,
    );
  }

  private post<T>(url: URL, path: string, body: unknown): Promise<T> {
    const data = JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = this.request(
        url,
        path,
        data,
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              return reject(new HttpError(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            }
            if (res.statusCode !== 200) {
              const msg = (json as { message?: string; error?: string }).message ?? (json as { error?: string }).error ?? text;
              return reject(new HttpError(`HTTP ${res.statusCode}: ${msg}`));
            }
            resolve(json as T);
          });
          res.on('error', reject);
        },
        this.cfg.timeoutMs,
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.cfg.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(data);
    });
  }

  /** Try the endpoints in turn (starting with the last good one) until one answers. */
  private async onEndpoints<T>(key: string | undefined, attempt: (url: URL) => Promise<T>): Promise<T> {
    const failures: string[] = [];
    for (let n = 0; n < this.endpoints.length; n++) {
      const i = (this.current + n) % this.endpoints.length;
      const url = this.endpoints[i]!;
      try {
        const res = await attempt(url);
        this.current = i;
        return res;
      } catch (e) {
        // etcd answered with an error: another endpoint would say the same
        if (e instanceof HttpError) throw new DatastoreError('Unavailable', `etcd at ${url.origin}: ${e.message}`, key);
        failures.push(`${url.origin}: ${(e as Error).message}`);
      }
    }
    throw new DatastoreError('Unavailable', `cannot reach etcd (${failures.join('; ')})`, key);
  }

  private call<T>(path: string, body: unknown, key?: string): Promise<T> {
    return this.onEndpoints(key, (url) => this.post<T>(url, path, body));
  }

  async get(key: string): Promise<KV | null> {
    const res = await this.call<GwRange>('/v3/kv/range', { key: b64(key) }, key);
    return res.kvs?.[0] ? toKV(res.kvs[0]) : null;
  }

  /** Every key under `prefix`, read in pages of `listPage` keys, all at the first page's revision (one consistent snapshot). */
  async list(prefix: string): Promise<KVList> {
    const end = prefixEnd(prefix);
    const kvs: KV[] = [];
    let from = b64(prefix);
    let revision: string | undefined;
    for (;;) {
      const res = await this.call<GwRange>('/v3/kv/range', { key: from, range_end: end, limit: this.listPage, ...(revision ? { revision } : {}) }, prefix);
      // A response's header has the store's current revision, not the one read at: keep the first.
      revision ??= res.header.revision;
      const page = res.kvs ?? [];
      for (const kv of page) kvs.push(toKV(kv));
      if (!res.more || !page.length) return { kvs, revision };
      from = keyAfter(page[page.length - 1]!.key);
    }
  }

  async create(key: string, value: string): Promise<KV> {
    return (await casOne(this, { key, value, revision: null }))!;
  }

  async update(key: string, value: string, revision: string): Promise<KV> {
    return (await casOne(this, { key, value, revision }))!;
  }

  async put(key: string, value: string): Promise<KV> {
    const res = await this.call<{ header: GwHeader }>('/v3/kv/put', { key: b64(key), value: b64(value) }, key);
    return { key, value, revision: res.header.revision };
  }

  async delete(key: string, revision?: string): Promise<void> {
    if (revision !== undefined) return void (await casOne(this, { key, value: null, revision }));
    const res = await this.call<{ deleted?: string }>('/v3/kv/deleterange', { key: b64(key) }, key);
    if (!Number(res.deleted ?? 0)) throw new DatastoreError('NotFound', `${key} does not exist`, key);
  }

  async commit(ops: CasOp[]): Promise<CasResult> {
    if (!ops.length) return { succeeded: true, kvs: [] };
    const res = await this.call<GwTxn>(
      '/v3/kv/txn',
      {
        // Each key still at its revision (create_revision 0: still absent).
        compare: ops.map((op) => ({
          key: b64(op.key),
          result: 'EQUAL',
          ...(op.revision === null ? { target: 'CREATE', create_revision: '0' } : { target: 'MOD', mod_revision: op.revision }),
        })),
        success: ops.map((op) =>
          op.value === null ? { request_delete_range: { key: b64(op.key) } } : { request_put: { key: b64(op.key), value: b64(op.value) } },
        ),
        failure: ops.map((op) => ({ request_range: { key: b64(op.key) } })),
      },
      ops[0]!.key,
    );
    if (res.succeeded) {
      const revision = res.header.revision;
      return { succeeded: true, kvs: ops.map((op) => (op.value === null ? null : { key: op.key, value: op.value, revision })) };
    }
    const current = ops.map((_, i) => {
      const kv = res.responses?.[i]?.response_range?.kvs?.[0];
      return kv ? toKV(kv) : null;
    });
    return { succeeded: false, current };
  }

  /**
   * `POST /v3/watch` answers with a stream of JSON objects, one a line: first
   * `created`, then batches of events in revision order. The watch ends with
   * onError when the stream does (etcd gone, history compacted, canceled);
   * TCP keepalive notices a peer that vanished without closing. Tries the
   * endpoints in turn, like every other call.
   */
  watch(prefix: string, fromRevision: string, handlers: WatchHandlers): Promise<Watch> {
    const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: prefixEnd(prefix), start_revision: fromRevision } });
    return this.onEndpoints(prefix, (url) => this.watchAt(url, body, handlers));
  }

  private watchAt(url: URL, body: string, handlers: WatchHandlers): Promise<Watch> {
    return new Promise<Watch>((resolve, reject) => {
      let created = false;
      let closed = false;
      const fail = (err: Error) => {
        if (closed) return;
        closed = true;
        this.watches.delete(req);
        req.destroy();
        if (created) handlers.onError(err);
        else reject(err);
      };
      const req = this.request(url, '/v3/watch', body, (res) => {
        if (res.statusCode !== 200) return fail(new HttpError(`HTTP ${res.statusCode}`));
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (line) this.onWatchMessage(line, handlers, fail, () => ((created = true), req.setTimeout(0), resolve(watch)));
          }
        });
        res.on('end', () => fail(new Error('etcd ended the watch')));
        res.on('error', fail);
      });
      const watch: Watch = {
        close: async () => {
          closed = true;
          this.watches.delete(req);
          req.destroy();
        },
      };
      this.watches.add(req);
      req.on('socket', (s) => s.setKeepAlive(true, 10_000));
      req.on('error', fail);
      // Until etcd confirms the watch, an answer is due like any other call's.
      req.setTimeout(this.cfg.timeoutMs, () => !created && fail(new Error(`no answer within ${this.cfg.timeoutMs} ms`)));
      req.end(body);
    });
  }

  private onWatchMessage(line: string, handlers: WatchHandlers, fail: (e: Error) => void, onCreated: () => void): void {
    let r: GwWatchResult | undefined;
    try {
      r = (JSON.parse(line) as { result?: GwWatchResult }).result;
    } catch {
      return fail(new Error(`etcd sent a watch message that is not JSON: ${line.slice(0, 200)}`));
    }
    if (!r) return fail(new Error(`etcd: ${line.slice(0, 200)}`));
    if (r.canceled || r.compact_revision) {
      const why = r.compact_revision ? `history compacted up to revision ${r.compact_revision}` : (r.cancel_reason ?? 'canceled');
      return fail(new Error(`etcd canceled the watch: ${why}`));
    }
    if (r.created) return onCreated();
    if (r.events?.length) {
      handlers.onEvents(
        r.events.map((e) =>
          e.type === 'DELETE'
            ? { type: 'delete' as const, key: unb64(e.kv.key), revision: e.kv.mod_revision }
            : { type: 'put' as const, key: unb64(e.kv.key), value: unb64(e.kv.value), revision: e.kv.mod_revision },
        ),
      );
    }
  }

  async close(): Promise<void> {
    for (const req of this.watches) req.destroy();
    this.watches.clear();
  }
}

/** etcd answered, with an error status. */
class HttpError extends Error {}
