// create | apply | replace | delete -f: validate every resource of the input
// first (each alone, then against each other), check existence, and only then
// write, so an invalid file leaves the datastore untouched.
// Sub-path imports keep the CLI's start-up small (the index loads every module).
import { DatastoreError, ValidationError } from '@calico/libcalico/errors';
import { resolveKind, resourceKey, type KindInfo } from '@calico/libcalico/resources/kinds';
import { validateAgainst } from '@calico/libcalico/resources/validate';
import type { Resource, ResourceClient } from '@calico/libcalico';
import { CliError } from './errors.js';
import type { FileDoc } from './resource-files.js';

export type FileAction = 'create' | 'apply' | 'replace' | 'delete';

const PAST: Record<FileAction, string> = { create: 'created', apply: 'applied', replace: 'replaced', delete: 'deleted' };

interface Planned {
  where: string;
  info: KindInfo;
  r: Resource;
  key: string;
}

export interface FileActionOptions {
  /** create: skip resources that already exist */
  skipExists?: boolean;
  /** delete: skip resources that do not exist */
  skipNotExists?: boolean;
}

const describe = (p: { info: KindInfo; r: Resource }): string =>
  `${p.info.kind}(${p.info.namespaced ? `${p.r.metadata.namespace}/` : ''}${p.r.metadata.name})`;

/** Prefix an error with the document it came from. */
function inDoc(where: string, what: string, e: unknown): CliError {
  const msg = e instanceof Error ? e.message : String(e);
  const at = [where, what].filter(Boolean).join(' ');
  return new CliError(at ? `${at}: ${msg}` : msg);
}

/** What a delete needs: a known kind and a name. */
function identity(raw: unknown): Resource {
  const r = raw as Resource;
  if (!r || typeof r !== 'object' || Array.isArray(r)) throw new ValidationError('', 'resource must be an object');
  if (typeof r.kind !== 'string' || !resolveKind(r.kind)) throw new ValidationError('kind', `unknown resource kind ${JSON.stringify(r.kind)}`);
  if (typeof r.metadata?.name !== 'string' || !r.metadata.name) throw new ValidationError('metadata.name', 'is required');
  return r;
}

function guessName(raw: unknown): string {
  const r = raw as Partial<Resource> | null;
  const kind = typeof r?.kind === 'string' ? r.kind : '';
  const name = typeof r?.metadata?.name === 'string' ? r.metadata.name : '';
  return kind && name ? `(${kind} ${name})` : kind ? `(${kind})` : '';
}

async function plan(client: ResourceClient, docs: FileDoc[], action: FileAction): Promise<Planned[]> {
  const planned: Planned[] = [];
  for (const d of docs) {
    let r: Resource;
    try {
      const rawRv = (d.raw as Resource | null)?.metadata?.resourceVersion;
      r = action === 'delete' ? identity(d.raw) : await client.check(d.raw);
      // replace is a compare-and-swap on the version the user read; create and apply ignore it.
      if (action === 'replace' && rawRv !== undefined) r.metadata.resourceVersion = String(rawRv);
      else if (action !== 'delete') delete r.metadata.resourceVersion;
    } catch (e) {
      throw inDoc(d.where, guessName(d.raw), e);
    }
    const info = resolveKind(r.kind)!;
    const ns = info.namespaced ? (r.metadata.namespace ||= 'default') : undefined;
    planned.push({ where: d.where, info, r, key: resourceKey(info, r.metadata.name, ns) });
  }
  // The input must be consistent with itself, not only with the datastore.
  const seen = new Map<string, string>();
  for (const p of planned) {
    const first = seen.get(p.key);
    if (first !== undefined) throw inDoc(p.where, '', new Error(`${describe(p)} also appears in ${first || 'an earlier document'}`));
    seen.set(p.key, p.where);
  }
  if (action !== 'delete') {
    for (const p of planned) {
      const others = planned.filter((o) => o !== p && o.info === p.info).map((o) => o.r);
      try {
        validateAgainst(p.r, others);
      } catch (e) {
        throw inDoc(p.where, `(${p.r.kind} ${p.r.metadata.name})`, e);
      }
    }
  }
  return planned;
}

/** Run one file action; returns the line to print on success. */
export async function runFileAction(
  client: ResourceClient,
  docs: FileDoc[],
  action: FileAction,
  opts: FileActionOptions = {},
): Promise<string> {
  const planned = await plan(client, docs, action);

  // Existence is checked for the whole input before the first write.
  const todo: Planned[] = [];
  for (const p of planned) {
    const exists = (await client.ds.get(p.key)) !== null;
    if (action === 'create' && exists) {
      if (opts.skipExists) continue;
      throw inDoc(p.where, '', new Error(`${describe(p)} already exists`));
    }
    if ((action === 'replace' || action === 'delete') && !exists) {
      if (action === 'delete' && opts.skipNotExists) continue;
      throw inDoc(p.where, '', new Error(`${describe(p)} does not exist`));
    }
    todo.push(p);
  }

  let done = 0;
  try {
    for (const p of todo) {
      if (action === 'create') await client.create(p.r);
      else if (action === 'apply') await client.apply(p.r);
      else if (action === 'replace') await client.update(p.r);
      else await client.delete(p.info.kind, p.r.metadata.name, p.r.metadata.namespace);
      done++;
    }
  } catch (e) {
    const msg = e instanceof DatastoreError || e instanceof ValidationError ? e.message : String((e as Error).message ?? e);
    if (done === 0) throw new CliError(`failed to ${action} ${describe(todo[0]!)}: ${msg}`);
    throw new CliError(`partial success: ${PAST[action]} the first ${done} out of ${todo.length} resources; then ${describe(todo[done]!)}: ${msg}`);
  }
  const kinds = new Set(planned.map((p) => p.info.kind));
  const kindText = kinds.size === 1 ? `'${[...kinds][0]}' ` : '';
  return `Successfully ${PAST[action]} ${done} ${kindText}resource(s)`;
}
