import type { Command } from 'commander';

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

const USAGE = `
Usage:
  calicoctl container add <CONTAINER> <IP|POOL_CIDR|ipv4|ipv6> [--interface NAME] [--profile P]... [--node N] [--host-netns PATH]
  calicoctl container remove <CONTAINER> [--node N] [--host-netns PATH]
  calicoctl container <CONTAINER> ip add <IP|POOL_CIDR|ipv4|ipv6> [--interface NAME] [--node N]
  calicoctl container <CONTAINER> ip remove <IP> [--interface NAME] [--node N]
  calicoctl container <CONTAINER> profile (append|remove|set) <PROFILE>... [--interface NAME] [--node N]
  calicoctl container <CONTAINER> endpoint show [--node N]

CONTAINER is a network namespace path (/var/run/netns/NAME, /proc/PID/ns/net)
or a Docker container name or id (resolved with \`docker inspect\`; DOCKER_HOST
is honoured). The host end of the veth is created in calicoctl's own network
namespace, or in --host-netns PATH.`;

export interface ContainerOpts {
  interface: string;
  profile?: string[];
  node?: string;
  hostNetns?: string;
}

export function registerContainer(program: Command): void {
  program
    .command('container')
    .description('attach a network namespace or Docker container to Calico, and manage its addresses and profiles')
    .argument('<words...>', 'add CONTAINER IP | remove CONTAINER | CONTAINER ip add|remove IP | CONTAINER profile append|remove|set P...')
    .option('--interface <name>', 'interface name inside the container (the endpoint id)', 'eth0')
    .option('--profile <name>', 'profile to apply (repeatable; add only)', collect)
    .option('--node <name>', 'node the container runs on (default NODENAME or the hostname)')
    .option('--host-netns <path>', 'network namespace for the host end of the veth (default: calicoctl\'s own)')
    .addHelpText('after', USAGE)
    .action(async (words: string[], opts: ContainerOpts, cmd: Command) => {
      const { containerCommand } = await import('../workload/container.js');
      await containerCommand(cmd, words, opts);
    });
}
