import { CliError } from '../errors.js';
import { formatTable } from '../output.js';
import { BirdError, birdQuery } from './bird-client.js';
import { parseBgpProtocols, type BgpPeerStatus } from './bgp-status.js';
import { birdSocket, pidRuns, readState, runningSupervisor, type NodeLayout } from './layout.js';

/** BGP sessions of one address family, or why they could not be read. */
export async function bgpPeers(layout: NodeLayout, family: 4 | 6): Promise<BgpPeerStatus[]> {
  return parseBgpProtocols(await birdQuery(birdSocket(layout, family), 'show protocols all'));
}

/**
 * `calicoctl node status`: whether the supervisor and each child run, then
 * a table of BGP peers per family from BIRD's control sockets, as Calico
 * prints it (peer address, peer type, state, since, info).
 */
export async function nodeStatus(layout: NodeLayout): Promise<string> {
  const pid = runningSupervisor(layout);
  const state = readState(layout);
  if (!pid || !state) throw new CliError('Calico process is not running.');
  let text = `Calico process is running (supervisor pid ${pid}, node ${state.nodeName}, ${state.state}).\n\n`;
  text += formatTable(
    ['process', 'pid', 'state', 'restarts'],
    Object.entries(state.children).map(([name, c]) => [
      name,
      c.pid ? String(c.pid) : '-',
      pidRuns(c.pid, c.argv[0]!) ? (c.ready ? 'running' : 'starting') : 'restarting',
      String(c.restarts),
    ]),
  );
  if (state.backend === 'none') return text + '\nBGP is disabled (backend none).\n';
  for (const family of [4, 6] as const) {
    text += `\nIPv${family} BGP status\n`;
    let peers: BgpPeerStatus[];
    try {
      peers = await bgpPeers(layout, family);
    } catch (e) {
      text += `Unable to read BGP status: ${e instanceof BirdError ? e.message : String(e)}\n`;
      continue;
    }
    if (!peers.length) {
      text += `No IPv${family} peers found.\n`;
      continue;
    }
    text += formatTable(
      ['peer address', 'peer type', 'state', 'since', 'info'],
      peers.map((p) => [p.peerAddress, p.peerType, p.state, p.since, p.info]),
    );
  }
  return text;
}
