import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private etcd for one test file: free loopback ports, temp data dir, fast election. */
export interface TestEtcd {
  endpoint: string;
  clientPort: number;
  dir: string;
  proc: ChildProcess;
  /** kill -9 (data dir kept, so restart() resumes the same data) */
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface EtcdOptions {
  /** listen address for clients (default 127.0.0.1; the lab uses the fabric address) */
  host?: string;
  /** run inside this network namespace (via `ip netns exec`) */
  netns?: string;
  /** extra etcd flags (e.g. TLS) */
  extraArgs?: string[];
  scheme?: 'http' | 'https';
}

async function waitHealthy(endpoint: string, proc: ChildProcess, netns?: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const url = endpoint.replace(/^https?:\/\//, '');
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`etcd exited with ${proc.exitCode} before becoming healthy`);
    // A TCP connect + v3 range request is enough: use etcdctl if present.
    const ok = await new Promise<boolean>((resolve) => {
      const args = ['etcdctl', '--endpoints', url, '--dial-timeout=300ms', '--command-timeout=500ms', 'endpoint', 'health'];
      const cmd = netns ? ['ip', 'netns', 'exec', netns, ...args] : args;
      const p = spawn(cmd[0]!, cmd.slice(1), { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
      p.on('error', () => resolve(false));
      p.on('close', (c) => resolve(c === 0));
    });
    if (ok || endpoint.startsWith('https')) {
      if (endpoint.startsWith('https')) await new Promise((r) => setTimeout(r, 500));
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`etcd at ${endpoint} did not become healthy in ${timeoutMs} ms`);
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  const host = opts.host ?? '127.0.0.1';
  const scheme = opts.scheme ?? 'http';
  const dir = mkdtempSync(join(tmpdir(), 'calits-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `${scheme}://${host}:${clientPort}`;
  const args = [
    'etcd',
    '--name', 'test',
    '--data-dir', join(dir, 'data'),
    '--listen-client-urls', endpoint,
    '--advertise-client-urls', endpoint,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'error',
    ...(opts.extraArgs ?? []),
  ];
  const launch = (): ChildProcess => {
    const cmd = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...args] : args;
    const p = spawn(cmd[0]!, cmd.slice(1), {
      stdio: 'ignore',
      env: { ...process.env, ETCD_HEARTBEAT_INTERVAL: '10', ETCD_ELECTION_TIMEOUT: '100' },
    });
    p.on('error', () => {});
    return p;
  };
  const which = spawn('sh', ['-c', 'command -v etcd'], { stdio: 'ignore' });
  const found = await new Promise<boolean>((r) => which.on('close', (c) => r(c === 0)));
  if (!found) throw new Error('etcd is not installed: run `npm test` (which installs etcd-server) or apt-get install etcd-server');

  const self: TestEtcd = {
    endpoint,
    clientPort,
    dir,
    proc: launch(),
    async kill() {
      const p = self.proc;
      // a process killed by a signal has signalCode set and exitCode null
      if (p.exitCode !== null || p.signalCode !== null) return;
      const done = new Promise((r) => p.once('close', r));
      p.kill('SIGKILL');
      await done;
    },
    async restart() {
      await self.kill();
      self.proc = launch();
      await waitHealthy(endpoint, self.proc, opts.netns);
    },
    async stop() {
      await self.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitHealthy(endpoint, self.proc, opts.netns);
  } catch (e) {
    await self.stop();
    throw e;
  }
  return self;
}
