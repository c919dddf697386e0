// The commander program: every command group, global flags, error handling.
import { Command, CommanderError } from 'commander';
import { registerAll } from './commands/index.js';
import { reportError } from './errors.js';

export async function runCli(argv: string[]): Promise<number> {
  const program = new Command('calicoctl')
    .description('Manage a Calico-style L3 network: pools, profiles, policy, BGP, nodes, endpoints and IPAM')
    .option('--etcd-endpoints <urls>', 'comma-separated etcd endpoints (default: env ETCD_ENDPOINTS, else http://127.0.0.1:2379)')
    .option('-l, --log-level <level>', 'log level: debug, info, warn, error, none (default: env LOG_LEVEL, else warn)')
    .showHelpAfterError()
    .exitOverride()
    // libcalico's loggers read LOG_LEVEL (logs go to stderr; stdout is for output)
    .hook('preAction', (root) => {
      process.env.LOG_LEVEL = root.opts<{ logLevel?: string }>().logLevel ?? process.env.LOG_LEVEL ?? 'warn';
    });
  registerAll(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    // commander already printed usage errors (and help, which exits 0)
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    reportError(e);
    return 1;
  }
}
