#!/usr/bin/env node
// calicoctl: the operator CLI. Only commander and the command definitions are
// loaded up front; each action imports what it needs (etcd client, IPAM, …)
// so that `calicoctl version` starts about as fast as node itself.
import { Command, CommanderError } from 'commander';
import { registerAll } from './commands/index.js';
import { reportError } from './errors.js';

const program = new Command('calicoctl')
  .description('Manage a Calico-style L3 network: pools, profiles, policy, BGP, nodes, endpoints and IPAM')
  .option('--etcd-endpoints <urls>', 'comma-separated etcd endpoints (env ETCD_ENDPOINTS)')
  .option('-l, --log-level <level>', 'log level: debug, info, warn, error, none', 'warn')
  .showHelpAfterError()
  .exitOverride();

registerAll(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 1);
  reportError(e);
  process.exit(1);
}
