import type { Command } from 'commander';
import { registerVersion } from './version.js';

/** Every command group registers itself here. */
export function registerAll(program: Command): void {
  registerVersion(program);
}
