// The legacy iptables backend (chosen explicitly, and by auto-detection when the
// host already uses legacy tables), and the refusal to run with loose RPF.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lab, eventually, startUnixEtcd, type UnixEtcd } from './helpers.js';

let etcd: UnixEtcd;
let lab: Lab | undefined;

beforeAll(async () => {
  etcd = await startUnixEtcd();
});
afterEach(async () => {
  await lab?.down();
  lab = undefined;
});
afterAll(async () => {
  await etcd?.stop();
});

describe('felix with the legacy backend', () => {
  it('programs legacy tables when the host already uses them (auto)', async () => {
    lab = new Lab(etcd);
    await lab.up();
    // Someone else's legacy rule makes legacy the host's backend.
    await lab.hostRun(['iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '1', '-j', 'ACCEPT']);
    const w1 = await lab.addWorkload(1, ['198.19.2.1']);
    const w2 = await lab.addWorkload(2, ['198.19.2.2']);
    await lab.put('Profile', 'p', { ingress: [{ action: 'Deny', protocol: 'ICMP' }], egress: [{ action: 'Allow' }] });
    await lab.putEndpoint(w1, ['p']);
    await lab.putEndpoint(w2, ['p']);
    await lab.startFelix({ FELIX_IPTABLESBACKEND: 'auto' });
    await lab.waitReady();
    const legacy = (await lab.hostRun(['iptables-legacy-save', '-t', 'filter'])).stdout;
    expect(legacy).toContain(`:cali-tw-${w2.ifname} `);
    expect(legacy).toContain('--dport 1 -j ACCEPT'); // the other rule is untouched
    expect((await lab.hostRun(['iptables-nft-save', '-t', 'filter'])).stdout).not.toContain('cali-');
    expect(await lab.ping(w1, '198.19.2.2')).toBe(false);
    await lab.put('Profile', 'p', { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] });
    await eventually(() => lab!.ping(w1, '198.19.2.2'), 'ping once the profile allows it');
  });

  it('refuses to start when all/rp_filter is loose, unless told to ignore it', async () => {
    lab = new Lab(etcd);
    await lab.up({ rpFilterAll: '2' });
    const p = await lab.startFelix({ FELIX_IPTABLESBACKEND: 'legacy' });
    const code = await new Promise((r) => p.once('exit', r));
    expect(code).toBe(1);
    expect(lab.log()).toMatch(/rp_filter is 2 \(loose\).*FELIX_IGNORELOOSERPF=true/);
    await lab.stopFelix();
    await lab.startFelix({ FELIX_IPTABLESBACKEND: 'legacy', FELIX_IGNORELOOSERPF: 'true' });
    await lab.waitReady();
    expect((await lab.hostRun(['iptables-legacy-save', '-t', 'filter'])).stdout).toContain(':cali-FORWARD ');
  });
});
