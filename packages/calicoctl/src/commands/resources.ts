import type { Command } from 'commander';
import { OUTPUT_FLAGS, OUTPUT_HELP } from '../output.js';

const FILE_HELP = 'resource file (YAML or JSON, several documents or a List), or - for stdin';

export function registerResources(program: Command): void {
  const verbs = [
    ['create', 'create resources from a file; fails if any already exists'],
    ['apply', 'create or update resources from a file'],
    ['replace', 'replace existing resources from a file (compare-and-swap on metadata.resourceVersion when given)'],
  ] as const;
  for (const [verb, help] of verbs) {
    const c = program
      .command(verb)
      .description(help)
      .requiredOption('-f, --filename <file>', FILE_HELP)
      .action(async (opts: { filename: string; skipExists?: boolean }, cmd: Command) => {
        const { fileCommand } = await import('../resource-cmds.js');
        await fileCommand(cmd, verb, opts.filename, opts);
      });
    if (verb === 'create') c.option('--skip-exists', 'skip resources that already exist instead of failing');
  }

  program
    .command('delete')
    .description('delete resources named in a file, or one resource by kind and name')
    .argument('[kind]', 'resource kind (e.g. ippool, profile, gnp)')
    .argument('[name]', 'resource name')
    .option('-f, --filename <file>', FILE_HELP)
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
    .option('--skip-not-exists', 'do not fail when a resource does not exist')
    .action(async (kind: string | undefined, name: string | undefined, opts, cmd: Command) => {
      const { deleteCommand } = await import('../resource-cmds.js');
      await deleteCommand(cmd, kind, name, opts);
    });

  program
    .command('get')
    .description('show resources of a kind (plural, singular or short name), or one by name')
    .argument('<kind>', 'resource kind: ippools, profiles, gnp, networkpolicies, nodes, bgppeers, bgpconfig, felixconfig, wep, hep')
    .argument('[name]', 'resource name')
    .option(OUTPUT_FLAGS, OUTPUT_HELP, 'ps')
    .option('-n, --namespace <ns>', 'namespace (namespaced kinds)', 'default')
    .option('-A, --all-namespaces', 'every namespace (namespaced kinds)')
    .action(async (kind: string, name: string | undefined, opts, cmd: Command) => {
      const { getCommand } = await import('../resource-cmds.js');
      await getCommand(cmd, kind, name, opts);
    });
}
