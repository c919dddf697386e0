import { DatastoreError, ValidationError } from '../errors.js';
import type { Datastore, KV } from '../datastore/types.js';
import { API_VERSION, kindInfo, kindPrefix, parseResourceKey, resourceKey, resolveKind, type KindInfo } from './kinds.js';
import type { Resource } from './types.js';
import { validateAgainst, validateResource } from './validate.js';

/** Kinds whose validation depends on the other stored resources of the same kind. */
const CROSS_CHECKED = new Set(['IPPool']);

function infoOf(kind: string): KindInfo {
  const info = kindInfo(kind) ?? resolveKind(kind);
  if (!info) throw new ValidationError('kind', `unknown resource kind ${JSON.stringify(kind)}`);
  return info;
}

/** Stored value: the resource without its resourceVersion (that is the etcd revision). */
function encode(r: Resource): string {
  const { resourceVersion: _rv, ...metadata } = r.metadata;
  return JSON.stringify({ apiVersion: r.apiVersion, kind: r.kind, metadata, spec: r.spec });
}

/** Parse and validate a stored value; throws ValidationError naming the key. */
export function decodeResource(kv: KV): Resource {
  let raw: unknown;
  try {
    raw = JSON.parse(kv.value);
  } catch {
    throw new ValidationError(kv.key, 'stored value is not JSON');
  }
  try {
    const r = validateResource(raw);
    r.metadata.resourceVersion = kv.revision;
    return r;
  } catch (e) {
    if (e instanceof ValidationError) throw new ValidationError(`${kv.key}: ${e.field}`, e.reason);
    throw e;
  }
}

export interface ListOptions {
  namespace?: string;
  /** called for each stored value that fails validation (it is skipped) */
  onInvalid?: (key: string, err: Error) => void;
}

/**
 * Typed CRUD for Calico v3 resources over any Datastore. Every write
 * validates first, so nothing invalid reaches etcd; updates are a CAS on
 * metadata.resourceVersion (or on the revision just read, if none given).
 */
export class ResourceClient {
  constructor(readonly ds: Datastore) {}

  async get<S = Record<string, unknown>>(kind: string, name: string, namespace?: string): Promise<Resource<S>> {
    const info = infoOf(kind);
    const kv = await this.ds.get(resourceKey(info, name, namespace));
    if (!kv) throw new DatastoreError('NotFound', `${info.kind}(${namespace ? namespace + '/' : ''}${name}) does not exist`);
    return decodeResource(kv) as Resource<S>;
  }

  async tryGet<S = Record<string, unknown>>(kind: string, name: string, namespace?: string): Promise<Resource<S> | undefined> {
    try {
      return await this.get<S>(kind, name, namespace);
    } catch (e) {
      if (e instanceof DatastoreError && e.code === 'NotFound') return undefined;
      throw e;
    }
  }

  async list<S = Record<string, unknown>>(kind: string, opts: ListOptions = {}): Promise<Resource<S>[]> {
    const info = infoOf(kind);
    const { kvs } = await this.ds.list(kindPrefix(info, opts.namespace));
    const out: Resource<S>[] = [];
    for (const kv of kvs) {
      if (!parseResourceKey(kv.key)) continue;
      try {
        out.push(decodeResource(kv) as Resource<S>);
      } catch (e) {
        if (opts.onInvalid) opts.onInvalid(kv.key, e as Error);
        else throw e;
      }
    }
    return out;
  }

  /** Validate without writing (used to check a whole file before touching etcd). */
  async check(raw: unknown): Promise<Resource> {
    const r = normaliseNamespace(validateResource(raw));
    if (CROSS_CHECKED.has(r.kind)) {
      const others = (await this.list(r.kind, { onInvalid: () => {} })).filter((o) => o.metadata.name !== r.metadata.name);
      validateAgainst(r, others);
    }
    return r;
  }

  async create<S = Record<string, unknown>>(raw: unknown): Promise<Resource<S>> {
    const r = await this.check(raw);
    const key = resourceKey(infoOf(r.kind), r.metadata.name, r.metadata.namespace);
    try {
      const kv = await this.ds.create(key, encode(r));
      return withVersion(r, kv.revision) as Resource<S>;
    } catch (e) {
      if (e instanceof DatastoreError && e.code === 'AlreadyExists') {
        throw new DatastoreError('AlreadyExists', `${r.kind}(${displayName(r)}) already exists`, key);
      }
      throw e;
    }
  }

  async update<S = Record<string, unknown>>(raw: unknown): Promise<Resource<S>> {
    const r = await this.check(raw);
    const key = resourceKey(infoOf(r.kind), r.metadata.name, r.metadata.namespace);
    let rev = r.metadata.resourceVersion;
    if (!rev) {
      const cur = await this.ds.get(key);
      if (!cur) throw new DatastoreError('NotFound', `${r.kind}(${displayName(r)}) does not exist`, key);
      rev = cur.revision;
    }
    try {
      const kv = await this.ds.update(key, encode(r), rev);
      return withVersion(r, kv.revision) as Resource<S>;
    } catch (e) {
      if (e instanceof DatastoreError && e.code === 'NotFound') {
        throw new DatastoreError('NotFound', `${r.kind}(${displayName(r)}) does not exist`, key);
      }
      if (e instanceof DatastoreError && e.code === 'Conflict') {
        throw new DatastoreError('Conflict', `${r.kind}(${displayName(r)}) was modified by someone else; get it again and retry`, key);
      }
      throw e;
    }
  }

  /** Create or replace, retrying a lost race a few times. */
  async apply<S = Record<string, unknown>>(raw: unknown): Promise<Resource<S>> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.check(raw);
      const key = resourceKey(infoOf(r.kind), r.metadata.name, r.metadata.namespace);
      const cur = await this.ds.get(key);
      try {
        const kv = cur ? await this.ds.update(key, encode(r), cur.revision) : await this.ds.create(key, encode(r));
        return withVersion(r, kv.revision) as Resource<S>;
      } catch (e) {
        const lostRace = e instanceof DatastoreError && ['Conflict', 'AlreadyExists', 'NotFound'].includes(e.code);
        if (!lostRace || attempt >= 5) throw e;
      }
    }
  }

  async delete(kind: string, name: string, namespace?: string, resourceVersion?: string): Promise<void> {
    const info = infoOf(kind);
    const key = resourceKey(info, name, info.namespaced ? namespace : undefined);
    try {
      await this.ds.delete(key, resourceVersion);
    } catch (e) {
      if (e instanceof DatastoreError && e.code === 'NotFound') {
        throw new DatastoreError('NotFound', `${info.kind}(${namespace && info.namespaced ? namespace + '/' : ''}${name}) does not exist`, key);
      }
      throw e;
    }
  }
}

function normaliseNamespace(r: Resource): Resource {
  const info = infoOf(r.kind);
  if (info.namespaced) r.metadata.namespace ||= 'default';
  else delete r.metadata.namespace;
  r.apiVersion = API_VERSION;
  return r;
}

function withVersion(r: Resource, revision: string): Resource {
  return { ...r, metadata: { ...r.metadata, resourceVersion: revision } };
}

function displayName(r: Resource): string {
  return r.metadata.namespace ? `${r.metadata.namespace}/${r.metadata.name}` : r.metadata.name;
}
