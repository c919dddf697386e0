import type { Logger } from 'pino';
import { readLines, type Spawned, type Spawner } from './spawner.js';

/** One line of `ip -o monitor link`: `5: cali1@if4: <…> …`, or `Deleted 5: cali1@if4: …`. */
export interface LinkEvent {
  ifname: string;
  index: number;
  gone: boolean;
}

export function parseLinkEvent(line: string): LinkEvent | undefined {
  const m = /^(Deleted )?(\d+): ([^\s:@]+)[@:]/.exec(line);
  return m ? { ifname: m[3]!, index: Number(m[2]), gone: !!m[1] } : undefined;
}

/** How long to wait before starting `ip monitor` again after it died. */
const RESTART_MS = 1000;

/**
 * Interfaces that appear, change or go, from a long-running `ip -o monitor
 * link` (the netns felix runs in). The kernel drops the routes through an
 * interface that is deleted, and a new interface starts with default
 * sysctls: felix hears of it here at once instead of at its next refresh.
 * Reports each interface whose existence changed: deleted, or seen under a
 * new ifindex (created, or deleted and made again between two events).
 */
export class LinkMonitor {
  private child?: Spawned;
  private closed = false;
  /** last ifindex seen per interface name */
  private readonly index = new Map<string, number>();

  constructor(
    private readonly spawner: Spawner,
    private readonly onChange: (ifname: string, gone: boolean) => void,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.closed || this.child) return;
    const child = this.spawner.spawn(['ip', '-o', 'monitor', 'link'], { stderr: false });
    this.child = child;
    void child.io.then(
      (io) => readLines(io, (line) => this.event(parseLinkEvent(line))),
      () => {}, // shows in 'ended'
    );
    const exited = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      if (this.closed) return;
      this.log.warn({ why }, 'ip monitor link exited; restarting it (meanwhile the periodic refresh repairs what it misses)');
      setTimeout(() => this.start(), RESTART_MS).unref();
    };
    child.ended.then(
      (e) => exited(`exit ${e.code}`),
      (e: Error) => exited(e.message),
    );
  }

  private event(e: LinkEvent | undefined): void {
    if (!e) return;
    if (e.gone) {
      this.index.delete(e.ifname);
      return this.onChange(e.ifname, true);
    }
    if (this.index.get(e.ifname) === e.index) return; // flags or state of a known interface
    this.index.set(e.ifname, e.index);
    this.onChange(e.ifname, false);
  }

  close(): void {
    this.closed = true;
    this.child?.kill();
    this.child = undefined;
  }
}
