import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ResourceClient, run } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { affinityKey } from '@calico/libcalico/ipam/keys';
import { startEtcd, type TestEtcd } from '../../../test/helpers/etcd.js';
import { createNetns, deleteNetns, requireRoot, runId } from '../../../test/helpers/netns.js';
import { AFFINITY_CONFIRMED, TEMPLATES_DIR } from './helpers.js';

/**
 * calico-confd against a real etcd and a real BIRD/BIRD6 running in a test
 * network namespace (BIRD's control socket is a file, so confd and birdc
 * talk to it from the root namespace). Covers: --onetime, a datastore change
 * reconfiguring BIRD, no reload for unchanged content, a broken template
 * keeping the old config live (with BIRD's message in the log) and the
 * recovery once the template is fixed, a malformed record being skipped, and
 * an etcd restart.
 */
const CONFD = fileURLToPath(new URL('../dist/main.bundle.js', import.meta.url));
const id = runId();
const ns = `cfd-${id}`;
const NODE = `it-${id}`;
const PEER_NODE = `it-${id}-b`;
const API = 'projectcalico.org/v3';

let etcd: TestEtcd;
let ds: EtcdDatastore;
let client: ResourceClient;
let tmp: string;
let templates: string;
let confdDir: string;
let runDir: string;
const procs: ChildProcess[] = [];
let daemon: ChildProcess | undefined;
const logs: Record<string, unknown>[] = [];

const env = () => ({
  ...process.env,
  NODENAME: NODE,
  ETCD_ENDPOINTS: etcd.endpoint,
  CALICO_CONFD_DIR: confdDir,
  CALICO_RUN_DIR: runDir,
  CONFD_TEMPLATES_DIR: templates,
});

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function protocols(family: 4 | 6): Promise<string> {
  const res = await run([family === 4 ? 'birdc' : 'birdc6', '-s', join(runDir, family === 4 ? 'bird.ctl' : 'bird6.ctl'), 'show', 'protocols'], { allowFail: true });
  return res.stdout;
}

function startBird(family: 4 | 6): ChildProcess {
  const [bin, cfg, sock, pid] = family === 4 ? ['bird', 'bird.cfg', 'bird.ctl', 'bird.pid'] : ['bird6', 'bird6.cfg', 'bird6.ctl', 'bird6.pid'];
  const p = spawn('ip', ['netns', 'exec', ns, bin, '-f', '-c', join(confdDir, cfg), '-s', join(runDir, sock), '-P', join(runDir, pid)], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  procs.push(p);
  return p;
}

const fileLogs = (file: string, result: string) => logs.filter((l) => l.file === join(confdDir, file) && l.result === result);
const newLogs = (since: number) => logs.slice(since);
const peer = (name: string, peerIP: string, asNumber: number) => ({ apiVersion: API, kind: 'BGPPeer', metadata: { name }, spec: { peerIP, asNumber } });

beforeAll(async () => {
  requireRoot();
  for (const bin of ['bird', 'bird6', 'birdc', 'birdc6']) {
    const found = await run(['sh', '-c', `command -v ${bin}`], { allowFail: true });
    if (found.code !== 0) throw new Error(`${bin} is not installed: run \`npm test\` (which installs the bird package) or apt-get install bird`);
  }
  if (!existsSync(CONFD)) throw new Error(`${CONFD} is missing: build first (npx tsc -b packages/confd)`);
  etcd = await startEtcd();
  ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 3000 });
  client = new ResourceClient(ds);
  tmp = mkdtempSync(`/tmp/confd-it-${id}-`);
  templates = join(tmp, 'templates');
  confdDir = join(tmp, 'confd');
  runDir = join(tmp, 'run');
  cpSync(TEMPLATES_DIR, templates, { recursive: true });
  mkdirSync(confdDir);
  mkdirSync(runDir);
  await createNetns(ns);
  await run(['ip', '-n', ns, 'addr', 'add', '198.18.77.1/24', 'dev', 'lo']);
  await run(['ip', '-n', ns, '-6', 'addr', 'add', 'fd00:77::1/64', 'dev', 'lo', 'nodad']);

  await client.create({ apiVersion: API, kind: 'Node', metadata: { name: NODE }, spec: { bgp: { ipv4Address: '198.18.77.1/24', ipv6Address: 'fd00:77::1/64' } } });
  await client.create({ apiVersion: API, kind: 'Node', metadata: { name: PEER_NODE }, spec: { bgp: { ipv4Address: '198.18.77.2/24', ipv6Address: 'fd00:77::2/64' } } });
  await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool4' }, spec: { cidr: '198.19.0.0/16' } });
  await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool6' }, spec: { cidr: 'fd00:19::/48' } });
  await ds.put(affinityKey(NODE, 4, '198.19.7.0/26'), AFFINITY_CONFIRMED);
  await ds.put(affinityKey(NODE, 6, 'fd00:19:0:7::/122'), AFFINITY_CONFIRMED);
}, 60_000);

afterAll(async () => {
  for (const p of [daemon, ...procs]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      const done = new Promise((r) => p.once('close', r));
      p.kill('SIGKILL');
      await done;
    }
  }
  if (ns) await deleteNetns(ns);
  await ds?.close();
  await etcd?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('calico-confd with etcd and BIRD', () => {
  it('--onetime renders bird.cfg and bird6.cfg and exits 0 (BIRD not running yet)', async () => {
    const res = await run(['node', CONFD, '--onetime'], { env: env(), allowFail: true, timeoutMs: 30_000 });
    expect(res.code, res.stderr).toBe(0);
    const v4 = readFileSync(join(confdDir, 'bird.cfg'), 'utf8');
    expect(v4).toContain('router id 198.18.77.1;');
    expect(v4).toContain('protocol bgp Mesh_198_18_77_2 from bgp_template');
    expect(v4).toContain('route 198.19.7.0/26 blackhole;');
    const v6 = readFileSync(join(confdDir, 'bird6.cfg'), 'utf8');
    expect(v6).toContain('router id 198.18.77.1;');
    expect(v6).toContain('protocol bgp Mesh_fd00_77__2 from bgp_template');
    expect(v6).toContain('route fd00:19:0:7::/122 blackhole;');
  });

  it('BIRD and BIRD6 start on the rendered configs', async () => {
    startBird(4);
    startBird(6);
    await waitFor('bird to list the mesh peer', async () => (await protocols(4)).includes('Mesh_198_18_77_2'));
    await waitFor('bird6 to list the mesh peer', async () => (await protocols(6)).includes('Mesh_fd00_77__2'));
  });

  it('the daemon starts, finds the configs unchanged, does not reload, and signals its first render', async () => {
    // a stale ready file (an earlier daemon's) must not pass for this one's first render
    const ready = join(runDir, 'confd-ready');
    writeFileSync(ready, '');
    daemon = spawn('node', [CONFD, '--log-level', 'debug'], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let buf = '';
    daemon.stderr!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          logs.push({ msg: line });
        }
      }
    });
    await waitFor('the first render', () => fileLogs('bird.cfg', 'unchanged').length > 0 && fileLogs('bird6.cfg', 'unchanged').length > 0);
    expect(fileLogs('bird.cfg', 'reloaded')).toHaveLength(0);
    // confd-ready appears only once both configs are live: it was removed at start
    // and is written after the pass that logged both results
    // (the file and the log line are written one after the other; the line reaches us through a pipe)
    const firstRenderLine = () => logs.findIndex((l) => l.msg === 'first render done: configs are live');
    await waitFor('confd-ready and its log line', () => existsSync(ready) && firstRenderLine() >= 0);
    const firstReady = firstRenderLine();
    expect(firstReady).toBeGreaterThan(logs.findIndex((l) => l.file === join(confdDir, 'bird.cfg') && l.result === 'unchanged'));
    expect(logs.findIndex((l) => l.msg === 'calico-confd starting')).toBeLessThan(firstReady);
  });

  it('a new BGPPeer in etcd reaches BIRD and BIRD6 (birdc show protocols lists it)', async () => {
    await client.create(peer('tor', '198.18.77.9', 65009));
    await client.create(peer('tor6', 'fd00:77::9', 65009));
    await waitFor('bird to list Global_198_18_77_9', async () => (await protocols(4)).includes('Global_198_18_77_9'));
    await waitFor('bird6 to list Global_fd00_77__9', async () => (await protocols(6)).includes('Global_fd00_77__9'));
    // confd logs a reload once birdc has answered and exited, which can come after BIRD lists the peer
    await waitFor('confd to log both reloads', () => fileLogs('bird.cfg', 'reloaded').length > 0 && fileLogs('bird6.cfg', 'reloaded').length > 0);
  });

  it('a change that does not alter the config re-renders but does not reload BIRD', async () => {
    const reloads = fileLogs('bird.cfg', 'reloaded').length + fileLogs('bird6.cfg', 'reloaded').length;
    const unchanged = fileLogs('bird.cfg', 'unchanged').length;
    // another node's log level: irrelevant to this node's configs
    await client.create({ apiVersion: API, kind: 'BGPConfiguration', metadata: { name: `node.${PEER_NODE}` }, spec: { logSeverityScreen: 'Debug' } });
    await waitFor('a render pass', () => fileLogs('bird.cfg', 'unchanged').length > unchanged);
    await waitFor('confd to go idle', () => fileLogs('bird6.cfg', 'unchanged').length > 1);
    expect(fileLogs('bird.cfg', 'reloaded').length + fileLogs('bird6.cfg', 'reloaded').length).toBe(reloads);
  });

  it('a malformed record is logged with its key and skipped; confd keeps working', async () => {
    const key = '/calico/resources/v3/projectcalico.org/bgppeers/garbage';
    await ds.put(key, '{this is not json');
    await waitFor('a warning naming the key', () => logs.some((l) => l.key === key && /not JSON/.test(String(l.err))));
    expect(daemon!.exitCode).toBeNull();
    await ds.delete(key);
  });

  describe('a broken template', () => {
    const head = () => join(templates, 'partials', 'bird_head.hbs');
    let original: string;
    let liveV4: string;

    it('that BIRD rejects: the previous config stays live and the error carries BIRD\'s message', async () => {
      original = readFileSync(head(), 'utf8');
      liveV4 = readFileSync(join(confdDir, 'bird.cfg'), 'utf8');
      const since = logs.length;
      writeFileSync(head(), original + 'this is not bird syntax;\n');
      const err = await waitFor('a check error for bird.cfg', () =>
        newLogs(since).find((l) => l.file === join(confdDir, 'bird.cfg') && l.result === 'error'),
      );
      expect(err.stage).toBe('check');
      expect(String(err.birdMessage)).toMatch(/syntax error/);
      expect(err.line).toBe('this is not bird syntax;');
      expect(readFileSync(join(confdDir, 'bird.cfg'), 'utf8')).toBe(liveV4);
      expect(await protocols(4)).toContain('Global_198_18_77_9');
    });

    it('changes while it is broken keep failing and leave BIRD on the old config', async () => {
      const since = logs.length;
      await client.create(peer('later', '198.18.77.10', 65010));
      await waitFor('another error', () => newLogs(since).some((l) => l.file === join(confdDir, 'bird.cfg') && l.result === 'error'));
      expect(readFileSync(join(confdDir, 'bird.cfg'), 'utf8')).toBe(liveV4);
      expect(await protocols(4)).not.toContain('Global_198_18_77_10');
    });

    it('that Handlebars rejects (strict: an unknown field) is also kept out', async () => {
      const since = logs.length;
      writeFileSync(head(), original + '{{noSuchField}}\n');
      const err = await waitFor('a render error', () => newLogs(since).find((l) => l.result === 'error' && l.stage === 'render'));
      expect(String(err.err)).toMatch(/noSuchField/);
      expect(readFileSync(join(confdDir, 'bird.cfg'), 'utf8')).toBe(liveV4);
    });

    it('once fixed, confd recovers: the pending change reaches BIRD', async () => {
      writeFileSync(head(), original);
      await waitFor('bird to list Global_198_18_77_10', async () => (await protocols(4)).includes('Global_198_18_77_10'));
      expect(readFileSync(join(confdDir, 'bird.cfg'), 'utf8')).toContain('Global_198_18_77_10');
    });
  });

  it('survives an etcd restart: keeps the live config meanwhile, then catches up', async () => {
    const live = readFileSync(join(confdDir, 'bird.cfg'), 'utf8');
    await etcd.kill();
    await new Promise((r) => setTimeout(r, 1500));
    expect(readFileSync(join(confdDir, 'bird.cfg'), 'utf8')).toBe(live);
    expect(await protocols(4)).toContain('Global_198_18_77_10');
    await etcd.restart();
    await client.create(peer('after-restart', '198.18.77.11', 65011));
    await waitFor('bird to list Global_198_18_77_11', async () => (await protocols(4)).includes('Global_198_18_77_11'), 30_000);
    expect(daemon!.exitCode).toBeNull();
  });

  it('stops cleanly on SIGTERM', async () => {
    const done = new Promise<number | null>((r) => daemon!.once('close', (code) => r(code)));
    daemon!.kill('SIGTERM');
    expect(await done).toBe(0);
  });
});
