#!/usr/bin/env -S node --max-semi-space-size=8 --max-old-space-size=256 --initial-old-space-size=64
// calico-felix's process entry: V8's heap sizes, then the daemon (daemon.ts).
// Whoever starts it as `node main.bundle.js` gives it the flags above
// (shebangNodeFlags):
// - the heap limits keep RSS at 5,000 endpoints ~175 MB instead of ~300 MB;
//   8 MB semi-spaces rather than 2 cut a fifth off a 5,000-endpoint cold
//   start (fewer scavenges) for ~20 MB more;
// - a 64 MB old space to start with: a cold start's heap only grows until it
//   is built, so full collections on the way are wasted (5,000 endpoints: one
//   mark-compact instead of four, ~50-70 ms less on the main thread) for a few
//   MB more RSS.
//
// V8 accepts the code cache that node's built-in modules come with only if
// every V8 flag has its default value; otherwise each built-in felix loads
// (http, net, child_process, worker_threads, …) is compiled from source,
// ~40 ms of CPU in a 1,000-endpoint cold start. The heap is sized when the
// process starts and does not read these flags again, so they are put back
// to their defaults here, before anything else is loaded: the heap keeps its
// sizes and the built-ins their cache. Hence the daemon in a bundle of its
// own, imported from here: a module's static imports all load before its
// first line runs.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--max-semi-space-size=0 --max-old-space-size=0 --initial-old-space-size=0');
// A variable, so that neither tsc nor esbuild looks for it: scripts/bundle.mjs builds it beside this file.
const daemon = './daemon.bundle.js';
await import(daemon);
