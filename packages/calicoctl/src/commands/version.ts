import type { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** calicoctl's package.json: the first one above this file (dist/commands/ or, bundled, dist/). */
function packageJson(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return join(dir, 'package.json');
}

export function versionText(): string {
  const pkg = JSON.parse(readFileSync(packageJson(), 'utf8')) as { version: string };
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
