// Pure parsing of what BIRD and the command line give `calicoctl node` (no root, no BIRD).
import { describe, expect, it } from 'vitest';
import { addressFromProtocolName, parseBgpProtocols } from '@calico/calicoctl/node/bgp-status';
import type { BirdLine } from '@calico/calicoctl/node/bird-client';
import { parseAsNumber } from '@calico/calicoctl/node/run';
import { systemdUnit } from '@calico/calicoctl/node/init-system';
import { nodeBinary } from '@calico/calicoctl/node/children';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A `birdc -v show protocols all` reply as BIRD 1.6.8 prints it, split into coded lines. */
function reply(text: string): BirdLine[] {
  let code = 0;
  return text
    .split('\n')
    .filter(Boolean)
    .map((raw) => {
      const m = /^(\d{4})[ -](.*)$/.exec(raw);
      if (m) code = Number(m[1]);
      return { code, text: m ? m[2]! : raw.slice(1) };
    });
}

const SHOW_ALL = `2002-name     proto    table    state  since       info
1002-kernel1  Kernel   master   up     17:57:49
1006-  Preference:     10
1002-Mesh_198_18_7_3 BGP      master   up     17:57:50    Established
1006-  Preference:     100
       BGP state:          Established
         Neighbor address: 198.18.7.3
         Neighbor AS:      64512
1002-Global_198_18_7_4 BGP      master   start  2026-11-20 17:57:49    Active        Socket: Connection refused
1006-  BGP state:          Active
         Neighbor address: 198.18.7.4
         Last error:       Socket: Connection refused
1002-Node_fd00_18__9 BGP      master   start  17:57:49    Connect
1006-  BGP state:          Connect
         Neighbor AS:      64999
         Last error:       Hold timer expired
1002-static1  Static   master   up     17:57:49
`;

describe('node status parsing', () => {
  it('turns protocol rows into peers with address, type, state, since and info', () => {
    const peers = parseBgpProtocols(reply(SHOW_ALL));
    expect(peers.map(({ protocol: _p, ...rest }) => rest)).toEqual([
      { peerAddress: '198.18.7.3', peerType: 'node-to-node mesh', state: 'up', since: '17:57:50', info: 'Established' },
      { peerAddress: '198.18.7.4', peerType: 'global', state: 'start', since: '2026-11-20 17:57:49', info: 'Active Socket: Connection refused' },
      // no neighbor line: the address comes from the name; the last error joins the info
      { peerAddress: 'fd00:18::9', peerType: 'node specific', state: 'start', since: '17:57:49', info: 'Connect Hold timer expired' },
    ]);
  });

  it('maps protocol names back to addresses', () => {
    expect(addressFromProtocolName('Mesh_198_18_0_2')).toBe('198.18.0.2');
    expect(addressFromProtocolName('Node_fd00_18__2')).toBe('fd00:18::2');
  });

  it('ignores non-BGP protocols and unknown BGP names', () => {
    expect(parseBgpProtocols(reply('1002-kernel1  Kernel   master   up     17:57:49\n1002-other BGP master up 17:00:00 Established\n'))).toEqual([]);
  });
});

describe('node run flags', () => {
  it('accepts plain and asdot AS numbers and names the flag otherwise', () => {
    expect(parseAsNumber('64512', '--as')).toBe(64512);
    expect(parseAsNumber('1.10', '--as')).toBe(65546);
    expect(() => parseAsNumber('0', '--as')).toThrow(/--as: "0" is not an AS number/);
    expect(() => parseAsNumber('4294967296', '--as')).toThrow(/--as/);
    expect(() => parseAsNumber('12x', '--as')).toThrow(/--as/);
  });

  it('--init-system prints a unit that runs the supervisor in the foreground with the node env', () => {
    const unit = systemdUnit({
      name: 'h1',
      runArgs: ['--name', 'h1', '--ip', '198.18.0.1'],
      env: { ETCD_ENDPOINTS: 'http://198.18.0.254:2379', NODENAME: 'h1', CALICO_RUN_DIR: '/run/c a', HOME: '/root' },
    });
    expect(unit).toMatch(/^ExecStart=\S+ \S+calicoctl\/dist\/main\.bundle\.js node run --foreground --name h1 --ip 198\.18\.0\.1$/m);
    expect(unit).toContain('Environment=ETCD_ENDPOINTS=http://198.18.0.254:2379\n');
    expect(unit).toContain('Environment="CALICO_RUN_DIR=/run/c a"\n');
    expect(unit).not.toContain('HOME');
    expect(unit).toContain('[Install]\nWantedBy=multi-user.target');
  });

  it('starts a .js daemon under this node with the flags its shebang asks for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shebang-'));
    const flagged = join(dir, 'flagged.js');
    writeFileSync(flagged, '#!/usr/bin/env -S node --max-old-space-size=64 --no-opt\nconsole.log(1);\n');
    const plain = join(dir, 'plain.js');
    writeFileSync(plain, '#!/usr/bin/env node\nconsole.log(1);\n');
    expect(nodeBinary('felix', { CALICO_FELIX_BIN: flagged })).toEqual([process.execPath, '--max-old-space-size=64', '--no-opt', flagged]);
    expect(nodeBinary('confd', { CALICO_CONFD_BIN: plain })).toEqual([process.execPath, plain]);
    expect(nodeBinary('felix', { CALICO_FELIX_BIN: join(dir, 'missing.js') })).toEqual([process.execPath, join(dir, 'missing.js')]);
    expect(nodeBinary('felix', { CALICO_FELIX_BIN: '/usr/bin/true' })).toEqual(['/usr/bin/true']);
  });
});
