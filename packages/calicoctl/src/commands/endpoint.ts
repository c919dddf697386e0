import type { Command } from 'commander';
import { OUTPUT_FLAGS, OUTPUT_HELP } from '../output.js';

export interface EndpointShowOpts {
  host?: string;
  detailed?: boolean;
  output: string;
}

export function registerEndpoint(program: Command): void {
  const endpoint = program.command('endpoint').description('show workload endpoints');
  endpoint
    .command('show')
    .description('list workload endpoints: host, orchestrator, workload, endpoint, interface, addresses, profiles')
    .option('--host <name>', 'only endpoints on this node')
    .option('--detailed', 'add namespace, MAC and labels (same as -o wide)')
    .option(OUTPUT_FLAGS, OUTPUT_HELP, 'ps')
    .action(async (opts: EndpointShowOpts, cmd: Command) => {
      const { endpointShow } = await import('../workload/endpoint-show.js');
      await endpointShow(cmd, opts);
    });
}
