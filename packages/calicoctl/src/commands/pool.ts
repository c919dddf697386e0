import type { Command } from 'commander';
import { withClient } from '../context.js';
import { OUTPUT_FLAGS, OUTPUT_HELP } from '../output.js';

export function registerPool(program: Command): void {
  const pool = program.command('pool').description('manage IP pools (IPPool resources named after the CIDR, e.g. 198-19-0-0-16)');

  pool
    .command('add')
    .description('add IP pools, e.g. `pool add 198.19.0.0/16 --nat-outgoing`')
    .argument('<cidrs...>', 'pool CIDRs (IPv4 or IPv6)')
    .option('--ipip', 'IPIP encapsulation (ipipMode Always; IPv4 only)')
    .option('--nat-outgoing', 'masquerade traffic leaving the pool')
    .option('--disabled', 'no new addresses are allocated from the pool')
    .option('--block-size <n>', 'allocation block prefix length (default 26 for IPv4, 122 for IPv6)')
    .action(async (cidrs: string[], opts, cmd: Command) => {
      const { poolAdd } = await import('../pool-cmds.js');
      process.stdout.write((await withClient(cmd, ({ client }) => poolAdd(client, cidrs, opts))) + '\n');
    });

  pool
    .command('remove')
    .description('remove the IP pools with these CIDRs (whatever their names)')
    .argument('<cidrs...>', 'pool CIDRs')
    .action(async (cidrs: string[], _opts, cmd: Command) => {
      const { poolRemove } = await import('../pool-cmds.js');
      process.stdout.write((await withClient(cmd, ({ client }) => poolRemove(client, cidrs))) + '\n');
    });

  pool
    .command('show')
    .description('list IP pools')
    .option('--ipv4', 'IPv4 pools only')
    .option('--ipv6', 'IPv6 pools only')
    .option(OUTPUT_FLAGS, OUTPUT_HELP, 'ps')
    .action(async (opts, cmd: Command) => {
      const { poolShow } = await import('../pool-cmds.js');
      const text = await withClient(cmd, ({ client }) => poolShow(client, opts));
      if (text !== undefined) process.stdout.write(text + '\n');
    });
}
