// Actions behind `create|apply|replace|delete|get` (loaded only when run).
import type { Command } from 'commander';
import { resolveKind, type KindInfo } from '@calico/libcalico';
import { withClient } from './context.js';
import { CliError } from './errors.js';
import { parseOutputFormat, printResources } from './output.js';
import { parseResourceText, readInput } from './resource-files.js';
import { runFileAction, type FileAction, type FileActionOptions } from './resource-ops.js';

function kindOf(typed: string): KindInfo {
  const info = resolveKind(typed);
  if (!info) throw new CliError(`resource type '${typed}' is not supported`);
  return info;
}

export async function fileCommand(cmd: Command, action: FileAction, file: string, opts: FileActionOptions): Promise<void> {
  // Parse before connecting: a broken file fails without touching etcd.
  const docs = parseResourceText(readInput(file));
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
  await withClient(cmd, async ({ client }) => {
    if (name) {
      if (info.namespaced && opts.allNamespaces) throw new CliError('a name needs one namespace: use -n NAMESPACE, not -A');
      printResources(await client.get(info.kind, name, ns), format, { namespaceColumn });
      return;
    }
    const list = await client.list(info.kind, {
      namespace: ns,
      onInvalid: (key, err) => process.stderr.write(`Warning: skipping malformed ${key}: ${err.message}\n`),
    });
    printResources(list, format, { kind: info.kind, namespaceColumn });
  });
}
