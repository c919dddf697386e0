// One allocator process for the IPAM contention tests: allocates COUNT times
// for HOST (one handle per allocation, as CNI does), releases one of its
// earlier handles every RELEASE_EVERY allocations, and prints what it holds.
import { Ipam } from '@calico/libcalico';
import { EtcdDatastore } from '@calico/libcalico/datastore/etcd';

const env = process.env;
const count = Number(env.COUNT);
const releaseEvery = Number(env.RELEASE_EVERY || 0);
const ds = new EtcdDatastore({ endpoints: [env.ETCD], timeoutMs: 2000 });
const ipam = new Ipam(ds, { unavailableMs: 30_000 });

const held = [];
/** handles whose call failed: they may hold addresses the caller must release */
const failed = [];
for (let i = 0; i < count; i++) {
  const handleId = `test.${env.HOST}.${env.WORKER}.${i}`;
  try {
    const r = await ipam.autoAssign({ num4: 1, num6: i % 4 === 0 ? 1 : 0, handleId, hostname: env.HOST, attrs: { worker: env.WORKER } });
    held.push({ handleId, ips: [...r.ipv4, ...r.ipv6] });
  } catch (e) {
    failed.push({ handleId, error: e.message });
  }
  if (releaseEvery && i % releaseEvery === releaseEvery - 1 && held.length) {
    const victim = held.shift();
    try {
      await ipam.releaseByHandle(victim.handleId);
    } catch (e) {
      failed.push({ handleId: victim.handleId, error: e.message });
    }
  }
}
process.stdout.write(JSON.stringify({ held, failed }));
await ds.close();
