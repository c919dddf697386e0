import type { Logger } from 'pino';
import { hostCidr } from '@calico/libcalico/net';
import { ROUTE_PROTO } from '../names.js';
import type { IpBatch } from './coprocess.js';
import { EarlyRead } from './readback.js';
import type { Runner } from './runner.js';

export interface RouteCounters {
  batch(): void;
  routesWritten(n: number): void;
}

/**
 * Routes to local workloads: `<ip>/32 dev caliX scope link proto 80` (and /128).
 * Destinations are kept as host CIDRs (`ip route` prints `198.18.1.2` for
 * 198.18.1.2/32). Only routes carrying our protocol number are ever read or removed. All
 * changes go in one batch to a long-running `ip -force -batch -`; a route
 * whose interface does not exist yet fails alone, stays pending and is retried.
 */
export class RouteTable {
  /** dst → interface */
  private readonly desired = new Map<string, string>();
  private readonly dirty = new Set<string>();
  private kernel?: Map<string, string>;

  constructor(
    private readonly run: Runner,
    private readonly batch: IpBatch,
    private readonly counters: RouteCounters,
    private readonly log: Logger,
    private readonly ipv6: boolean,
  ) {}

  setRoute(dst: string, ifname: string): void {
    dst = hostCidr(dst);
    if (this.desired.get(dst) === ifname) return;
    this.desired.set(dst, ifname);
    this.dirty.add(dst);
  }

  removeRoute(dst: string): void {
    dst = hostCidr(dst);
    if (this.desired.delete(dst)) this.dirty.add(dst);
  }

  /**
   * What the kernel has for `dst` is unknown again (its interface was deleted
   * or made anew); `due`: write it on the next apply.
   */
  forget(dst: string, due: boolean): void {
    dst = hostCidr(dst);
    this.kernel?.delete(dst);
    if (due && this.desired.has(dst)) this.dirty.add(dst);
  }

  invalidate(): void {
    this.kernel = undefined;
    this.read.forget();
  }

  /** Start reading the kernel back now (see Dataplane.prefetch). */
  prefetch(): void {
    if (!this.kernel) this.read.start();
  }

  private readonly read = new EarlyRead(() => this.readKernel());

  get pending(): boolean {
    return this.dirty.size > 0 || !this.kernel;
  }

  private async readKernel(): Promise<Map<string, string>> {
    const routes = new Map<string, string>();
    const families = this.ipv6 ? ['-4', '-6'] : ['-4'];
    for (const f of families) {
      const res = await this.run(['ip', '-j', f, 'route', 'show', 'proto', String(ROUTE_PROTO)]);
      const list = JSON.parse(res.stdout || '[]') as { dst: string; dev?: string; type?: string }[];
      for (const r of list) routes.set(hostCidr(r.dst), r.dev ?? '');
    }
    return routes;
  }

  /**
   * Returns the number of routes that could not be programmed (they stay
   * pending). `family` limits the pass to IPv4 or IPv6 routes, `removalsOnly`
   * to the routes no longer wanted.
   */
  async apply(family?: 4 | 6, removalsOnly = false): Promise<number> {
    if (!this.kernel) {
      this.kernel = await this.read.collect();
      for (const dst of [...this.desired.keys(), ...this.kernel.keys()]) this.dirty.add(dst);
    }
    const kernel = this.kernel;
    const dsts = [...this.dirty].filter((dst) => (!family || dst.includes(':') === (family === 6)) && !(removalsOnly && this.desired.has(dst)));
    const lines: string[] = [];
    /** per line: the route and the interface it is written for (undefined: removed) */
    const written: [dst: string, dev: string | undefined][] = [];
    for (const dst of dsts) {
      const want = this.desired.get(dst);
      const have = kernel.get(dst);
      if (want === have) continue;
      if (want) {
        const scope = dst.includes(':') ? '' : ' scope link';
        lines.push(`route replace ${dst} dev ${want}${scope} proto ${ROUTE_PROTO}`);
      } else {
        lines.push(`route del ${dst} proto ${ROUTE_PROTO}`);
      }
      written.push([dst, want]);
    }
    for (const dst of dsts) this.dirty.delete(dst);
    if (!lines.length) return 0;
    this.counters.batch();
    this.counters.routesWritten(lines.length);
    const { failed, output } = await this.batch.run(lines);
    // What was written, not what is wanted now: a change made meanwhile is still dirty, and compared with this.
    written.forEach(([dst, dev], i) => {
      if (failed.has(i)) this.dirty.add(dst);
      else if (dev) kernel.set(dst, dev);
      else kernel.delete(dst);
    });
    if (failed.size) this.log.debug({ failed: failed.size, output: output.slice(0, 500) }, 'some routes could not be programmed yet');
    return failed.size;
  }
}
