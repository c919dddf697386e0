import { createServer, type Server } from 'node:http';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { Datastore } from '@calico/libcalico';
import type { Metrics } from './drivers/metrics.js';

/** What the status surfaces show. */
export interface FelixState {
  inSync: boolean;
  /** the dataplane has been programmed at least once since start */
  programmed: boolean;
  startedAt: number;
}

/**
 * GET /readiness (200 once in sync and programmed, else 503) and /liveness
 * (200 while the event loop runs) — Calico's health endpoints; and/or GET
 * /metrics in Prometheus format. Bound to loopback unless told otherwise.
 */
export function startHttp(
  what: { health: boolean; metrics: boolean },
  host: string,
  port: number,
  state: FelixState,
  metrics: Metrics,
  log: Logger,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (what.health && path === '/liveness') return void res.writeHead(200).end('live\n');
    if (what.health && path === '/readiness') {
      const ready = state.inSync && state.programmed;
      return void res.writeHead(ready ? 200 : 503).end(ready ? 'ready\n' : 'not ready\n');
    }
    if (what.metrics && path === '/metrics') {
      return void res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.render());
    }
    res.writeHead(404).end('not found\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      log.info({ host, port, ...what }, 'status HTTP server listening');
      resolve(server);
    });
  });
}

/** `/calico/felix/v2/no-region/host/<node>/status` as Calico writes it. */
export const statusKey = (node: string): string => `/calico/felix/v2/no-region/host/${node}/status`;

export async function reportStatus(ds: Datastore, node: string, state: FelixState): Promise<void> {
  const now = Date.now();
  await ds.put(
    statusKey(node),
    JSON.stringify({
      time: new Date(now).toISOString(),
      uptime: Math.round((now - state.startedAt) / 1000),
      first_update: !state.programmed,
      in_sync: state.inSync,
    }),
  );
}

/**
 * `$CALICO_RUN_DIR/felix-ready`: exists once felix is in sync and has
 * programmed the dataplane; removed at start and at exit. `calicoctl node run`
 * waits for it.
 */
export class ReadyFile {
  constructor(readonly path: string) {
    rmSync(path, { force: true });
  }
  mark(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(this.path, `${new Date().toISOString()}\n`);
  }
  clear(): void {
    rmSync(this.path, { force: true });
  }
}
