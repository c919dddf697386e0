// calico-felix's daemon: configured by FELIX_* environment variables and
// FelixConfiguration resources; NODENAME names its host; ETCD_ENDPOINTS
// (http://…, or unix:///path) names the datastore. Started by main.ts, which
// sizes V8's heap first.
import { setFlagsFromString } from 'node:v8';
import { etcdConfigFromEnv, nodeName, nodePaths } from '@calico/libcalico/config';
import { GatewayDatastore } from '@calico/libcalico/datastore/gateway';
import { createLogger } from '@calico/libcalico/log';
import type { Felix } from './felix.js';

// No Turbofan for the cold start: its background compiles of a start's
// one-off work cost more CPU than they save, CPU that the iptables restores
// need (1,000 endpoints on 2 cores: ~15 % sooner programmed). Set here, once
// the built-in modules are loaded (see main.ts), and switched back on once
// the dataplane is programmed (onProgrammed), so that the code that handles
// each later change is optimised (an endpoint change at 5,000 endpoints:
// ~2 ms less).
setFlagsFromString('--no-opt');

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
