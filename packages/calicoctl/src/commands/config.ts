import type { Command } from 'commander';
import { withClient } from '../context.js';

const print = (text: string): void => {
  process.stdout.write(text + '\n');
};
const NODE_FLAGS = '--node <name>';
const NODE_HELP = 'per-node setting (FelixConfiguration / BGPConfiguration node.<name>)';

export function registerConfig(program: Command): void {
  const config = program
    .command('config')
    .description('get and set Felix and BGP settings by name (logLevel, asNumber, nodeToNodeMesh, ipipEnabled, …)');

  config
    .command('get')
    .description('print the effective value of a setting (no NAME: every known setting)')
    .argument('[name]', 'setting name, e.g. logLevel')
    .option(NODE_FLAGS, NODE_HELP)
    .action(async (name: string | undefined, opts: { node?: string }, cmd: Command) => {
      const { configGet, configList } = await import('../config-cmds.js');
      print(await withClient(cmd, ({ client }) => (name ? configGet(client, name, opts.node) : configList(client, opts.node))));
    });

  config
    .command('set')
    .description('set a setting')
    .argument('<name>', 'setting name')
    .argument('<value>', 'new value')
    .option(NODE_FLAGS, NODE_HELP)
    .action(async (name: string, value: string, opts: { node?: string }, cmd: Command) => {
      const { configSet } = await import('../config-cmds.js');
      print(await withClient(cmd, ({ client }) => configSet(client, name, value, opts.node)));
    });

  config
    .command('unset')
    .description('remove a setting (back to the global value or the default)')
    .argument('<name>', 'setting name')
    .option(NODE_FLAGS, NODE_HELP)
    .action(async (name: string, opts: { node?: string }, cmd: Command) => {
      const { configUnset } = await import('../config-cmds.js');
      print(await withClient(cmd, ({ client }) => configUnset(client, name, opts.node)));
    });
}
