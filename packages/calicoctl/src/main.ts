#!/usr/bin/env node
// calicoctl: the operator CLI. `calicoctl version` is answered before
// commander and the command definitions load; every other command loads
// commander and only the light command modules, and each action imports what
// it needs (etcd client, IPAM, …) when it runs.
import { versionText } from './commands/version.js';

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === 'version' || args[0] === '--version')) {
  process.stdout.write(versionText());
} else {
  const { runCli } = await import('./cli.js');
  const code = await runCli(process.argv);
  // Exit now: a closed etcd client can keep timers alive for a while.
  process.exit(code);
}
