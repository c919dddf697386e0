// One process of the `ipam` bench. Prints "ready", then runs one phase per
// line read on stdin ("go"), printing one JSON line of results per phase.
//   MODE=ceiling: CAS-write KEY for DURATION_MS (each write compares the mod
//                 revision of the previous one: the raw etcd ceiling)
//   MODE=alloc:   phase 1 allocates COUNT addresses (one handle each) for
//                 HOST; phase 2 releases them all by handle.
import { createInterface } from 'node:readline';
import { Ipam } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';

const env = process.env;
const ds = new EtcdDatastore({ endpoints: [env.ETCD], timeoutMs: 5000 });
const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

async function timed(n, fn) {
  const lat = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(i);
    lat.push(performance.now() - t);
  }
  return lat;
}

// Warm the connection before the start signal.
await ds.get('/warmup');
print({ ready: true });

if (env.MODE === 'ceiling') {
  let kv = await ds.put(env.KEY, env.VALUE);
  await lines.next();
  const lat = [];
  const end = performance.now() + Number(env.DURATION_MS);
  while (performance.now() < end) {
    const t = performance.now();
    kv = await ds.update(env.KEY, env.VALUE, kv.revision);
    lat.push(performance.now() - t);
  }
  print({ lat });
} else {
  // A long-lived allocator (like the Docker IPAM driver) may cache pools and config.
  const ipam = new Ipam(ds, { cacheTtlMs: 10_000 });
  await ipam.pools();
  const handle = (i) => `bench.${env.HOST}.${env.WORKER}.${i}`;
  const count = Number(env.COUNT);
  await lines.next();
  const ips = [];
  const lat = await timed(count, async (i) => {
    const r = await ipam.autoAssign({ num4: 1, handleId: handle(i), hostname: env.HOST });
    ips.push(...r.ipv4);
  });
  print({ lat, ips });
  await lines.next();
  const rel = await timed(count, (i) => ipam.releaseByHandle(handle(i)));
  print({ lat: rel });
}
rl.close();
await ds.close();
