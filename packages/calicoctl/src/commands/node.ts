import { Command, Option } from 'commander';
import { withClient } from '../context.js';
import { CliError } from '../errors.js';

interface RunFlags {
  name?: string;
  ip: string;
  ip6?: string;
  as?: string;
  backend: string;
  foreground?: boolean;
  ipAutodetectionMethod: string;
  ip6AutodetectionMethod: string;
  initSystem?: boolean;
}

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : text + '\n');

/** --name, else NODENAME, else the hostname in lower case (as Calico names nodes). */
async function thisNode(name?: string): Promise<string> {
  const { nodeName } = await import('@calico/libcalico/config');
  return name || nodeName(process.env).toLowerCase();
}

async function layout() {
  const { nodePaths } = await import('@calico/libcalico/config');
  return nodePaths(process.env);
}

/** The `node run` flags as typed, for the ExecStart of --init-system. */
function runArgs(f: RunFlags, name: string): string[] {
  const a = ['--name', name, '--ip', f.ip];
  if (f.ip6) a.push('--ip6', f.ip6);
  if (f.as) a.push('--as', f.as);
  a.push('--backend', f.backend, '--ip-autodetection-method', f.ipAutodetectionMethod);
  if (f.ip6) a.push('--ip6-autodetection-method', f.ip6AutodetectionMethod);
  return a;
}

function registerPeer(node: Command): void {
  const peer = node.command('bgp').description('BGP settings of this node').command('peer').description('BGP peers of this node only (BGPPeer with spec.node)');
  const nodeOpt = () => new Option('--node <name>', 'the node (default NODENAME or the hostname)');
  peer
    .command('add')
    .description('peer this node with a BGP speaker: node bgp peer add <PEER_IP> as <AS_NUM>')
    .argument('<peer-ip>', 'peer address (IPv4 or IPv6)')
    .argument('<as>', 'the word "as"')
    .argument('<as-number>', 'peer AS number')
    .option('--name <name>', 'BGPPeer resource name (default node.<node>.<ip>)')
    .addOption(nodeOpt())
    .action(async (ip: string, asWord: string, asNumber: string, opts: { name?: string; node?: string }, cmd: Command) => {
      const { ValidationError } = await import('@calico/libcalico/errors');
      if (asWord !== 'as') throw new ValidationError('as', `expected "as" before the AS number, got ${JSON.stringify(asWord)}`);
      const { parseAsNumber } = await import('../node/run.js');
      const { peerAdd } = await import('../node/peers.js');
      const as = parseAsNumber(asNumber, 'AS_NUM');
      const node = await thisNode(opts.node);
      out(await withClient(cmd, ({ client }) => peerAdd(client, node, ip, as, opts.name)));
    });
  peer
    .command('remove')
    .description('remove a peer of this node: node bgp peer remove <PEER_IP>')
    .argument('<peer-ip>', 'peer address')
    .addOption(nodeOpt())
    .action(async (ip: string, opts: { node?: string }, cmd: Command) => {
      const { peerRemove } = await import('../node/peers.js');
      const node = await thisNode(opts.node);
      out(await withClient(cmd, ({ client }) => peerRemove(client, node, ip)));
    });
  peer
    .command('show')
    .description('list the peers of this node')
    .option('--ipv4', 'IPv4 peers only')
    .option('--ipv6', 'IPv6 peers only')
    .addOption(nodeOpt())
    .action(async (opts: { ipv4?: boolean; ipv6?: boolean; node?: string }, cmd: Command) => {
      const { peerShow } = await import('../node/peers.js');
      const node = await thisNode(opts.node);
      const only = opts.ipv4 && !opts.ipv6 ? 4 : opts.ipv6 && !opts.ipv4 ? 6 : undefined;
      out(await withClient(cmd, ({ client }) => peerShow(client, node, only)));
    });
}

export function registerNode(program: Command): void {
  const node = program
    .command('node')
    .description('run and manage this host as a Calico node (felix, confd, BIRD, BIRD6 under a supervisor)');

  node
    .command('run')
    .description('register this host as a Node and start felix, confd, BIRD and BIRD6 under a supervisor')
    .option('--name <name>', 'node name (default NODENAME or the hostname)')
    .option('--ip <ip>', 'IPv4 address (IP or IP/len), or "autodetect"', 'autodetect')
    .option('--ip6 <ip6>', 'IPv6 address (IP or IP/len), or "autodetect" (default: no IPv6)')
    .option('--as <as>', 'AS number of this node (default: the global AS)')
    .addOption(new Option('--backend <backend>', 'networking backend').choices(['bird', 'none']).default('bird'))
    .option('--foreground', 'run the supervisor in this terminal until SIGTERM/SIGINT (for systemd and tests)')
    .option(
      '--ip-autodetection-method <method>',
      'first-found | can-reach=DEST | interface=REGEX[,REGEX] | skip-interface=REGEX[,REGEX]',
      'first-found',
    )
    .option('--ip6-autodetection-method <method>', 'the same for --ip6 autodetect', 'first-found')
    .option('--init-system', 'print a systemd unit for this node instead of starting it')
    .action(async (flags: RunFlags, cmd: Command) => {
      const name = await thisNode(flags.name);
      const { globalOpts } = await import('../context.js');
      const etcdEndpoints = globalOpts(cmd).etcdEndpoints;
      if (flags.initSystem) {
        const { systemdUnit } = await import('../node/init-system.js');
        const env = { ...process.env, NODENAME: name, ...(etcdEndpoints ? { ETCD_ENDPOINTS: etcdEndpoints } : {}) };
        out(systemdUnit({ name, runArgs: runArgs(flags, name), env }));
        return;
      }
      const { runNode } = await import('../node/run.js');
      await withClient(cmd, ({ client }) =>
        runNode(
          {
            name,
            ip: flags.ip,
            ip6: flags.ip6,
            as: flags.as,
            backend: flags.backend,
            foreground: !!flags.foreground,
            ipAutodetectionMethod: flags.ipAutodetectionMethod,
            ip6AutodetectionMethod: flags.ip6AutodetectionMethod,
            etcdEndpoints,
          },
          client,
          out,
        ),
      );
    });

  node.command('supervise', { hidden: true }).action(async () => {
    const { superviseFromEnv } = await import('../node/supervise.js');
    await superviseFromEnv();
  });

  node
    .command('stop')
    .description('stop the supervisor and all its processes (SIGTERM, waiting until they are gone)')
    .option('--force', 'SIGKILL the supervisor and its children at once')
    .action(async (opts: { force?: boolean }) => {
      const { stopNode } = await import('../node/stop.js');
      const { pid, orphans } = await stopNode(await layout(), !!opts.force);
      if (pid) out(`Calico node stopped (supervisor pid ${pid})`);
      else out(`Calico node is not running${orphans.length ? ` (stopped processes it left behind: ${orphans.join(', ')})` : ''}`);
    });

  node
    .command('remove')
    .description('deregister a node: delete its Node, per-node BGP peers and config, and release its IPAM blocks')
    .option('--name <name>', 'node name (default NODENAME or the hostname)')
    .option('--force', 'also delete the workload endpoints still on the node')
    .action(async (opts: { name?: string; force?: boolean }, cmd: Command) => {
      const { removeNode } = await import('../node/remove.js');
      const name = await thisNode(opts.name);
      const l = await layout();
      out(await withClient(cmd, ({ client, ds }) => removeNode(client, ds, l, name, !!opts.force)));
    });

  node
    .command('status')
    .description('is this node running, and the state of its BGP sessions')
    .action(async () => {
      const { nodeStatus } = await import('../node/status.js');
      out(await nodeStatus(await layout()));
    });

  node
    .command('checksystem')
    .description('check this host can run a node: kernel, forwarding, iptables, ipset, BIRD, our binaries, etcd')
    .addOption(new Option('--backend <backend>', 'networking backend to check for').choices(['bird', 'none']).default('bird'))
    .action(async (opts: { backend: 'bird' | 'none' }, cmd: Command) => {
      const { etcdConfigFromEnv } = await import('@calico/libcalico/config');
      const { globalOpts } = await import('../context.js');
      const { checkSystem, formatChecks } = await import('../node/checksystem.js');
      const results = await checkSystem({ backend: opts.backend, etcd: etcdConfigFromEnv(process.env, globalOpts(cmd).etcdEndpoints) });
      out(formatChecks(results));
      const failed = results.filter((r) => !r.ok).length;
      if (failed) throw new CliError(`${failed} check(s) failed`);
      out('System meets the requirements to run a Calico node.');
    });

  node
    .command('diags')
    .description('collect logs, BIRD configs and state, routes, iptables, ipsets and the node\'s resources into a tar.gz')
    .option('--log-dir <dir>', 'log directory to collect (default CALICO_LOG_DIR)')
    .option('--output-dir <dir>', 'where to write the tarball (default the temp dir)')
    .option('--name <name>', 'node name (default NODENAME or the hostname)')
    .action(async (opts: { logDir?: string; outputDir?: string; name?: string }, cmd: Command) => {
      const { collectDiags } = await import('../node/diags.js');
      const { openClient } = await import('../context.js');
      const l = { ...(await layout()), ...(opts.logDir ? { logDir: opts.logDir } : {}) };
      const name = await thisNode(opts.name);
      let conn: Awaited<ReturnType<typeof openClient>> | undefined;
      let error = '';
      try {
        conn = await openClient(cmd);
        await conn.ds.get('/calico/resources/v3/projectcalico.org/nodes/' + name);
      } catch (e) {
        error = (e as Error).message;
      }
      try {
        const file = await collectDiags({ layout: l, nodeName: name, outDir: opts.outputDir }, conn && !error ? { ok: true, client: conn.client } : { ok: false, error });
        out(`Diags saved to ${file}`);
      } finally {
        await conn?.close();
      }
    });

  registerPeer(node);
}
