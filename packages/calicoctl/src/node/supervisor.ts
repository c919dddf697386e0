import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { Logger } from '@calico/libcalico';
import { birdAnswers, birdQuery } from './bird-client.js';
import { nodeChildren, type Backend, type ChildSpec, type Readiness } from './children.js';
import {
  childLogFile,
  childPidFile,
  logTail,
  signalPid,
  supervisorPidFile,
  supervisorStateFile,
  type ChildState,
  type NodeLayout,
  type NodeState,
  type SupervisorState,
} from './layout.js';

export interface SupervisorOptions {
  layout: NodeLayout;
  nodeName: string;
  backend: Backend;
  /** environment of every child (NODENAME, ETCD_*, CALICO_*_DIR, FELIX_*) */
  env: NodeJS.ProcessEnv;
  log: Logger;
}

const POLL_MS = 50;
const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 10_000;
/** a child that ran this long before dying restarts at the minimum backoff again */
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 10_000;
/**
 * A config whose mtime is this close to BIRD's spawn may have been missed by it:
 * reconfigure (file times come from a coarser clock than Date.now()).
 */
const CONFIG_READ_MARGIN_MS = 20;
/** how long each child may take to become ready */
const START_TIMEOUT_MS = 60_000;

interface Running {
  spec: ChildSpec;
  proc?: ChildProcess;
  exited?: Promise<void>;
  state: ChildState;
  backoffMs: number;
  startedAtMs: number;
  restartTimer?: NodeJS.Timeout;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether `p` settled within `ms` (the timer is cleared, so it never holds the process open). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export class StartupError extends Error {
  constructor(
    readonly child: string,
    message: string,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

/**
 * Runs a node's processes: felix and confd at once, bird and bird6 when
 * confd's first render is done (only felix with backend none). Each child logs to
 * <logDir>/<name>.log and has <runDir>/<name>.pid. A child that dies after
 * start-up is restarted with exponential backoff; during start-up any death
 * fails the whole start with the tail of that child's log. The state is
 * mirrored to <runDir>/calico-node.json for `node run`, `node status` and
 * `node stop`.
 */
export class Supervisor {
  private readonly children: Running[];
  private state: NodeState = 'starting';
  private error?: string;
  private stopping = false;

  constructor(private readonly opts: SupervisorOptions) {
    this.children = nodeChildren(opts.layout, opts.backend, opts.env).map((spec) => ({
      spec,
      state: { argv: spec.argv, restarts: 0, ready: false },
      backoffMs: BACKOFF_MIN_MS,
      startedAtMs: 0,
    }));
  }

  /** Start everything and resolve once every child is ready; on failure everything started is stopped. */
  async start(): Promise<void> {
    writeFileSync(supervisorPidFile(this.opts.layout), `${process.pid}\n`);
    this.writeState();
    try {
      // Each child starts as soon as the child it comes after is ready (BIRD
      // after confd's first render), the others at once. The first failure
      // anywhere fails the start at once.
      const byName = new Map(this.children.map((c) => [c.spec.name, c]));
      const started = new Map<Running, Promise<void>>();
      const startChild = (c: Running): Promise<void> => {
        let p = started.get(c);
        if (!p) {
          const before = c.spec.after === undefined ? undefined : byName.get(c.spec.after);
          p = (async () => {
            if (before) await startChild(before);
            if (this.stopping) return;
            this.spawnChild(c);
            await this.waitReady(c);
          })();
          started.set(c, p);
        }
        return p;
      };
      await Promise.all(this.children.map(startChild));
    } catch (e) {
      this.error = (e as Error).message;
      this.opts.log.error({ err: this.error }, 'node start-up failed');
      await this.stopChildren();
      this.setState('failed');
      rmSync(supervisorPidFile(this.opts.layout), { force: true });
      throw e;
    }
    this.setState('running');
    this.opts.log.info({ children: this.children.map((c) => `${c.spec.name}:${c.state.pid}`) }, 'node is up');
  }

  /** SIGTERM every child (last started first), SIGKILL after a grace period, wait for all. */
  async stop(): Promise<void> {
    this.setState('stopping');
    await this.stopChildren();
    this.setState('stopped');
    rmSync(supervisorPidFile(this.opts.layout), { force: true });
    this.opts.log.info('node stopped');
  }

  private async stopChildren(): Promise<void> {
    this.stopping = true;
    for (const c of this.children) clearTimeout(c.restartTimer);
    await Promise.all(
      [...this.children].reverse().map(async (c) => {
        if (!c.proc || !c.exited || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
        c.proc.kill('SIGTERM');
        if (!(await settlesWithin(c.exited, STOP_GRACE_MS))) {
          this.opts.log.warn({ child: c.spec.name, pid: c.proc.pid }, 'child ignored SIGTERM; killing it');
          c.proc.kill('SIGKILL');
          await c.exited;
        }
      }),
    );
  }

  private spawnChild(c: Running): void {
    const { layout, env, log } = this.opts;
    const logFile = childLogFile(layout, c.spec.name);
    // a ready file left by an earlier run must not pass for this one
    if (c.spec.ready.kind === 'file') rmSync(c.spec.ready.path, { force: true });
    const fd = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      // Each child leads its own process group, so that what it started itself
      // (felix's long-running ip/ipset/iptables-restore) ends with it.
      proc = spawn(c.spec.argv[0]!, c.spec.argv.slice(1), { stdio: ['ignore', fd, fd], env, detached: true });
    } finally {
      closeSync(fd);
    }
    c.proc = proc;
    c.startedAtMs = Date.now();
    c.state = { ...c.state, pid: proc.pid, ready: false, startedAt: new Date(c.startedAtMs).toISOString() };
    c.exited = new Promise((resolve) => proc.once('close', () => resolve()));
    proc.on('error', (e) => log.error({ child: c.spec.name, err: e.message }, 'cannot start child'));
    if (proc.pid) writeFileSync(childPidFile(layout, c.spec.name), `${proc.pid}\n`);
    log.info({ child: c.spec.name, pid: proc.pid, argv: c.spec.argv }, 'started child');
    proc.once('close', () => this.onExit(c, proc));
    this.writeState();
  }

  private onExit(c: Running, proc: ChildProcess): void {
    if (proc.pid) signalPid(-proc.pid, 'SIGKILL'); // whatever it left in its group
    rmSync(childPidFile(this.opts.layout, c.spec.name), { force: true });
    c.state = { ...c.state, pid: undefined, ready: false };
    if (this.stopping || this.state !== 'running') {
      this.writeState();
      return; // start-up notices it in waitReady; stop() is waiting for it
    }
    if (Date.now() - c.startedAtMs >= STABLE_MS) c.backoffMs = BACKOFF_MIN_MS;
    const delay = c.backoffMs;
    c.backoffMs = Math.min(c.backoffMs * 2, BACKOFF_MAX_MS);
    this.opts.log.warn(
      { child: c.spec.name, pid: proc.pid, exit: describeExit(proc), restartInMs: delay, tail: logTail(childLogFile(this.opts.layout, c.spec.name), 5) },
      'child died; restarting',
    );
    this.writeState();
    c.restartTimer = setTimeout(() => {
      if (this.stopping) return;
      c.state.restarts++;
      this.spawnChild(c);
      this.waitReady(c).then(
        () => this.opts.log.info({ child: c.spec.name, pid: c.state.pid, restarts: c.state.restarts }, 'child restarted and ready'),
        (e: Error) => this.opts.log.warn({ child: c.spec.name, err: e.message }, 'restarted child not ready'),
      );
    }, delay);
  }

  /** Poll the child's readiness every 50 ms; fails if it dies or takes too long. */
  private async waitReady(c: Running): Promise<void> {
    const proc = c.proc!;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null || !proc.pid) {
        throw this.childFailure(c, `exited with ${describeExit(proc)} while starting`);
      }
      if (await isReady(c.spec.ready)) break;
      if (this.stopping) return;
      if (Date.now() > deadline) throw this.childFailure(c, `was not ready within ${START_TIMEOUT_MS} ms`);
      await sleep(POLL_MS);
    }
    if (c.proc !== proc) return;
    if (c.spec.ready.kind === 'bird') await this.catchUpConfig(c, c.spec.ready);
    c.state = { ...c.state, ready: true };
    this.writeState();
  }

  /**
   * confd skips the reload while BIRD has no control socket yet, so a config it
   * wrote after BIRD was started may have come too late for BIRD's first read:
   * if so, BIRD re-reads it now.
   */
  private async catchUpConfig(c: Running, r: { socket: string; config: string }): Promise<void> {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(r.config).mtimeMs;
    } catch {
      return;
    }
    if (mtimeMs < c.startedAtMs - CONFIG_READ_MARGIN_MS) return;
    try {
      await birdQuery(r.socket, 'configure');
      this.opts.log.info({ child: c.spec.name, config: r.config }, 'config changed while BIRD started; BIRD reconfigured');
    } catch (e) {
      this.opts.log.warn({ child: c.spec.name, err: (e as Error).message }, 'cannot reconfigure BIRD after start');
    }
  }

  private childFailure(c: Running, what: string): StartupError {
    const tail = logTail(childLogFile(this.opts.layout, c.spec.name));
    return new StartupError(c.spec.name, `${c.spec.name} ${what}${tail ? `; last lines of its log: ${tail}` : ' (its log is empty)'}`);
  }

  private setState(s: NodeState): void {
    this.state = s;
    this.writeState();
  }

  private writeState(): void {
    const file = supervisorStateFile(this.opts.layout);
    const state: SupervisorState = {
      pid: process.pid,
      nodeName: this.opts.nodeName,
      backend: this.opts.backend,
      state: this.state,
      ...(this.error ? { error: this.error } : {}),
      children: Object.fromEntries(this.children.map((c) => [c.spec.name, c.state])),
    };
    // write-then-rename so readers never see half a file
    writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
    renameSync(`${file}.tmp`, file);
  }
}

async function isReady(r: Readiness): Promise<boolean> {
  switch (r.kind) {
    case 'bird':
      return birdAnswers(r.socket, 500);
    case 'file':
      return existsSync(r.path);
  }
}

function describeExit(p: ChildProcess): string {
  if (p.pid === undefined) return `an error: ${p.spawnfile} could not be started`;
  if (p.signalCode) return `signal ${p.signalCode}`;
  if (p.exitCode !== null) return `code ${p.exitCode}`;
  return 'an error before it started';
}
