import type { Command } from 'commander';
import { withClient } from '../context.js';
import { OUTPUT_FLAGS } from '../output.js';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function registerIpam(program: Command): void {
  const ipam = program.command('ipam').description('IP address management: usage, consistency check, release');

  ipam
    .command('show')
    .description('IP pools and how many addresses are in use; with --ip, who holds one address')
    .option('--ip <ip>', 'show whether this address is allocated, and its handle and attributes')
    .option('--show-blocks', 'also list every allocation block with its host')
    .option(OUTPUT_FLAGS, 'output format: ps (table), yaml or json', 'ps')
    .action(async (opts, cmd: Command) => {
      const { ipamShow } = await import('../ipam-cmds.js');
      process.stdout.write(await withClient(cmd, ({ ds, client }) => ipamShow(ds, client, opts)));
    });

  ipam
    .command('check')
    .description('report leaked addresses and inconsistent IPAM records (exit 1 if anything is found)')
    .option(OUTPUT_FLAGS, 'output format: ps (text report), yaml or json', 'ps')
    .action(async (opts, cmd: Command) => {
      const { ipamCheck } = await import('../ipam-cmds.js');
      await withClient(cmd, ({ ds, client }) => ipamCheck(ds, client, opts));
    });

  ipam
    .command('release')
    .description('release addresses (refused for an address a workload endpoint uses, unless --force)')
    .requiredOption('--ip <ip>', 'address to release (repeat for several)', collect)
    .option('--force', 'release even if a workload endpoint still uses the address')
    .action(async (opts, cmd: Command) => {
      const { ipamRelease } = await import('../ipam-cmds.js');
      process.stdout.write(await withClient(cmd, ({ ds, client }) => ipamRelease(ds, client, opts)));
    });

  ipam
    .command('configure')
    .description('set global IPAM options')
    .option('--strictaffinity <bool>', 'true: hosts never borrow addresses from other hosts’ blocks')
    .option('--max-blocks-per-host <n>', 'blocks one host may claim (0 = unlimited)')
    .option('--auto-allocate-blocks <bool>', 'false: hosts claim no new blocks')
    .action(async (opts, cmd: Command) => {
      const { ipamConfigure } = await import('../ipam-cmds.js');
      process.stdout.write(await withClient(cmd, ({ ds }) => ipamConfigure(ds, opts)));
    });
}
