#!/usr/bin/env node
// The detached supervisor's own entry point, which `node run` starts: it loads
// the supervisor only, not calicoctl's command line (commander and every
// command module), so each node's supervisor starts sooner and uses less memory.
// `calicoctl node supervise` does the same through the command line.
import { superviseFromEnv } from './supervise.js';

try {
  await superviseFromEnv();
  process.exit(0);
} catch (e) {
  process.stderr.write(`Error: ${(e as Error).message}\n`);
  process.exit(1);
}
