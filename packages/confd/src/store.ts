import { KINDS, kindPrefix } from '@calico/libcalico/resources/kinds';
import { Syncer } from '@calico/libcalico/datastore/syncer';
import type { Datastore, KV, Logger } from '@calico/libcalico';
import { HOST_PREFIX } from '@calico/libcalico/ipam/keys';
import { CUSTOM_FILTERS_PREFIX } from './inputs.js';

/**
 * confd's whole view of the datastore: two methods, as in kelseyhightower/confd's
 * StoreClient. `getValues` reads every key confd renders from; `watchPrefix`
 * waits until any of them changed after a given change index.
 */
export interface StoreClient {
  getValues(): Promise<KV[]>;
  /** resolves with the new change index once the data differs from `sinceIndex` (0 = never read) */
  watchPrefix(sinceIndex: number, signal: AbortSignal): Promise<number>;
}

const BGP_KINDS = ['Node', 'BGPPeer', 'BGPConfiguration', 'IPPool'];

/** The prefixes that hold what the BIRD configs of `nodeName` depend on. */
export function bgpPrefixes(nodeName: string): string[] {
  return [
    ...KINDS.filter((k) => BGP_KINDS.includes(k.kind)).map((k) => kindPrefix(k)),
    `${HOST_PREFIX}${nodeName}/`,
    CUSTOM_FILTERS_PREFIX,
  ];
}

/**
 * StoreClient over a Datastore. Until something watches, getValues lists
 * directly (for --onetime). The first watchPrefix starts a Syncer that keeps
 * a local copy (list, then watch; relist after a lost connection, keeping
 * the last state meanwhile), and getValues answers from it.
 */
export class DatastoreStore implements StoreClient {
  private syncer?: Syncer;
  private readonly values = new Map<string, KV>();
  private index = 0;
  private waiters = new Set<() => void>();
  private synced?: Promise<void>;

  constructor(
    private readonly ds: Datastore,
    private readonly prefixes: string[],
    private readonly log?: Logger,
  ) {}

  async getValues(): Promise<KV[]> {
    if (!this.syncer) {
      const lists = await Promise.all(this.prefixes.map((p) => this.ds.list(p)));
      return lists.flatMap((l) => l.kvs);
    }
    await this.synced;
    return [...this.values.values()];
  }

  async watchPrefix(sinceIndex: number, signal: AbortSignal): Promise<number> {
    this.start();
    await this.synced;
    while (this.index <= sinceIndex) {
      if (signal.aborted) throw signal.reason;
      await new Promise<void>((resolve) => {
        const done = () => {
          this.waiters.delete(done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    return this.index;
  }

  async close(): Promise<void> {
    await this.syncer?.stop();
    for (const w of [...this.waiters]) w();
  }

  private start(): void {
    if (this.syncer) return;
    let markSynced!: () => void;
    this.synced = new Promise((r) => (markSynced = r));
    this.syncer = new Syncer(
      this.ds,
      this.prefixes,
      {
        onSnapshot: (kvs) => {
          this.values.clear();
          for (const kv of kvs) this.values.set(kv.key, kv);
          markSynced();
          this.changed();
        },
        onUpdates: (events) => {
          for (const ev of events) {
            if (ev.type === 'put') this.values.set(ev.key, { key: ev.key, value: ev.value, revision: ev.revision });
            else this.values.delete(ev.key);
          }
          this.changed();
        },
        onStatus: (status, err) => {
          if (status === 'resyncing') this.log?.warn({ err: err?.message }, 'lost the datastore; keeping the current config until it is back');
          else this.log?.info('in sync with the datastore');
        },
      },
      this.log,
    );
    this.syncer.start();
  }

  private changed(): void {
    this.index++;
    for (const w of [...this.waiters]) w();
  }
}
