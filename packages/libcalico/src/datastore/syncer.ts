import type { Logger } from 'pino';
import type { Datastore, KV, Watch, WatchEvent } from './types.js';

/**
 * List-then-watch over a set of prefixes, with resume and resync. The
 * consumer sees:
 *   onSnapshot(all current kvs)   once per (re)sync, before any updates
 *   onUpdates(events)             afterwards, in revision order
 *   onStatus('in-sync' | 'resyncing')
 * If etcd goes away the syncer keeps the last state (the consumer keeps its
 * dataplane) and retries with backoff; when it comes back it relists so that
 * nothing missed while away is lost.
 */
export interface SyncerCallbacks {
  onSnapshot(kvs: KV[]): void;
  onUpdates(events: WatchEvent[]): void;
  onStatus?(status: 'in-sync' | 'resyncing', err?: Error): void;
}

export class Syncer {
  private watches: Watch[] = [];
  private stopped = false;
  private backoffMs = 100;
  private timer?: NodeJS.Timeout;
  private generation = 0;

  constructor(
    private readonly ds: Datastore,
    private readonly prefixes: string[],
    private readonly cb: SyncerCallbacks,
    private readonly log?: Logger,
    private readonly maxBackoffMs = 2000,
  ) {}

  start(): void {
    void this.sync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.closeWatches();
  }

  private async closeWatches(): Promise<void> {
    const ws = this.watches;
    this.watches = [];
    await Promise.all(ws.map((w) => w.close()));
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    const gen = ++this.generation;
    await this.closeWatches();
    try {
      // One list per prefix; watch each from just after the revision it was read at.
      const lists = await Promise.all(this.prefixes.map((p) => this.ds.list(p)));
      if (this.stopped || gen !== this.generation) return;
      this.cb.onSnapshot(lists.flatMap((l) => l.kvs));
      const onError = (err: Error) => this.failed(gen, err);
      const watching = Promise.all(
        this.prefixes.map((p, i) =>
          this.ds.watch(p, String(BigInt(lists[i]!.revision) + 1n), {
            onEvents: (evs) => {
              if (gen === this.generation) this.cb.onUpdates(evs);
            },
            onError,
          }),
        ),
      );
      // In sync now, not once the watches are up: they start just after the
      // snapshot's revision, so nothing since is missed however late they answer
      // (a watch that cannot start makes it a resync, below).
      this.cb.onStatus?.('in-sync');
      const ws = await watching;
      // stopped, or failed meanwhile (a resync is due): these watches are not wanted
      if (this.stopped || gen !== this.generation) return void (await Promise.all(ws.map((w) => w.close())));
      this.watches = ws;
      this.backoffMs = 100;
    } catch (e) {
      this.failed(gen, e as Error);
    }
  }

  private failed(gen: number, err: Error): void {
    if (this.stopped || gen !== this.generation) return;
    this.generation++;
    this.log?.warn({ err: err.message, retryMs: this.backoffMs }, 'datastore connection lost; will resync');
    this.cb.onStatus?.('resyncing', err);
    void this.closeWatches();
    this.timer = setTimeout(() => void this.sync(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, this.maxBackoffMs);
  }
}
