import type { Command } from 'commander';
import { readFileSync } from 'node:fs';

export function versionText(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `Client Version:    v${pkg.version}\nAPI Version:       projectcalico.org/v3\n`;
}

export function registerVersion(program: Command): void {
  program
    .command('version')
    .description('print the client version')
    .action(() => {
      process.stdout.write(versionText());
    });
}
