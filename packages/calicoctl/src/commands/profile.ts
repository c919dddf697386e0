import type { Command } from 'commander';
import { withClient } from '../context.js';
import { OUTPUT_FLAGS, OUTPUT_HELP } from '../output.js';

const RULE_USAGE = `profile NAME rule add|remove (inbound|outbound) [--at=N] (allow|deny) [
    (tcp|udp) [from [ports P] [tag T] [cidr C]] [to [ports P] [tag T] [cidr C]]
  | (icmp|icmpv6) [type T [code C]] [from [tag T] [cidr C]] [to [tag T] [cidr C]]
  | [from [tag T] [cidr C]] [to [tag T] [cidr C]] ]
profile NAME rule remove (inbound|outbound) --at=N
  --at=N counts from 1 as rule show numbers rules (0 = top, negative = from the end; default: append)
profile NAME rule show | json | update   (update reads {"ingress": [...], "egress": [...]} on stdin)
profile NAME tag show | add TAG | remove TAG`;

const print = (text: string): void => {
  if (text) process.stdout.write(text + '\n');
};

export function registerProfile(program: Command): void {
  const profile = program
    .command('profile')
    .usage(`add|remove|show …  |  profile NAME (tag|rule) …`)
    .description('manage profiles (Profile resources): tags and inbound/outbound rules')
    .addHelpText('after', `\nPer-profile commands:\n  ${RULE_USAGE.replace(/\n/g, '\n  ')}\n`)
    // `profile NAME …`: any first word that is not a subcommand lands here.
    .argument('[name]', 'profile name')
    .argument('[words...]', 'tag … | rule …')
    .allowUnknownOption()
    .action(async (name: string | undefined, words: string[], _opts, cmd: Command) => {
      if (!name) return cmd.help({ error: true });
      const { profileDispatch } = await import('../profile-dispatch.js');
      await profileDispatch(cmd, name, words);
    });

  profile
    .command('add')
    .description("create a profile with Calico's defaults: tag NAME, inbound allowed from members (has(NAME)), outbound allowed")
    .argument('<name>', 'profile name')
    .action(async (name: string, _opts, cmd: Command) => {
      const { profileAdd } = await import('../profile-cmds.js');
      print(await withClient(cmd, ({ client }) => profileAdd(client, name)));
    });

  profile
    .command('remove')
    .description('remove a profile (refused while endpoints use it, unless --no-check)')
    .argument('<name>', 'profile name')
    .option('--no-check', 'remove even if endpoints still use the profile')
    .action(async (name: string, opts: { check: boolean }, cmd: Command) => {
      const { profileRemove } = await import('../profile-cmds.js');
      print(await withClient(cmd, ({ client }) => profileRemove(client, name, !opts.check)));
    });

  profile
    .command('show')
    .description('list profiles (--detailed: tags and rules of each)')
    .option('--detailed', 'show tags and rules')
    .option(OUTPUT_FLAGS, OUTPUT_HELP, 'ps')
    .action(async (opts: { detailed?: boolean; output: string }, cmd: Command) => {
      const { profileShow } = await import('../profile-cmds.js');
      print(await withClient(cmd, ({ client }) => profileShow(client, opts)));
    });
}
