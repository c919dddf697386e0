#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=256 --initial-old-space-size=64 --no-opt
// calico-felix: the per-host agent. Configured by FELIX_* environment
// variables and FelixConfiguration resources; NODENAME names its host;
// ETCD_ENDPOINTS (http://…, or unix:///path) names the datastore.
// The node flags above (whoever starts it as `node main.js` reads them from
// here: shebangNodeFlags):
// - the heap limits keep RSS at 5,000 endpoints ~175 MB instead of ~300 MB;
//   8 MB semi-spaces rather than 2 cut a fifth off a 5,000-endpoint cold
//   start (fewer scavenges) for ~20 MB more;
// - a 64 MB old space to start with: a cold start's heap only grows until it
//   is built, so full collections on the way are wasted (5,000 endpoints: one
//   mark-compact instead of four, ~50-70 ms less on the main thread) for a few
//   MB more RSS;
// - --no-opt (no Turbofan) for the cold start: Turbofan's background compiles
//   of a start's one-off work cost more CPU than they save, CPU that the
//   iptables restores need (1,000 endpoints on 2 cores: ~15 % sooner
//   programmed). Once the dataplane is programmed it is switched on (see
//   onProgrammed), so that the code that handles each later change is
//   optimised (an endpoint change at 5,000 endpoints: ~2 ms less).
import { setFlagsFromString } from 'node:v8';
import { etcdConfigFromEnv, nodeName, nodePaths } from '@calico/libcalico/config';
import { GatewayDatastore } from '@calico/libcalico/datastore/gateway';
import { createLogger } from '@calico/libcalico/log';
import type { Felix } from './felix.js';

async function main(): Promise<void> {
  const env = process.env;
  const log = createLogger('felix', env.FELIX_LOGSEVERITYSCREEN ?? 'info');
  const node = nodeName(env);
  const ds = new GatewayDatastore(etcdConfigFromEnv(env));
  const { Felix } = await import('./felix.js');
  let felix: Felix | undefined;
  const exit = async (code: number) => {
    await felix?.stop().catch(() => {});
    await ds.close().catch(() => {});
    process.exit(code);
  };
  try {
    felix = new Felix({
      env,
      nodeName: node,
      ds,
      log,
      runDir: nodePaths(env).runDir,
      onFatal: (reason) => {
        log.fatal(reason);
        process.stderr.write(`calico-felix: ${reason}\n`);
        void exit(1);
      },
      // V8 reads this flag each time it considers optimising a function, so it may be set at run time.
      onProgrammed: () => setFlagsFromString('--opt'),
    });
  } catch (e) {
    // A bad FELIX_* value: the operator typed it, so say which and stop.
    process.stderr.write(`calico-felix: ${(e as Error).message}\n`);
    return exit(1);
  }
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void exit(0));
  log.info({ node, endpoints: etcdConfigFromEnv(env).endpoints }, 'calico-felix starting');
  await felix.start();
}

main().catch((e) => {
  process.stderr.write(`calico-felix: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
