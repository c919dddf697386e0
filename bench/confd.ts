// `confd`: time from an etcd write (a new global BGPPeer) to BIRD reporting
// the new protocol, with a 50-node mesh and 50 global peers in etcd (IPv4 and
// IPv6, so every change renders, checks and compares both configs). Beside it,
// in the same run: the same reconfiguration done by hand with the same tools
// (`bird -p -c` + rename + `birdc configure`, no etcd, no rendering).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ResourceClient, run } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';
import { affinityKey } from '@calico/libcalico/ipam/keys';
import { startEtcd } from '../test/helpers/etcd.js';
import { createNetns, deleteNetns, runId } from '../test/helpers/netns.js';
import type { Bench, BenchResult } from './types.js';

const CONFD = fileURLToPath(new URL('../packages/confd/dist/main.bundle.js', import.meta.url));
const NODES = 50;
const GLOBAL_PEERS = 50;
const CHANGES = 30;
const API = 'projectcalico.org/v3';

/** A persistent connection to BIRD's control socket (cheaper to poll than spawning birdc). */
class BirdSocket {
  private buf = '';
  private waiter?: () => void;
  private constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf += d.toString();
      this.waiter?.();
    });
  }

  static async open(path: string): Promise<BirdSocket> {
    const sock = createConnection(path);
    await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
    const b = new BirdSocket(sock);
    await b.reply(); // "0001 BIRD x ready."
    return b;
  }

  /** Read until a reply's final line (a 4-digit code followed by a space). */
  private async reply(): Promise<string> {
    for (;;) {
      const m = /^\d{4} .*$/m.exec(this.buf);
      if (m) {
        const end = m.index + m[0].length + 1;
        const out = this.buf.slice(0, end);
        this.buf = this.buf.slice(end);
        return out;
      }
      await new Promise<void>((r) => (this.waiter = r));
    }
  }

  async command(cmd: string): Promise<string> {
    this.sock.write(cmd + '\n');
    return this.reply();
  }

  close(): void {
    this.sock.destroy();
  }
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

async function until(sock: BirdSocket, protocol: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await sock.command('show protocols')).includes(protocol)) {
    if (Date.now() > deadline) throw new Error(`BIRD did not show ${protocol} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

const bench: Bench = {
  name: 'confd',
  description: `etcd change → BIRD reconfigured, ${NODES}-node mesh + ${GLOBAL_PEERS} global peers (v4+v6), ${CHANGES} changes`,
  async run(): Promise<BenchResult[]> {
    const id = runId();
    const ns = `cfdb-${id}`;
    const me = `bench-${id}-1`;
    const tmp = mkdtempSync(`/tmp/confd-bench-${id}-`);
    const confdDir = join(tmp, 'confd');
    const runDir = join(tmp, 'run');
    mkdirSync(confdDir);
    mkdirSync(runDir);
    const etcd = await startEtcd();
    const ds = new EtcdDatastore({ endpoints: [etcd.endpoint], timeoutMs: 5000 });
    const client = new ResourceClient(ds);
    const procs: ChildProcess[] = [];
    const socks: BirdSocket[] = [];
    try {
      await createNetns(ns);
      await run(['ip', '-n', ns, 'addr', 'add', '198.18.100.1/24', 'dev', 'lo']);
      for (let i = 1; i <= NODES; i++) {
        await client.create({
          apiVersion: API,
          kind: 'Node',
          metadata: { name: `bench-${id}-${i}` },
          spec: { bgp: { ipv4Address: `198.18.100.${i}/24`, ipv6Address: `fd00:100::${i.toString(16)}/64` } },
        });
      }
      for (let i = 1; i <= GLOBAL_PEERS; i++) {
        await client.create({ apiVersion: API, kind: 'BGPPeer', metadata: { name: `global-${i}` }, spec: { peerIP: `198.18.101.${i}`, asNumber: 65000 + i } });
      }
      await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool4' }, spec: { cidr: '198.19.0.0/16' } });
      await client.create({ apiVersion: API, kind: 'IPPool', metadata: { name: 'pool6' }, spec: { cidr: 'fd00:19::/48' } });
      for (let b = 0; b < 4; b++) await ds.put(affinityKey(me, 4, `198.19.1.${b * 64}/26`), JSON.stringify({ state: 'confirmed' }));

      const env = { ...process.env, NODENAME: me, ETCD_ENDPOINTS: etcd.endpoint, CALICO_CONFD_DIR: confdDir, CALICO_RUN_DIR: runDir };
      await run(['node', CONFD, '--onetime'], { env, timeoutMs: 60_000 });
      for (const [bin, cfg, ctl] of [
        ['bird', 'bird.cfg', 'bird.ctl'],
        ['bird6', 'bird6.cfg', 'bird6.ctl'],
      ] as const) {
        procs.push(spawn('ip', ['netns', 'exec', ns, bin, '-f', '-c', join(confdDir, cfg), '-s', join(runDir, ctl)], { stdio: 'ignore' }));
      }
      const confd = spawn('node', [CONFD], { env, stdio: 'ignore' });
      procs.push(confd);
      let bird: BirdSocket | undefined;
      for (let i = 0; !bird; i++) {
        bird = await BirdSocket.open(join(runDir, 'bird.ctl')).catch(async (e: Error) => {
          if (i > 200) throw e;
          await new Promise((r) => setTimeout(r, 50));
          return undefined;
        });
      }
      socks.push(bird);
      await until(bird, `Global_198_18_101_${GLOBAL_PEERS}`);
      await new Promise((r) => setTimeout(r, 3000)); // let confd finish starting (template watch ready)

      const ours: number[] = [];
      for (let i = 1; i <= CHANGES; i++) {
        const t0 = performance.now();
        await client.create({ apiVersion: API, kind: 'BGPPeer', metadata: { name: `added-${i}` }, spec: { peerIP: `198.18.102.${i}`, asNumber: 64999 } });
        await until(bird, `Global_198_18_102_${i} `);
        ours.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }
      const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${confd.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
      confd.kill('SIGTERM');
      await new Promise((r) => confd.once('close', r));

      // The same reconfiguration by hand: check, atomic rename, birdc configure, poll.
      const cfg = join(confdDir, 'bird.cfg');
      let text = readFileSync(cfg, 'utf8');
      const raw: number[] = [];
      for (let i = 1; i <= CHANGES; i++) {
        const t0 = performance.now();
        text += `protocol bgp Global_198_18_103_${i} from bgp_template {\n  neighbor 198.18.103.${i} as 64999;\n}\n`;
        const stage = join(confdDir, `.bird.cfg.raw`);
        writeFileSync(stage, text);
        await run(['bird', '-p', '-c', stage]);
        renameSync(stage, cfg);
        await run(['birdc', '-s', join(runDir, 'bird.ctl'), 'configure']);
        await until(bird, `Global_198_18_103_${i} `);
        raw.push(performance.now() - t0);
        await new Promise((r) => setTimeout(r, 50));
      }

      const note = `confd RSS ${rss.toFixed(0)} MiB; ${NODES - 1} mesh + ${GLOBAL_PEERS} global sessions per family`;
      return [
        {
          scenario: 'confd',
          metric: 'etcd write → birdc shows the new peer, p50',
          ours: pct(ours, 50),
          unit: 'ms',
          reference: pct(raw, 50),
          referenceLabel: 'by hand (bird -p + rename + birdc configure) p50',
          goal: '≤ 100 ms',
          ok: pct(ours, 50) <= 100,
          note,
        },
        {
          scenario: 'confd',
          metric: 'etcd write → birdc shows the new peer, p99',
          ours: pct(ours, 99),
          unit: 'ms',
          reference: pct(raw, 99),
          referenceLabel: 'by hand p99',
        },
      ];
    } finally {
      for (const s of socks) s.close();
      for (const p of procs) {
        if (p.exitCode === null && p.signalCode === null) {
          const done = new Promise((r) => p.once('close', r));
          p.kill('SIGKILL');
          await done;
        }
      }
      await deleteNetns(ns);
      await ds.close();
      await etcd.stop();
      rmSync(tmp, { recursive: true, force: true });
    }
  },
};

export default bench;
