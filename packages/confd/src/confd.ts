import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FSWatcher } from 'chokidar';
import type { Family, Logger } from '@calico/libcalico';
import { Debouncer } from './debounce.js';
import { DecodeCache, readInput, type BgpInput } from './inputs.js';
import { buildBirdConfig } from './model.js';
import { OUTPUT_FILES, Renderer } from './render.js';
import type { StoreClient } from './store.js';
import { ConfigRejected, ConfigWriter, type ApplyResult } from './writer.js';

export interface ConfdOptions {
  nodeName: string;
  templatesDir: string;
  /** CALICO_CONFD_DIR: where bird.cfg and bird6.cfg are written */
  confdDir: string;
  /** CALICO_RUN_DIR: where BIRD's control sockets bird.ctl and bird6.ctl are */
  runDir: string;
  /** reconfigure BIRD after writing (false: --no-reload) */
  reload: boolean;
  /** quiet period before rendering after a change */
  debounceMs: number;
  /** CALICO_ROUTER_ID (default: the node's IPv4 address) */
  routerId?: string;
  /**
   * Written (empty) after the daemon's first pass that leaves both configs live,
   * removed when the daemon starts: the node supervisor starts BIRD once it
   * exists (`$CALICO_RUN_DIR/confd-ready`).
   */
  readyFile?: string;
  log: Logger;
}

const FAMILIES: Family[] = [4, 6];
const BIRD = { 4: { check: 'bird', ctl: 'birdc', sock: 'bird.ctl' }, 6: { check: 'bird6', ctl: 'birdc6', sock: 'bird6.ctl' } } as const;

/** Outcome of one family in one pass; `error` when the previous config stayed live. */
export type FamilyOutcome = ApplyResult | 'error';

/**
 * The confd loop: datastore change or template edit → (debounce) → typed view
 * per family → Handlebars → stage/check/rename/reload. Any failure keeps the
 * previous config live and is retried on the next change.
 */
export class Confd {
  private readonly renderer: Renderer;
  private readonly writers: Record<Family, ConfigWriter>;
  private readonly debouncer: Debouncer;
  private readonly abort = new AbortController();
  private templatesWatcher?: FSWatcher;
  private readonly reported = new Set<string>();
  private readonly decoded = new DecodeCache();
  private loop?: Promise<void>;
  private ready = false;

  constructor(
    private readonly store: StoreClient,
    private readonly opts: ConfdOptions,
  ) {
    this.renderer = new Renderer(opts.templatesDir);
    const target = (f: Family) => ({
      dest: join(opts.confdDir, OUTPUT_FILES[f]),
      check: [BIRD[f].check, '-p', '-c'],
      reload: opts.reload ? [BIRD[f].ctl, '-v', '-s', join(opts.runDir, BIRD[f].sock), 'configure'] : null,
      socket: join(opts.runDir, BIRD[f].sock),
    });
    this.writers = { 4: new ConfigWriter(target(4)), 6: new ConfigWriter(target(6)) };
    this.debouncer = new Debouncer(() => this.renderAndSignal(), opts.debounceMs);
  }

  /** A daemon pass; the first one that leaves both configs live writes the ready file. */
  private async renderAndSignal(): Promise<void> {
    const outcome = await this.renderOnce();
    if (this.ready || !this.opts.readyFile || outcome[4] === 'error' || outcome[6] === 'error') return;
    this.ready = true;
    writeFileSync(this.opts.readyFile, '');
    this.opts.log.info({ file: this.opts.readyFile }, 'first render done: configs are live');
  }

  /** Render both families from the current data; resolves with each family's outcome. */
  async renderOnce(): Promise<Record<Family, FamilyOutcome>> {
    const log = this.opts.log;
    const started = performance.now();
    let kvs;
    try {
      kvs = await this.store.getValues();
    } catch (e) {
      log.error({ err: (e as Error).message }, 'cannot read the datastore; keeping the current config');
      return { 4: 'error', 6: 'error' };
    }
    const input = readInput(kvs, this.opts.nodeName, (key, err) => {
      const rev = kvs.find((kv) => kv.key === key)?.revision;
      if (this.reported.has(`${key}@${rev}`)) return;
      this.reported.add(`${key}@${rev}`);
      log.warn({ key, err: err.message }, 'skipping a malformed datastore record');
    }, this.decoded);
    if (!input.nodes.has(this.opts.nodeName)) {
      log.warn({ node: this.opts.nodeName }, 'no Node resource for this node yet: rendering without BGP sessions');
    }
    const outcomes = await Promise.all(FAMILIES.map((f) => this.renderFamily(f, input, started)));
    return { 4: outcomes[0]!, 6: outcomes[1]! };
  }

  private async renderFamily(family: Family, input: BgpInput, started: number): Promise<FamilyOutcome> {
    const log = this.opts.log;
    const file = this.writers[family].target.dest;
    let stage = 'render';
    try {
      const content = this.renderer.render(buildBirdConfig(input, family, { routerId: this.opts.routerId }));
      stage = 'write';
      const result = await this.writers[family].apply(content);
      const ms = Math.round(performance.now() - started);
      if (result === 'unchanged') log.debug({ file, result, ms }, 'config unchanged; BIRD not reloaded');
      else if (result === 'reloaded') log.info({ file, result, ms }, 'config updated; BIRD reconfigured');
      else log.info({ file, result, ms }, this.opts.reload ? 'config written; BIRD is not running yet' : 'config written');
      return result;
    } catch (e) {
      const err = e as Error;
      const fields =
        err instanceof ConfigRejected ? { birdMessage: err.detail, line: err.line?.trim(), stage: err.stage } : { stage };
      log.error({ file, result: 'error', err: err.message, ...fields }, 'new config not applied; the previous config stays live until the next change');
      return 'error';
    }
  }

  /** Watch the datastore and the templates; re-render on every change. */
  async start(): Promise<void> {
    if (this.opts.readyFile) rmSync(this.opts.readyFile, { force: true });
    // The first render comes from the datastore watch: start it before the
    // (slower) template watcher is ready, BIRD is waiting for it.
    this.loop = this.watchLoop();
    const { watch } = await import('chokidar');
    // awaitWriteFinish: an editor's (or writeFileSync's) truncate-then-write gives two
    // events close together, and chokidar drops the second; rendering on the first
    // could read a half-written template and then never see the finished one.
    this.templatesWatcher = watch(this.opts.templatesDir, { ignoreInitial: true, awaitWriteFinish: { stabilityThreshold: 50, pollInterval: 10 } });
    this.templatesWatcher.on('all', (event, path) => {
      this.opts.log.info({ event, path }, 'template changed: re-rendering');
      this.renderer.invalidate();
      this.debouncer.trigger();
    });
    this.templatesWatcher.on('error', (err) => this.opts.log.error({ err: (err as Error).message }, 'template watch failed'));
    await new Promise<void>((resolve) => this.templatesWatcher!.once('ready', () => resolve()));
  }

  private async watchLoop(): Promise<void> {
    let seen = 0;
    while (!this.abort.signal.aborted) {
      try {
        seen = await this.store.watchPrefix(seen, this.abort.signal);
      } catch (e) {
        if (this.abort.signal.aborted) return;
        this.opts.log.error({ err: (e as Error).message }, 'datastore watch failed; retrying');
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      this.debouncer.trigger();
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.templatesWatcher?.close();
    await this.loop;
    await this.debouncer.stop();
  }
}
