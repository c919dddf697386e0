// Hand-written, Calico-shaped BIRD configs run straight on lab hosts, without any of our
// components: the lab's self-test uses them to prove the fabric, and the mesh-up
// benchmark uses them as the floor (BIRD alone) beside which our nodes are measured.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LabHost } from './lab.js';

/** Full mesh to `peers` (the higher index side passive), a blackhole for `block`, export only it. */
export function rawBirdConfig(me: LabHost, peers: LabHost[], block: string, v6: boolean): string {
  const addr = (h: LabHost): string => (v6 ? h.ip6 : h.ip4);
  const sessions = peers
    .filter((p) => p !== me)
    .map(
      (p) => `protocol bgp Mesh_${p.name} {
  local as 64512; neighbor ${addr(p)} as 64512; source address ${addr(me)};
  import all; export filter export_block; next hop self; graceful restart;
  connect delay time 0; connect retry time 5; error wait time 5,30;${me.index > p.index ? '\n  passive on;' : ''}
}`,
    );
  return `router id ${me.ip4};
filter export_block { if ( net = ${block} ) then accept; reject; }
protocol kernel { learn; persist; scan time 2; import all; export all; graceful restart; }
protocol device { scan time 2; }
protocol direct { interface -"cali*", "*"; }
protocol static { route ${block} blackhole; }
${sessions.join('\n')}
`;
}

/**
 * Start `bird` (or `bird6`) in the host's namespace, with the control socket where a node's
 * would be (so `lab.bgpSessions` reads it); it ends with the lab's teardown.
 */
export function startRawBird(h: LabHost, peers: LabHost[], block: string, v6: boolean): string {
  const bin = v6 ? 'bird6' : 'bird';
  const conf = join(h.dir, `raw-${bin}.conf`);
  const socket = join(h.env.CALICO_RUN_DIR!, `${bin}.ctl`);
  writeFileSync(conf, rawBirdConfig(h, peers, block, v6));
  spawn('ip', ['netns', 'exec', h.netns, bin, '-f', '-c', conf, '-s', socket], { stdio: 'ignore' }).unref();
  return socket;
}
