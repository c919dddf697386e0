import type { Command } from 'commander';
import { withClient } from '../context.js';
import { CliError } from '../errors.js';
import { OUTPUT_FLAGS, OUTPUT_HELP } from '../output.js';

const print = (text: string): void => {
  process.stdout.write(text + '\n');
};

export function registerBgp(program: Command): void {
  const bgp = program.command('bgp').description('global BGP settings: peers, node-to-node mesh, default AS');
  const peer = bgp.command('peer').description('global BGP peers (every node peers with them)');

  peer
    .command('add')
    .description('add a global BGP peer: bgp peer add IP as AS')
    .argument('<ip>', 'peer IPv4 or IPv6 address')
    .argument('<as>', 'the word "as"')
    .argument('<asnum>', 'peer AS number (1..4294967295 or dotted a.b)')
    .action(async (ip: string, as: string, asnum: string, _opts, cmd: Command) => {
      if (as !== 'as') throw new CliError(`bgp peer add: expected "as" after the peer IP, got ${JSON.stringify(as)}`);
      const { peerAdd } = await import('../bgp-cmds.js');
      print(await withClient(cmd, ({ client }) => peerAdd(client, ip, asnum)));
    });

  peer
    .command('remove')
    .description('remove a global BGP peer')
    .argument('<ip>', 'peer IP')
    .action(async (ip: string, _opts, cmd: Command) => {
      const { peerRemove } = await import('../bgp-cmds.js');
      print(await withClient(cmd, ({ client }) => peerRemove(client, ip)));
    });

  peer
    .command('show')
    .description('list global BGP peers')
    .option('--ipv4', 'IPv4 peers only')
    .option('--ipv6', 'IPv6 peers only')
    .option(OUTPUT_FLAGS, OUTPUT_HELP, 'ps')
    .action(async (opts: { ipv4?: boolean; ipv6?: boolean; output: string }, cmd: Command) => {
      const { peerShow } = await import('../bgp-cmds.js');
      print(await withClient(cmd, ({ client }) => peerShow(client, opts)));
    });

  bgp
    .command('node-mesh')
    .description('show (no argument) or set the full node-to-node BGP mesh')
    .argument('[state]', 'on or off')
    .action(async (state: string | undefined, _opts, cmd: Command) => {
      const { nodeMesh } = await import('../bgp-cmds.js');
      print(await withClient(cmd, ({ client }) => nodeMesh(client, state)));
    });

  bgp
    .command('default-node-as')
    .description('show (no argument) or set the AS number of nodes that do not set their own')
    .argument('[as]', 'AS number (1..4294967295 or dotted a.b)')
    .action(async (as: string | undefined, _opts, cmd: Command) => {
      const { defaultNodeAs } = await import('../bgp-cmds.js');
      print(await withClient(cmd, ({ client }) => defaultNodeAs(client, as)));
    });
}
