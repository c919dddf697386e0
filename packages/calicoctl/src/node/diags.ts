import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '@calico/libcalico/exec';
import type { ResourceClient } from '@calico/libcalico';
import { toYaml } from '../output.js';
import { birdQuery } from './bird-client.js';
import { findProgram } from '@calico/libcalico/exec';
import { birdSocket, type NodeLayout } from './layout.js';

export interface DiagsOptions {
  layout: NodeLayout;
  nodeName: string;
  /** where the tarball goes (default: the temp dir) */
  outDir?: string;
}

/** Run a command and keep what it printed (or why it failed) as one file of the bundle. */
async function capture(dir: string, file: string, argv: string[]): Promise<void> {
  const bin = findProgram(argv[0]!) ?? argv[0]!;
  let text: string;
  try {
    const r = await run([bin, ...argv.slice(1)], { allowFail: true, timeoutMs: 20_000 });
    text = `$ ${argv.join(' ')}\n${r.stdout}${r.stderr ? `\n--- stderr ---\n${r.stderr}` : ''}${r.code ? `\n(exit ${r.code})\n` : ''}`;
  } catch (e) {
    text = `$ ${argv.join(' ')}\n${(e as Error).message}\n`;
  }
  writeFileSync(join(dir, file), text);
}

async function captureBird(dir: string, layout: NodeLayout, family: 4 | 6): Promise<void> {
  const file = join(dir, family === 4 ? 'birdc-show-protocols-all.txt' : 'birdc6-show-protocols-all.txt');
  const socket = birdSocket(layout, family);
  let text = '';
  for (const cmd of ['show status', 'show protocols all', 'show route']) {
    text += `# ${cmd} (BIRD control socket ${socket})\n`;
    try {
      text += (await birdQuery(socket, cmd, 5000)).map((l) => l.text).join('\n') + '\n\n';
    } catch (e) {
      text += `${(e as Error).message}\n\n`;
    }
  }
  writeFileSync(file, text);
}

/** The node's resources: Node, its WorkloadEndpoints, BGP peers and the Felix/BGP configuration that applies. */
async function captureResources(dir: string, client: ResourceClient, node: string): Promise<void> {
  const sections: [string, () => Promise<unknown>][] = [
    ['Node', () => client.tryGet('Node', node)],
    ['WorkloadEndpoints', async () => (await client.list('WorkloadEndpoint', { onInvalid: () => {} })).filter((w) => w.spec.node === node)],
    ['BGPPeers', async () => (await client.list('BGPPeer', { onInvalid: () => {} })).filter((p) => !p.spec.node || p.spec.node === node)],
    ['BGPConfigurations', async () => (await client.list('BGPConfiguration', { onInvalid: () => {} })).filter((c) => ['default', `node.${node}`].includes(c.metadata.name))],
    ['FelixConfigurations', async () => (await client.list('FelixConfiguration', { onInvalid: () => {} })).filter((c) => ['default', `node.${node}`].includes(c.metadata.name))],
    ['IPPools', () => client.list('IPPool', { onInvalid: () => {} })],
  ];
  let text = '';
  for (const [title, get] of sections) {
    text += `# ${title}\n`;
    try {
      text += toYaml((await get()) ?? null);
    } catch (e) {
      text += `# error: ${(e as Error).message}\n`;
    }
    text += '---\n';
  }
  writeFileSync(join(dir, 'resources.yaml'), text);
}

/**
 * `calicoctl node diags`: collect logs, rendered BIRD configs, BIRD's view,
 * routes, iptables, ipsets and the node's resources into one tar.gz and
 * return its path. Each piece that cannot be read is recorded, not fatal.
 */
export async function collectDiags(
  opts: DiagsOptions,
  client: { ok: true; client: ResourceClient } | { ok: false; error: string },
): Promise<string> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const work = mkdtempSync(join(tmpdir(), `calico-diags-${opts.nodeName}-`));
  const dir = join(work, `diags-${opts.nodeName}-${stamp}`);
  try {
    mkdirSync(dir);
    for (const [from, to] of [
      [opts.layout.logDir, 'logs'],
      [opts.layout.confdDir, 'confd'],
      [opts.layout.runDir, 'run'],
    ] as const) {
      if (existsSync(from)) {
        // sockets can't be copied; everything else in these dirs is small text
        cpSync(from, join(dir, to), { recursive: true, filter: (src) => !src.endsWith('.ctl') });
      }
    }
    await Promise.all([
      captureBird(dir, opts.layout, 4),
      captureBird(dir, opts.layout, 6),
      capture(dir, 'ip-addr.txt', ['ip', 'addr']),
      capture(dir, 'ip-route.txt', ['ip', 'route', 'show', 'table', 'all']),
      capture(dir, 'ip6-route.txt', ['ip', '-6', 'route', 'show', 'table', 'all']),
      capture(dir, 'ip-rule.txt', ['ip', 'rule']),
      capture(dir, 'iptables-save.txt', ['iptables-save', '-c']),
      capture(dir, 'ip6tables-save.txt', ['ip6tables-save', '-c']),
      capture(dir, 'iptables-legacy-save.txt', ['iptables-legacy-save', '-c']),
      capture(dir, 'ipset-list.txt', ['ipset', 'list']),
      capture(dir, 'sysctl-net.txt', ['sysctl', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']),
      client.ok
        ? captureResources(dir, client.client, opts.nodeName)
        : Promise.resolve(writeFileSync(join(dir, 'resources.yaml'), `# etcd not reachable: ${client.error}\n`)),
    ]);
    const outDir = opts.outDir ?? tmpdir();
    const tarball = join(outDir, `${dir.split('/').pop()}.tar.gz`);
    await run(['tar', '-czf', tarball, '-C', work, readdirSync(work)[0]!]);
    return tarball;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
