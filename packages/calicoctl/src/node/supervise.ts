// The supervisor's own process: kept apart from run.ts so that the long-lived
// `calicoctl node supervise` loads only the logger and the node layout, not
// the datastore client and resource model (less memory on every host).
import { nodeName, nodePaths } from '@calico/libcalico/config';
import { createLogger } from '@calico/libcalico/log';
import type { Backend } from './children.js';
import type { NodeLayout } from './layout.js';
import { Supervisor } from './supervisor.js';

/** The supervisor in this process; returns after it has stopped on SIGTERM/SIGINT. */
export async function runForeground(node: string, backend: Backend, layout: NodeLayout, env: NodeJS.ProcessEnv): Promise<void> {
  const log = createLogger('calico-node', env.CALICO_NODE_LOGLEVEL ?? 'info');
  const sup = new Supervisor({ layout, nodeName: node, backend, env, log });
  let stopping: Promise<void> | undefined;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = () => {
      stopping ??= sup.stop().then(resolve);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await sup.start();
  await stopped;
}

/**
 * `calicoctl node supervise`: the detached supervisor that `node run` starts,
 * configured by the environment `node run` gives it. A start-up failure is
 * also in calico-node.json, where `node run` reads it.
 */
export async function superviseFromEnv(): Promise<void> {
  const backend: Backend = process.env.CALICO_NETWORKING_BACKEND === 'none' ? 'none' : 'bird';
  await runForeground(nodeName(process.env), backend, nodePaths(process.env), process.env);
}
