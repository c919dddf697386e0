#!/usr/bin/env node
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
// Sub-path imports: the libcalico index would also load modules confd never uses.
import { etcdConfigFromEnv } from '@calico/libcalico/config';
import { GatewayDatastore } from '@calico/libcalico/datastore/gateway';
import { createLogger } from '@calico/libcalico/log';
import { ipFamily } from '@calico/libcalico/net';
import { nodeName, nodePaths } from '@calico/libcalico/config';
import { ValidationError } from '@calico/libcalico/errors';
import { pathWithSbin } from '@calico/libcalico/exec';
import { Confd } from './confd.js';
import { TEMPLATE_FILES } from './render.js';
import { bgpPrefixes, DatastoreStore } from './store.js';

/** The repository's templates/, found from this file (packages/confd/dist/main.js). */
const DEFAULT_TEMPLATES = fileURLToPath(new URL('../../../templates', import.meta.url));

interface Flags {
  onetime?: boolean;
  reload: boolean;
  logLevel?: string;
}

async function main(): Promise<void> {
  const program = new Command('calico-confd')
    .description('Render BIRD/BIRD6 configs for this node from the Calico datastore and reload BIRD on change')
    .option('--onetime', 'render once and exit (exit code 1 if a config could not be applied)')
    .option('--no-reload', 'write the configs but do not reconfigure BIRD')
    .option('--log-level <level>', 'log level (default: LOG_LEVEL or info)')
    .showHelpAfterError();
  program.parse();
  const flags = program.opts<Flags>();

  const env = process.env;
  // bird, bird6, birdc and birdc6 live in /usr/sbin, which a non-login PATH may lack.
  env.PATH = pathWithSbin(env.PATH);
  const log = createLogger('confd', flags.logLevel);
  const paths = nodePaths(env);
  const debounceMs = Number(env.CONFD_DEBOUNCE_MS || 10);
  if (!Number.isFinite(debounceMs) || debounceMs < 0) {
    throw new ValidationError('CONFD_DEBOUNCE_MS', `${JSON.stringify(env.CONFD_DEBOUNCE_MS)} is not a number of milliseconds (≥ 0)`);
  }
  const routerId = env.CALICO_ROUTER_ID || undefined;
  if (routerId && routerId !== 'hash' && ipFamily(routerId) !== 4) {
    throw new ValidationError('CALICO_ROUTER_ID', `${JSON.stringify(routerId)} is neither an IPv4 address nor "hash"`);
  }
  const opts = {
    nodeName: nodeName(env),
    templatesDir: env.CONFD_TEMPLATES_DIR || DEFAULT_TEMPLATES,
    confdDir: paths.confdDir,
    runDir: paths.runDir,
    reload: flags.reload,
    debounceMs,
    routerId,
    readyFile: flags.onetime ? undefined : join(paths.runDir, 'confd-ready'),
    log,
  };
  for (const f of Object.values(TEMPLATE_FILES)) {
    if (!existsSync(join(opts.templatesDir, f))) throw new Error(`CONFD_TEMPLATES_DIR: ${opts.templatesDir} has no ${f}`);
  }
  mkdirSync(opts.confdDir, { recursive: true });
  if (!flags.onetime) mkdirSync(opts.runDir, { recursive: true });

  const ds = new GatewayDatastore(etcdConfigFromEnv());
  const store = new DatastoreStore(ds, bgpPrefixes(opts.nodeName), log);
  const confd = new Confd(store, opts);
  log.info({ node: opts.nodeName, templates: opts.templatesDir, confdDir: opts.confdDir, runDir: opts.runDir, onetime: !!flags.onetime }, 'calico-confd starting');

  if (flags.onetime) {
    const outcome = await confd.renderOnce();
    await ds.close();
    process.exit(outcome[4] === 'error' || outcome[6] === 'error' ? 1 : 0);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'calico-confd stopping');
    await confd.stop();
    await store.close();
    await ds.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await confd.start();
  log.info('watching the datastore and the templates');
}

main().catch((e) => {
  process.stderr.write(`calico-confd: ${(e as Error).message}\n`);
  process.exit(1);
});
