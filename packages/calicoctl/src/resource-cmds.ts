// Actions behind `create|apply|replace|delete|get` (loaded only when run).
import type { Command } from 'commander';
import type { KV, Resource } from '@calico/libcalico';
import { kindPrefix, parseResourceKey, resolveKind, resourceKey, type KindInfo } from '@calico/libcalico/resources/kinds';
import { withClient, withDatastore } from './context.js';
import { CliError } from './errors.js';
import { parseOutputFormat, printResources } from './output.js';
import { parseResourceText, readInput } from './resource-files.js';
import type { FileAction, FileActionOptions } from './resource-ops.js';

function kindOf(typed: string): KindInfo {
  const info = resolveKind(typed);
  if (!info) throw new CliError(`resource type '${typed}' is not supported`);
  return info;
}

export async function fileCommand(cmd: Command, action: FileAction, file: string, opts: FileActionOptions): Promise<void> {
  // Parse before connecting: a broken file fails without touching etcd.
  const docs = parseResourceText(readInput(file));
  const { runFileAction } = await import('./resource-ops.js');
  const line = await withClient(cmd, ({ client }) => runFileAction(client, docs, action, opts));
  process.stdout.write(line + '\n');
}

export async function deleteCommand(
  cmd: Command,
  kind: string | undefined,
  name: string | undefined,
  opts: { filename?: string; namespace: string; skipNotExists?: boolean },
): Promise<void> {
  if (opts.filename) {
    if (kind) throw new CliError('give either -f FILE or KIND NAME, not both');
    return fileCommand(cmd, 'delete', opts.filename, opts);
  }
  if (!kind || !name) throw new CliError('delete needs -f FILE, or KIND and NAME');
  const info = kindOf(kind);
  const ns = info.namespaced ? opts.namespace : undefined;
  await withClient(cmd, async ({ client }) => {
    try {
      await client.delete(info.kind, name, ns);
    } catch (e) {
      if (!(opts.skipNotExists && (e as { code?: string }).code === 'NotFound')) throw e;
    }
  });
  process.stdout.write(`Successfully deleted 1 '${info.kind}' resource(s)\n`);
}

/**
 * A stored resource as written (every writer validated it already), with its
 * revision as metadata.resourceVersion. `get` reads this way rather than
 * through ResourceClient so it never loads the validation schemas (start-up
 * time); a value that is not a resource of the expected kind is reported.
 */
function storedResource(kv: KV, info: KindInfo): Resource {
  let r: Resource;
  try {
    r = JSON.parse(kv.value) as Resource;
  } catch {
    throw new Error(`${kv.key}: stored value is not JSON`);
  }
  if (!r || typeof r !== 'object' || r.kind !== info.kind || typeof r.metadata?.name !== 'string') {
    throw new Error(`${kv.key}: stored value is not a ${info.kind}`);
  }
  r.metadata.resourceVersion = kv.revision;
  return r;
}

export async function getCommand(
  cmd: Command,
  kind: string,
  name: string | undefined,
  opts: { output: string; namespace: string; allNamespaces?: boolean },
): Promise<void> {
  const format = parseOutputFormat(opts.output);
  const info = kindOf(kind);
  const ns = info.namespaced && !opts.allNamespaces ? opts.namespace : undefined;
  const namespaceColumn = info.namespaced && !!opts.allNamespaces;
  if (name && info.namespaced && opts.allNamespaces) throw new CliError('a name needs one namespace: use -n NAMESPACE, not -A');
  await withDatastore(cmd, async (ds) => {
    if (name) {
      const kv = await ds.get(resourceKey(info, name, ns));
      if (!kv) throw new CliError(`${info.kind}(${ns ? `${ns}/` : ''}${name}) does not exist`);
      printResources(storedResource(kv, info), format, { namespaceColumn });
      return;
    }
    const list: Resource[] = [];
    for (const kv of (await ds.list(kindPrefix(info, ns))).kvs) {
      if (parseResourceKey(kv.key)?.info !== info) continue;
      try {
        list.push(storedResource(kv, info));
      } catch (e) {
        process.stderr.write(`Warning: skipping ${(e as Error).message}\n`);
      }
    }
    printResources(list, format, { kind: info.kind, namespaceColumn });
  });
}
