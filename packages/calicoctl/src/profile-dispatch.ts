// `profile NAME (tag|rule) …`: the per-profile verbs, parsed by hand because
// the old CLI put the profile name before the verb.
import type { Command } from 'commander';
import { withClient } from './context.js';
import { CliError } from './errors.js';
import { readInput } from './resource-files.js';
import * as ops from './profile-cmds.js';

export async function profileDispatch(cmd: Command, name: string, words: string[]): Promise<void> {
  const [group, verb, ...rest] = words;
  let text: string;
  if (group === 'tag') {
    if (!verb) throw new CliError(`profile ${name} tag: expected show, add TAG or remove TAG`);
    if (rest.length > 1) throw new CliError(`profile ${name} tag ${verb}: one TAG at a time (got ${rest.length})`);
    text = await withClient(cmd, ({ client }) => ops.profileTag(client, name, verb, rest[0]));
  } else if (group === 'rule') {
    if (verb === 'add' || verb === 'remove') {
      text = await withClient(cmd, ({ client }) => ops.profileRuleChange(client, name, verb, rest));
    } else if (verb === 'show' || verb === 'json' || verb === 'update') {
      if (rest.length) throw new CliError(`profile ${name} rule ${verb}: unexpected ${JSON.stringify(rest[0])}`);
      // Read stdin before connecting, so a missing body fails without touching etcd.
      const body = verb === 'update' ? readInput('-') : '';
      text = await withClient(cmd, ({ client }) =>
        verb === 'show' ? ops.profileRuleShow(client, name) : verb === 'json' ? ops.profileRuleJson(client, name) : ops.profileRuleUpdate(client, name, body),
      );
    } else {
      throw new CliError(`profile ${name} rule: expected add, remove, show, json or update, got ${verb === undefined ? 'nothing' : JSON.stringify(verb)}`);
    }
  } else {
    throw new CliError(
      `profile: unknown command ${JSON.stringify(name)}${group ? ` ${JSON.stringify(group)}` : ''}; use profile add|remove|show, or profile NAME tag|rule …`,
    );
  }
  if (text) process.stdout.write(text + '\n');
}
