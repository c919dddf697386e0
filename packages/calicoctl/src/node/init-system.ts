import { fileURLToPath } from 'node:url';

export interface InitSystemOptions {
  name: string;
  /** the `node run` flags to repeat in ExecStart (without --init-system) */
  runArgs: string[];
  env: NodeJS.ProcessEnv;
}

/** Environment the unit passes on: etcd, node paths and felix settings. */
const PASSED_ENV = /^(ETCD_|CALICO_|FELIX_|NODENAME$)/;

const quote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `"${s.replace(/(["\\$`])/g, '\\$1')}"`);

/**
 * `calicoctl node run --init-system`: a systemd unit that runs this node's
 * supervisor in the foreground (systemd restarts it; the supervisor restarts
 * felix, confd and BIRD), instead of starting anything now.
 */
export function systemdUnit(o: InitSystemOptions): string {
  // the package's bin (resolved through its exports, from dist/ or from the bundle)
  const main = fileURLToPath(import.meta.resolve('@calico/calicoctl/main.bundle'));
  const env = Object.entries(o.env)
    .filter(([k, v]) => PASSED_ENV.test(k) && v !== undefined && v !== '')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `Environment=${quote(`${k}=${v}`)}`);
  const start = [process.execPath, main, 'node', 'run', '--foreground', ...o.runArgs].map(quote).join(' ');
  return `# calico-node.service: felix, confd, BIRD and BIRD6 for node ${o.name}
# Install: save as /etc/systemd/system/calico-node.service, then
#   systemctl daemon-reload && systemctl enable --now calico-node
[Unit]
Description=Calico node ${o.name} (felix, confd, BIRD, BIRD6)
Documentation=calicoctl node --help
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
${env.join('\n')}${env.length ? '\n' : ''}ExecStart=${start}
# the supervisor stops its children on SIGTERM; anything left is killed after the timeout
KillMode=mixed
TimeoutStopSec=30
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`;
}
