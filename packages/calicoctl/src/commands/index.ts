import type { Command } from 'commander';
import { registerVersion } from './version.js';
import { registerContainer } from './container.js';
import { registerEndpoint } from './endpoint.js';
import { registerResources } from './resources.js';
import { registerPool } from './pool.js';
import { registerProfile } from './profile.js';
import { registerBgp } from './bgp.js';
import { registerConfig } from './config.js';
import { registerNode } from './node.js';
import { registerIpam } from './ipam.js';

/** Every command group registers itself here. */
export function registerAll(program: Command): void {
  registerVersion(program);
  registerContainer(program);
  registerEndpoint(program);
  registerResources(program);
  registerPool(program);
  registerProfile(program);
  registerBgp(program);
  registerConfig(program);
  registerNode(program);
  registerIpam(program);
}
