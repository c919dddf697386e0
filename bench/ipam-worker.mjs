// One process of the `ipam` bench. Prints "ready", then runs one command per
// stdin line, printing one JSON line of results for each:
//   MODE=ceiling  "go":       CAS-write KEY for DURATION_MS (each write compares
//                             the mod revision of the previous one)
//   MODE=alloc    "alloc N":  allocate N more addresses for HOST, one handle each
//                 "release":  release every handle allocated, by handle
import { createInterface } from 'node:readline';
import { Ipam } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';

const env = process.env;
const ds = new EtcdDatastore({ endpoints: [env.ETCD], timeoutMs: 5000 });
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

let run;
if (env.MODE === 'ceiling') {
  let kv = await ds.put(env.KEY, env.VALUE);
  run = async () => {
    const lat = [];
    const end = performance.now() + Number(env.DURATION_MS);
    while (performance.now() < end) {
      const t = performance.now();
      kv = await ds.update(env.KEY, env.VALUE, kv.revision);
      lat.push(performance.now() - t);
    }
    return { lat };
  };
} else {
  // A long-lived allocator (like the Docker IPAM driver) may cache pools and config.
  const ipam = new Ipam(ds, { cacheTtlMs: 10_000 });
  await ipam.pools();
  const handle = (i) => `bench.${env.HOST}.${env.WORKER}.${i}`;
  let next = 0;
  run = async (line) => {
    if (line === 'release') return { lat: await timed(next, (i) => ipam.releaseByHandle(handle(i))) };
    const ips = [];
    const lat = await timed(Number(line.split(' ')[1]), async () => {
      const r = await ipam.autoAssign({ num4: 1, handleId: handle(next++), hostname: env.HOST });
      ips.push(...r.ipv4);
    });
    return { lat, ips };
  };
}

print({ ready: true });
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'exit') break;
  print(await run(line));
}
await ds.close();
process.stdin.destroy();
