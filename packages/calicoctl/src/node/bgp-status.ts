import { isIp } from '@calico/libcalico/net';
import type { BirdLine } from './bird-client.js';

/** One BGP session as `calicoctl node status` shows it. */
export interface BgpPeerStatus {
  /** BIRD protocol name, e.g. Mesh_198_18_0_2 */
  protocol: string;
  peerAddress: string;
  peerType: string;
  state: string;
  since: string;
  info: string;
}

/** Protocol-name prefixes confd gives BGP peers (Calico's scheme, kept by our templates). */
const PEER_TYPES: ReadonlyArray<[prefix: string, type: string]> = [
  ['Mesh_', 'node-to-node mesh'],
  ['Node_', 'node specific'],
  ['Global_', 'global'],
];

/** `Mesh_198_18_0_2` → 198.18.0.2, `Node_fd00_18__2` → fd00:18::2 (when no neighbor line says better). */
export function addressFromProtocolName(name: string): string {
  const rest = name.slice(name.indexOf('_') + 1).replace(/_port_\d+$/, '');
  const v4 = rest.replace(/_/g, '.');
  return isIp(v4) ? v4 : rest.replace(/_/g, ':');
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}(:\d{2})?(\.\d+)?$/;

/**
 * Parse the reply of `show protocols all` (or `show protocols`): code 1002
 * lines are the protocol rows (split on whitespace: long names push the
 * fixed-width columns right), code 1006 lines describe the row above them.
 * Only BGP protocols with one of the peer prefixes are returned.
 */
export function parseBgpProtocols(lines: BirdLine[]): BgpPeerStatus[] {
  const peers: BgpPeerStatus[] = [];
  let current: (BgpPeerStatus & { lastError?: string }) | undefined;
  const finish = () => {
    if (!current) return;
    const { lastError, ...peer } = current;
    if (lastError && current.state !== 'up' && !peer.info.includes(lastError)) peer.info = `${peer.info} ${lastError}`.trim();
    peers.push(peer);
    current = undefined;
  };
  for (const line of lines) {
    if (line.code === 1002) {
      finish();
      const tokens = line.text.trim().split(/\s+/);
      const [name = '', proto = '', , state = ''] = tokens;
      const type = PEER_TYPES.find(([prefix]) => name.startsWith(prefix));
      if (proto !== 'BGP' || !type) continue;
      let i = 4;
      let since = tokens[i++] ?? '';
      if (DATE.test(since) && TIME.test(tokens[i] ?? '')) since += ' ' + tokens[i++];
      current = {
        protocol: name,
        peerAddress: addressFromProtocolName(name),
        peerType: type[1],
        state,
        since,
        info: tokens.slice(i).join(' '),
      };
    } else if (line.code === 1006 && current) {
      const m = /^\s*([A-Za-z ]+):\s+(.*?)\s*$/.exec(line.text);
      if (!m) continue;
      if (m[1] === 'Neighbor address') current.peerAddress = m[2]!;
      else if (m[1] === 'Last error') current.lastError = m[2]!;
    }
  }
  finish();
  return peers;
}
