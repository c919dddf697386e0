// Failures users hit: etcd unreachable or silent, several endpoints, usage
// errors. Each runtime error is one line on stderr and exit code 1.
import { createServer, type Server, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../../test/helpers/etcd.js';
import { ctlFor, snapshot, withEtcdCtl } from './ctl-helper.js';

const t = withEtcdCtl();

describe('etcd unreachable', () => {
  it('names the endpoint when nothing listens', async () => {
    const port = await freePort();
    const dead = ctlFor(`http://127.0.0.1:${port}`);
    expect(await dead.fails(['get', 'ippools'])).toMatch(new RegExp(`cannot reach etcd \\(http://127\\.0\\.0\\.1:${port}: connect ECONNREFUSED`));
    expect(await dead.fails(['pool', 'add', '198.18.0.0/24'])).toMatch(/cannot reach etcd/);
    // the etcd3 (gRPC) client path says the same kind of thing
    expect(await dead.fails(['get', 'ippools'], { env: { CALICOCTL_ETCD_CLIENT: 'grpc' } })).toMatch(
      new RegExp(`etcd at http://127\\.0\\.0\\.1:${port} unavailable`),
    );
  });

  it('gives up on an endpoint that accepts but never answers, after ETCD_TIMEOUT_MS', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const err = await ctlFor(`http://127.0.0.1:${port}`).fails(['get', 'profiles'], { env: { ETCD_TIMEOUT_MS: '500' } });
      expect(err).toMatch(new RegExp(`http://127\\.0\\.0\\.1:${port}: no answer within 500 ms`));
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => server.close(r));
    }
  });

  it('uses the next endpoint of ETCD_ENDPOINTS when the first is down', async () => {
    const port = await freePort();
    const two = ctlFor(`http://127.0.0.1:${port},${t.etcd.endpoint}`);
    expect(await two.ok(['pool', 'add', '198.18.1.0/24'])).toMatch(/Created IP pool/);
    expect(await two.ok(['get', 'ippools'])).toContain('198.18.1.0/24');
    // --etcd-endpoints overrides the environment
    expect(await ctlFor(`http://127.0.0.1:${port}`).ok(['--etcd-endpoints', t.etcd.endpoint, 'get', 'ippools'])).toContain('198.18.1.0/24');
    expect(await t.c.ok(['get', 'ippools', '-o', 'yaml'], { env: { CALICOCTL_ETCD_CLIENT: 'grpc' } })).toContain('cidr: 198.18.1.0/24');
  });

  it('fails cleanly while etcd is down and works again after it restarts', async () => {
    const before = await snapshot(t.etcd.endpoint);
    await t.etcd.kill();
    expect(await t.c.fails(['profile', 'add', 'while-down'])).toMatch(/cannot reach etcd/);
    await t.etcd.restart();
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
    expect(await t.c.ok(['profile', 'add', 'after-restart'])).toBe('Created profile after-restart\n');
  });
});

describe('usage errors', () => {
  it('exit 1 with a message', async () => {
    const unknown = await t.c.ctl(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const missing = await t.c.ctl(['get']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/missing required argument 'kind'/);
    expect(await t.c.fails(['delete', 'ippool'])).toMatch(/delete needs -f FILE, or KIND and NAME/);
    expect(await t.c.fails(['delete', 'ippool', 'x', '-f', '-'])).toMatch(/either -f FILE or KIND NAME/);
    expect(await t.c.fails(['profile', 'nosuch', 'paint'])).toMatch(/profile: unknown command "nosuch" "paint"/);
    expect((await t.c.ctl(['version'])).stdout).toMatch(/^Client Version:\s+v\d+\.\d+\.\d+\nAPI Version:\s+projectcalico\.org\/v3\n$/);
    expect((await t.c.ctl(['--help'])).code).toBe(0);
  });
});
