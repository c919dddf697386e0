import type { Command } from 'commander';
import { createRequire } from 'node:module';

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the client version')
    .action(() => {
      const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
      process.stdout.write(`Client Version:    v${pkg.version}\nAPI Version:       projectcalico.org/v3\n`);
    });
}
