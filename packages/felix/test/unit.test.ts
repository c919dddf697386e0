// Pure parts of felix (no root, no kernel): names, rule rendering, dispatch
// trees, the iptables driver's diffing against a fake iptables, config layering.
import { afterAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { chainName, marksFromMask, ruleHashes, ipsetName } from '@calico/felix/names';
import { renderRules, portChunks } from '@calico/felix/rules/policy';
import { DispatchTree, groupDispatchChains } from '@calico/felix/rules/dispatch';
import { bodyChains, endpointChains } from '@calico/felix/rules/endpoint';
import { staticRawChains } from '@calico/felix/rules/static';
import { canonicalMember, IpsetsDriver } from '@calico/felix/drivers/ipsets';
import type { IpsetBatch } from '@calico/felix/drivers/coprocess';
import { RouteTable } from '@calico/felix/drivers/routes';
import { parseNetconf, Sysctls } from '@calico/felix/drivers/sysctls';
import { parseLinkEvent } from '@calico/felix/drivers/links';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { IptablesTable, parseSave } from '@calico/felix/drivers/iptables';
import { helperRunner, RestoreSessions } from '@calico/felix/drivers/runner';
import { Spawner } from '@calico/felix/drivers/spawner';
import { IpBatch } from '@calico/felix/drivers/coprocess';
import { resolveConfig } from '@calico/felix/config';
import { Matchers, SelectorIndex } from '@calico/felix/calc/selectors';
import { EndpointManager } from '@calico/felix/managers/endpoints';
import { IpsetManager } from '@calico/felix/managers/ipsets';
import { PolicyManager } from '@calico/felix/managers/policies';
import type { DesiredState } from '@calico/felix/managers/tables';
import type { Endpoint, Profile } from '@calico/felix/calc/model';
import type { SetRef } from '@calico/felix/rules/types';

const marks = marksFromMask(0xffff0000);
const log = pino({ level: 'silent' });

describe('names', () => {
  it('derives accept/pass marks from the mask', () => {
    expect(marks).toMatchObject({ accept: 0x10000, pass: 0x20000 });
    expect(marksFromMask(0xff000000).accept).toBe(0x1000000);
    expect(() => marksFromMask(0x8)).toThrow(/fewer than 2 bits/);
  });
  it('keeps chain names within 28 characters, hashing long or odd ids', () => {
    expect(chainName('cali-pi-', 'short')).toBe('cali-pi-short');
    const long = chainName('cali-pi-', 'a-very-long-policy-name-that-does-not-fit');
    expect(long.length).toBe(28);
    expect(long.startsWith('cali-pi-_')).toBe(true);
    expect(chainName('cali-pi-', 'ns/name')).toMatch(/^cali-pi-_/);
    expect(ipsetName(4, 's:' + 'x'.repeat(40)).length).toBe(31);
  });
  it('chains rule hashes: a change moves every later hash', () => {
    const a = ruleHashes('c', ['r1', 'r2', 'r3']);
    const b = ruleHashes('c', ['r1', 'rX', 'r3']);
    expect(a[0]).toBe(b[0]);
    expect(a[1]).not.toBe(b[1]);
    expect(a[2]).not.toBe(b[2]);
    expect(a[0]).toMatch(/^[\w-]{16}$/);
  });
});

describe('rule rendering', () => {
  const ctx = { version: 4 as const, marks, logPrefix: 'calico-packet' };
  it('renders allow with the accept mark then a return', () => {
    const r = renderRules([{ action: 'Allow', protocol: 'TCP', destination: { ports: [80, '8000:8100'] } }], ctx);
    expect(r.rules.map((x) => `${x.match} ${x.action}`)).toEqual([
      '-p tcp -m multiport --dports 80,8000:8100 -j MARK --set-xmark 0x10000/0x10000',
      '-m mark --mark 0x10000/0x10000 -j RETURN',
    ]);
  });
  it('splits more than 15 ports into multiport chunks (a range counts 2)', () => {
    const ports = Array.from({ length: 20 }, (_, i) => 1000 + i);
    expect(portChunks(ports)).toHaveLength(2);
    expect(portChunks(['1:2', '3:4', '5:6', '7:8', '9:10', '11:12', '13:14', 15])).toHaveLength(1);
    expect(portChunks(['1:2', '3:4', '5:6', '7:8', '9:10', '11:12', '13:14', '15:16'])).toHaveLength(2);
  });
  it('turns selectors into ipset matches and several nets into a net set', () => {
    const r = renderRules([{ action: 'Deny', source: { selector: "role == 'db'", notNets: ['198.18.0.0/24', '198.18.1.0/24'] } }], ctx);
    expect(r.rules[0]!.match).toMatch(/^-m set ! --match-set cali40n:\S+ src -m set --match-set cali40s:\S+ src$/);
    expect(r.sets.map((s) => s.kind).sort()).toEqual(['nets', 'selector']);
  });
  it('leaves a rule out of the table of the other IP version', () => {
    expect(renderRules([{ action: 'Allow', protocol: 'ICMPv6' }], ctx).rules).toEqual([]);
    expect(renderRules([{ action: 'Allow', source: { nets: ['fd00::/64'] } }], ctx).rules).toEqual([]);
    expect(renderRules([{ action: 'Allow', ipVersion: 6 }], ctx).rules).toEqual([]);
    expect(renderRules([{ action: 'Allow', protocol: 'ICMPv6', icmp: { type: 128 } }], { ...ctx, version: 6 }).rules[0]!.match).toBe(
      '-p ipv6-icmp -m icmp6 --icmpv6-type 128',
    );
  });
  it('rejects ports without a port protocol (logged, not rendered)', () => {
    const r = renderRules([{ action: 'Allow', destination: { ports: [80] } }], ctx);
    expect(r.rules).toEqual([]);
    expect(r.skipped[0]).toMatch(/ports need protocol/);
  });
  it('leaves out (and reports) a rule with a match it cannot express', () => {
    const r = renderRules([{ action: 'Allow', source: { namespaceSelector: 'all()' } }, { action: 'Allow', destination: { ports: ['http'] }, protocol: 'TCP' }], ctx);
    expect(r.rules).toEqual([]);
    expect(r.skipped).toEqual(['src namespaceSelector is not supported', 'named ports (http) are not supported']);
  });
  it('Pass marks and returns; Log logs', () => {
    const r = renderRules([{ action: 'Pass' }, { action: 'Log', protocol: 'UDP' }], ctx);
    expect(r.rules.map((x) => x.action)).toEqual(['-j MARK --set-xmark 0x20000/0x20000', '-j RETURN', '-j LOG --log-prefix "calico-packet: " --log-level 5']);
  });
});

describe('selector index', () => {
  it('offers each label set the selectors that can match it, in order, and never leaves out one that does', () => {
    const m = new Matchers();
    const sels = ["group == 'g1'", "group in {'g1', 'g2'} && app == 'a'", 'all()', "has(x) || group == 'g2'", "app == 'a' && group == 'g3'", "!(group == 'g1')", ''];
    const index = new SelectorIndex(sels, (s) => m.node(s));
    const labelSets = [{ group: 'g1', app: 'a' }, { group: 'g2' }, { group: 'g3', app: 'a' }, { x: '' }, {}];
    for (const labels of labelSets) {
      const cands = index.candidates(labels);
      expect(cands).toEqual(sels.filter((s) => cands.includes(s))); // in the given order
      for (const s of sels) if (m.get(s)(labels)) expect(cands).toContain(s);
    }
    // the required values do narrow: {group: g3} is not offered the g1 / g2 selectors
    expect(index.candidates({ group: 'g3' })).not.toContain("group == 'g1'");
    expect(index.candidates({ group: 'g3' })).not.toContain("group in {'g1', 'g2'} && app == 'a'");
  });
});

describe('endpoint chains', () => {
  const text = (c: { rules: { match: string; action: string }[] }) => c.rules.map((r) => [r.match, r.action].filter(Boolean).join(' '));
  const body = { tw: 'cali-tw-_b', fw: 'cali-fw-_b' };
  it('go to the body their group shares (one rule each)', () => {
    const [tw, fw] = endpointChains('calia', body);
    expect(tw!.name).toBe('cali-tw-calia');
    expect(fw!.name).toBe('cali-fw-calia');
    expect(text(tw!)).toEqual(['-g cali-tw-_b']);
    expect(text(fw!)).toEqual(['-g cali-fw-_b']);
  });
  it('anti-spoofing: the raw table drops what arrives from a workload interface by the wrong way back', () => {
    expect(staticRawChains({ interfacePrefix: 'cali' }).map((c) => [c.name, text(c)])).toEqual([['cali-PREROUTING', ['-i cali+ -m rpfilter --invert -j DROP']]]);
  });
  it('the body: established first, policies in order (pass skips to the profiles), profiles, drop', () => {
    const [tw, fw] = bodyChains(body, { ingressPolicies: ['p1', 'p2'], egressPolicies: [], profiles: ['prof'] }, marks);
    expect(text(tw!)).toEqual([
      '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-m conntrack --ctstate INVALID -j DROP',
      '-j MARK --set-xmark 0x0/0x10000',
      '-j MARK --set-xmark 0x0/0x20000',
      '-m mark --mark 0x0/0x20000 -j cali-pi-p1',
      '-m mark --mark 0x10000/0x10000 -j RETURN',
      '-m mark --mark 0x0/0x20000 -j cali-pi-p2',
      '-m mark --mark 0x10000/0x10000 -j RETURN',
      '-m mark --mark 0x0/0x20000 -j DROP',
      '-j cali-pri-prof',
      '-m mark --mark 0x10000/0x10000 -j RETURN',
      '-j DROP',
    ]);
    // no egress policies: straight to the profiles
    expect(text(fw!).slice(3)).toEqual(['-j cali-pro-prof', '-m mark --mark 0x10000/0x10000 -j RETURN', '-j DROP']);
  });
});

describe('dispatch chains', () => {
  const target = (i: string) => `cali-fw-${i}`;
  const tree = () => new DispatchTree('cali-from-wl-dispatch', '-i', target);
  const names = Array.from({ length: 5000 }, (_, i) => `cali${i.toString(16).padStart(11, '0')}`);
  it('is one flat chain for a few interfaces, ending in a drop', () => {
    const c = tree().chains(['calia', 'calib']);
    expect(c).toHaveLength(1);
    expect(c[0]!.rules.map((r) => [r.match, r.action].filter(Boolean).join(' '))).toEqual(['-i calia -g cali-fw-calia', '-i calib -g cali-fw-calib', '-j DROP']);
  });
  it('splits into a prefix tree for many, so one change touches a small leaf', () => {
    const chains = tree().chains(names);
    expect(Math.max(...chains.map((c) => c.rules.length))).toBeLessThanOrEqual(33);
    expect(chains.every((c) => c.name.length <= 28)).toBe(true);
    const leaves = chains.flatMap((c) => c.rules).filter((r) => r.action.startsWith('-g cali-fw-'));
    expect(leaves).toHaveLength(5000);
    expect(new Set(leaves.map((r) => r.match))).toEqual(new Set(names.map((n) => `-i ${n}`)));
    const after = tree().chains([...names, 'cali00000000fff'].sort());
    const changed = after.filter((c) => JSON.stringify(c) !== JSON.stringify(chains.find((o) => o.name === c.name)));
    expect(changed.length).toBeLessThanOrEqual(2);
  });
  it('a name that prefixes others is matched on its own', () => {
    const many = ['calia', ...Array.from({ length: 40 }, (_, i) => `calia${i.toString(36).padStart(2, '0')}`)];
    const rules = tree().chains(many).flatMap((c) => c.rules.map((r) => `${r.match} ${r.action}`));
    expect(rules).toContain('-i calia -g cali-fw-calia');
    expect(rules.filter((r) => r.endsWith('-g cali-fw-calia'))).toHaveLength(1);
  });
  it('given the changed names, rebuilds only the path to the changed leaf and gives the same chains as a full build', () => {
    const t = tree();
    const before = t.chains(names);
    const more = [...names, 'cali00000000fff'].sort();
    const after = t.chains(more, new Set(['cali00000000fff']));
    expect(after).toEqual(tree().chains(more));
    const rebuilt = after.filter((c) => !before.includes(c));
    expect(rebuilt.length).toBeGreaterThan(0);
    expect(rebuilt.length).toBeLessThanOrEqual(4); // one chain per level of the path: root, two inner, leaf
    // and back: the old leaf's content again
    expect(t.chains(names, new Set(['cali00000000fff']))).toEqual(before);
    // nothing changed: everything reused
    const again = t.chains(names, new Set());
    expect(again.every((c, i) => c === t.chains(names, new Set())[i])).toBe(true);
  });
  it('shared layout: an address check first, then one rule per group (not per endpoint)', () => {
    const [from, to] = groupDispatchChains([{ set: 'cali40g:a', tw: 'cali-tw-_a', fw: 'cali-fw-_a' }, { set: 'cali40g:b', tw: 'cali-tw-_b', fw: 'cali-fw-_b' }], 'cali40wl-addrs');
    const text = (c: typeof from) => c!.rules.map((r) => [r.match, r.action].filter(Boolean).join(' '));
    expect(text(from)).toEqual([
      '-m set ! --match-set cali40wl-addrs src,src -j DROP',
      '-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-m set --match-set cali40g:a src,src -g cali-fw-_a',
      '-m set --match-set cali40g:b src,src -g cali-fw-_b',
      '-j DROP',
    ]);
    expect(text(to)).toEqual([
      '-m set --match-set cali40wl-addrs dst,dst -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
      '-m set --match-set cali40g:a dst,dst -g cali-tw-_a',
      '-m set --match-set cali40g:b dst,dst -g cali-tw-_b',
      '-j DROP',
    ]);
  });
  it('ipset members compare in the form ipset save prints (interface names kept as they are)', () => {
    expect(canonicalMember('198.19.0.1/32,caliAB')).toBe('198.19.0.1,caliAB');
    expect(canonicalMember('FD00::1/128,caliAB')).toBe('fd00::1,caliAB');
    expect(canonicalMember('0.0.0.0/0,caliAB')).toBe('0.0.0.0/0,caliAB');
    expect(canonicalMember('198.19.0.0/26')).toBe('198.19.0.0/26');
  });
});

/** A fake iptables: keeps the restore inputs and serves a save text. */
function fakeIptables(save: string, deferDeletes = false) {
  const restores: string[] = [];
  const commands: string[][] = [];
  const run = async (cmd: string[], input?: string | Iterable<string>) => {
    if (cmd[0]!.endsWith('-save')) return { code: 0, stdout: save, stderr: '' };
    commands.push(cmd);
    restores.push(typeof input === 'string' ? input : [...(input ?? [])].join(''));
    return { code: 0, stdout: '', stderr: '' };
  };
  const counters = { restore: () => {}, save: () => {}, rulesWritten: () => {} };
  return { restores, commands, table: new IptablesTable('filter', 4, 'nft', run, counters, log, 'insert', deferDeletes) };
}

describe('iptables driver', () => {
  const rules = [{ match: '-p tcp', action: '-j ACCEPT' }];
  it('parses our rule hashes out of iptables-save', () => {
    const m = parseSave(':INPUT ACCEPT [0:0]\n:cali-x - [0:0]\n-A INPUT -m comment --comment "cali:abcdefghijklmnop" -j cali-x\n-A INPUT -j DROP\n-A cali-x -p tcp -m comment --comment cali:ABCDEFGHIJKLMNOP -j ACCEPT\n');
    expect(m.get('INPUT')).toEqual(['abcdefghijklmnop', null]);
    expect(m.get('cali-x')).toEqual(['ABCDEFGHIJKLMNOP']);
  });
  it('loads a table that holds nothing of anyone whole (no --noflush), keeping the built-in policies', async () => {
    const f = fakeIptables('*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\nCOMMIT\n');
    f.table.setChain('cali-x', rules);
    await f.table.apply();
    expect(f.commands[0]).not.toContain('--noflush');
    expect(f.restores[0]).toMatch(/^\*filter\n:INPUT DROP \[0:0\]\n:FORWARD ACCEPT \[0:0\]\n:cali-x - \[0:0\]\n-A cali-x /);
    f.table.setChain('cali-y', rules);
    await f.table.apply();
    expect(f.commands[1]).toContain('--noflush');
  });
  it('writes nothing when the kernel already matches', async () => {
    const [h] = ruleHashes('cali-x', ['-p tcp -j ACCEPT']);
    const [ih] = ruleHashes('INPUT', [' -j cali-x']);
    const f = fakeIptables(`*filter\n:INPUT ACCEPT [0:0]\n:cali-x - [0:0]\n-A INPUT -m comment --comment "cali:${ih}" -j cali-x\n-A cali-x -p tcp -m comment --comment "cali:${h}" -j ACCEPT\nCOMMIT\n`);
    f.table.setChain('cali-x', rules);
    f.table.setInsertions('INPUT', [{ match: '', action: '-j cali-x' }]);
    await f.table.apply();
    expect(f.restores).toEqual([]);
  });
  const leftovers = '*filter\n:INPUT ACCEPT [0:0]\n:cali-old - [0:0]\n:cali-x - [0:0]\n-A INPUT -j ACCEPT\n-A INPUT -m comment --comment "cali:0000000000000000" -j cali-x\n-A cali-old -j DROP\nCOMMIT\n';
  it('writes what differs, re-inserts a moved hook, and removes our leftovers in the same restore', async () => {
    const f = fakeIptables(leftovers);
    f.table.setChain('cali-x', rules);
    f.table.setInsertions('INPUT', [{ match: '', action: '-j cali-x' }]);
    expect(await f.table.apply()).toBe(true);
    expect(f.restores).toHaveLength(1);
    // our rule in a built-in chain goes by value: others may have moved it since the read
    expect(f.restores[0]).toMatch(/^\*filter\n:cali-old - \[0:0\]\n-D INPUT -m comment --comment "cali:0000000000000000" -j cali-x\n/);
    expect(f.restores[0]).toMatch(/-A cali-x -p tcp .*-j ACCEPT\n-I INPUT 1 .*-j cali-x\n-X cali-old\nCOMMIT\n$/);
    expect(f.table.needsCleanup).toBe(false);
    expect(await f.table.apply()).toBe(false);
  });
  it('deletes the hooks it wrote itself by value when they change', async () => {
    const f = fakeIptables('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n');
    f.table.setInsertions('INPUT', [{ match: '-i cali+', action: '-j cali-x' }]);
    await f.table.apply();
    const hook = /^-I INPUT 1 (.*)$/m.exec(f.restores[0]!)![1];
    f.table.setInsertions('INPUT', [{ match: '', action: '-j cali-y' }]);
    await f.table.apply();
    expect(f.restores[1]!.split('\n')).toEqual(['*filter', `-D INPUT ${hook}`, expect.stringMatching(/^-I INPUT 1 .*-j cali-y$/), 'COMMIT', '']);
  });
  it('with deferDeletes, leaves the removals to cleanup()', async () => {
    const f = fakeIptables(leftovers, true);
    f.table.setChain('cali-x', rules);
    f.table.setInsertions('INPUT', [{ match: '', action: '-j cali-x' }]);
    expect(await f.table.apply()).toBe(true);
    expect(f.restores).toHaveLength(1);
    const input = f.restores[0]!;
    expect(input).toMatch(/^\*filter\n/);
    expect(input).not.toContain(':cali-x'); // it exists (empty): no flush
    expect(input).toMatch(/-A cali-x -p tcp -m comment --comment "cali:[\w-]{16}" -j ACCEPT/);
    expect(input).toContain('-D INPUT -m comment --comment "cali:0000000000000000" -j cali-x\n');
    expect(input).toMatch(/-I INPUT 1 -m comment --comment "cali:[\w-]{16}" -j cali-x/);
    expect(input).not.toContain('cali-old');
    expect(f.table.needsCleanup).toBe(true);
    expect(await f.table.cleanup()).toBe(true);
    expect(f.restores[1]).toMatch(/^\*filter\n:cali-old - \[0:0\]\n-X cali-old\nCOMMIT/);
    // nothing changed: nothing written
    expect(await f.table.apply()).toBe(false);
    f.table.setChain('cali-x', rules);
    expect(await f.table.apply()).toBe(false);
    expect(await f.table.cleanup()).toBe(false);
    expect(f.restores).toHaveLength(2);
  });
  it('changes a chain by inserting the new rules and a RETURN in front, then deleting the old ones', async () => {
    const [old] = ruleHashes('cali-x', ['-p udp -j ACCEPT']);
    const f = fakeIptables(`*filter\n:cali-x - [0:0]\n-A cali-x -p udp -m comment --comment "cali:${old}" -j ACCEPT\nCOMMIT\n`);
    f.table.setChain('cali-x', rules);
    await f.table.apply();
    expect(f.restores).toHaveLength(1);
    expect(f.restores[0]!.replace(/"cali:[\w-]{16}"/g, 'H')).toBe(
      '*filter\n-I cali-x 1 -m comment --comment H -j RETURN\n-I cali-x 1 -p tcp -m comment --comment H -j ACCEPT\n-D cali-x 3\n-D cali-x 2\nCOMMIT\n',
    );
    expect(await f.table.apply()).toBe(false);
  });
  it('splits a big --noflush write: new chains declared, then filled 2,000 rules a commit, changes to old chains last', async () => {
    const [old] = ruleHashes('cali-x', ['-p udp -j ACCEPT']);
    const f = fakeIptables(`*filter\n:INPUT ACCEPT [0:0]\n:cali-x - [0:0]\n-A cali-x -p udp -m comment --comment "cali:${old}" -j ACCEPT\nCOMMIT\n`, true);
    const many = Array.from({ length: 300 }, (_, i) => ({ match: `-p tcp --dport ${i + 1}`, action: '-j ACCEPT' }));
    for (let c = 0; c < 20; c++) f.table.setChain(`cali-n${c}`, many); // 6,000 rules in new chains
    f.table.setChain('cali-x', [{ match: '', action: '-g cali-n19' }]);
    f.table.setInsertions('INPUT', [{ match: '', action: '-j cali-x' }]);
    await f.table.apply();
    expect(f.restores).toHaveLength(1);
    const commits = f.restores[0]!.split('COMMIT\n').filter(Boolean);
    expect(commits.length).toBe(6); // declarations, 4 × 6 chains (1,800 rules), the change
    expect(commits[0]!.split('\n').filter((l) => l.startsWith(':')).length).toBe(20);
    expect(commits[0]).not.toMatch(/^-[AI]/m);
    for (const c of commits.slice(1, 5)) {
      const n = c.split('\n').filter((l) => l.startsWith('-A cali-n')).length;
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(2000);
      expect(c).not.toMatch(/cali-x|INPUT/);
    }
    const last = commits[5]!;
    expect(last).toMatch(/^\*filter\n-I cali-x 1 .*-j RETURN\n-I cali-x 1 .*-g cali-n19\n-I INPUT 1 .*-j cali-x\n$/);
    // a small change stays one transaction
    f.table.setChain('cali-n0', many.slice(1));
    await f.table.apply();
    expect(f.restores[1]!.match(/COMMIT/g)).toHaveLength(1);
  });
  it('with deferDeletes, a change deletes nothing; cleanup() deletes the old rules', async () => {
    // (New rules go in at position 1, last first: iptables-nft reads no chain's rules for that.)
    const [old] = ruleHashes('cali-x', ['-p udp -j ACCEPT']);
    const f = fakeIptables(`*filter\n:cali-x - [0:0]\n-A cali-x -p udp -m comment --comment "cali:${old}" -j ACCEPT\nCOMMIT\n`, true);
    f.table.setChain('cali-x', [...rules, { match: '-p icmp', action: '-j DROP' }]);
    await f.table.apply();
    const lines = f.restores[0]!.split('\n');
    expect(lines.filter((l) => l.startsWith('-I cali-x')).map((l) => l.replace(/"cali:[\w-]{16}"/, 'H'))).toEqual([
      '-I cali-x 1 -m comment --comment H -j RETURN',
      '-I cali-x 1 -p icmp -m comment --comment H -j DROP',
      '-I cali-x 1 -p tcp -m comment --comment H -j ACCEPT',
    ]);
    expect(f.restores[0]).not.toMatch(/^(-D|-F|:cali-x)/m); // nothing deleted in the change itself
    await f.table.cleanup();
    expect(f.restores[1]).toBe('*filter\n-D cali-x 4\n-D cali-x 3\nCOMMIT\n');
    expect(await f.table.apply()).toBe(false);
  });
});

/** An IpsetsDriver over a kernel that holds `save`; each batch waits for `release()` when `hold` is set. */
function fakeIpsets(save: string) {
  const batches: string[][] = [];
  let hold: Promise<void> | undefined;
  let release = () => {};
  const batch = {
    run: async (lines: string[]) => {
      batches.push(lines);
      await hold;
      return '';
    },
  } as unknown as IpsetBatch;
  const run = async () => ({ code: 0, stdout: save, stderr: '' });
  const driver = new IpsetsDriver(run, batch, { restore: () => {}, membersWritten: () => {} }, log);
  const holdNext = () => (hold = new Promise<void>((r) => (release = () => ((hold = undefined), r()))));
  return { driver, batches, holdNext, release: () => release() };
}

describe('ipsets driver', () => {
  const save = ['create cali40s:a hash:ip family inet hashsize 1024 maxelem 1048576', 'add cali40s:a 198.19.0.1', 'add cali40s:a 198.19.0.2', ''].join('\n');

  it('writes only the members that changed, and nothing when the kernel already agrees', async () => {
    const { driver, batches } = fakeIpsets(save);
    driver.setIpset('cali40s:a', 'hash:ip', 'inet', ['198.19.0.1', '198.19.0.2']);
    await driver.applyUpdates();
    expect(batches).toEqual([]);
    driver.addMember('cali40s:a', '198.19.0.3');
    driver.removeMember('cali40s:a', '198.19.0.1');
    driver.addMember('cali40s:a', '198.19.0.4');
    driver.removeMember('cali40s:a', '198.19.0.4'); // added and taken back before the write: nothing to do
    await driver.applyUpdates();
    expect(batches).toEqual([['add cali40s:a 198.19.0.3', 'del cali40s:a 198.19.0.1']]);
    await driver.applyUpdates();
    expect(batches.length).toBe(1);
    expect(driver.pending).toBe(false);
  });

  it('a member that changes while a write is in flight is written by the next apply', async () => {
    const { driver, batches, holdNext, release } = fakeIpsets(save);
    driver.setIpset('cali40s:a', 'hash:ip', 'inet', ['198.19.0.1', '198.19.0.2']);
    await driver.applyUpdates();
    driver.addMember('cali40s:a', '198.19.0.3');
    holdNext();
    const first = driver.applyUpdates();
    driver.addMember('cali40s:a', '198.19.0.5');
    driver.removeMember('cali40s:a', '198.19.0.2');
    release();
    await first;
    expect(driver.pending).toBe(true);
    await driver.applyUpdates();
    expect(batches).toEqual([['add cali40s:a 198.19.0.3'], ['add cali40s:a 198.19.0.5', 'del cali40s:a 198.19.0.2']]);
  });
});

describe('route table', () => {
  it('a route that changes while its write is in flight is written again by the next apply', async () => {
    const batches: string[][] = [];
    let release = () => {};
    let hold: Promise<void> | undefined;
    const batch = {
      run: async (lines: string[]) => {
        batches.push(lines);
        await hold;
        return { failed: new Set<number>(), output: '' };
      },
    } as unknown as IpBatch;
    const run = async () => ({ code: 0, stdout: '[]', stderr: '' });
    const routes = new RouteTable(run, batch, { batch: () => {}, routesWritten: () => {} }, log, false);
    routes.setRoute('198.19.0.1/32', 'cali1');
    routes.setRoute('198.19.0.2/32', 'cali2');
    hold = new Promise<void>((r) => (release = r));
    const first = routes.apply();
    await new Promise((r) => setTimeout(r, 10));
    routes.setRoute('198.19.0.1/32', 'cali9'); // moved to another interface meanwhile
    routes.removeRoute('198.19.0.2/32'); // and this one gone
    release();
    hold = undefined;
    await first;
    await routes.apply();
    expect(batches).toEqual([
      ['route replace 198.19.0.1/32 dev cali1 scope link proto 80', 'route replace 198.19.0.2/32 dev cali2 scope link proto 80'],
      ['route replace 198.19.0.1/32 dev cali9 scope link proto 80', 'route del 198.19.0.2/32 proto 80'],
    ]);
    await routes.apply();
    expect(batches.length).toBe(2);
  });
});

describe('spawner (programs started by the helper process)', () => {
  const spawner = new Spawner();
  const run = helperRunner(spawner, 10_000);
  afterAll(() => spawner.close());

  it('streams thousands of small input chunks to the program in order, and its output back', async () => {
    const chunks = Array.from({ length: 20_000 }, (_, i) => `line ${i}\n`);
    const res = await run(['sh', '-c', 'cat'], chunks);
    expect(res.stdout).toBe(chunks.join(''));
    const lines: string[] = [];
    await run(['sh', '-c', 'cat; printf tail'], 'a\nb\n', false, (l) => lines.push(l));
    expect(lines).toEqual(['a', 'b', 'tail']);
  });

  it('reports exit codes and stderr, runs programs side by side, and names a program that cannot start', async () => {
    const failing = ['sh', '-c', 'cat >/dev/null; echo oops >&2; exit 3'];
    expect(await run(failing, 'x\n', true)).toEqual({ code: 3, stdout: '', stderr: 'oops\n' });
    await expect(run(failing, 'x\n')).rejects.toThrow(/oops/);
    // Each side of a FIFO waits for the other to open it: this finishes only if both run at once.
    const dir = mkdtempSync(join(tmpdir(), 'fx-spawn-'));
    try {
      await run(['mkfifo', join(dir, 'f')]);
      const [reader] = await Promise.all([run(['sh', '-c', 'cat "$0"', join(dir, 'f')]), run(['sh', '-c', 'echo hi > "$0"', join(dir, 'f')])]);
      expect(reader.stdout).toBe('hi\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    await expect(run(['calico-no-such-program'])).rejects.toThrow(/cannot run calico-no-such-program/);
  });

  it('kills a program that overruns its time', async () => {
    const quick = helperRunner(spawner, 200);
    const res = await quick(['sleep', '30'], undefined, true);
    expect(res.code).toBe(128);
  });

  it('keeps long-running tools talking (ip -batch through the helper)', async () => {
    const ip = new IpBatch(spawner);
    try {
      const first = await ip.run(['route show table main', 'link show dev calinosuch0']);
      expect([...first.failed]).toEqual([1]);
      const second = await ip.run(['link show lo']);
      expect(second.failed.size).toBe(0);
    } finally {
      ip.close();
    }
  });

  it('writes small --noflush restores to one long-running restore per command line, which a failure or another restore replaces', async () => {
    // A stand-in for iptables-nft-restore: logs "<pid> <line>" for each line it reads, answers
    // the marker's `-S OUTPUT` with a listing (policy first), and exits on a line FAIL the way
    // iptables-restore does, numbering lines from its own start.
    const dir = mkdtempSync(join(tmpdir(), 'fx-restore-'));
    const tool = join(dir, 'fake-restore');
    const log = join(dir, 'log');
    writeFileSync(
      tool,
      `#!/bin/sh\nn=0\nwhile IFS= read -r l; do\n  n=$((n+1))\n  echo "$$ $l" >> ${log}\n  case "$l" in\n` +
        `    FAIL) echo "fake-restore: line $n failed: bad"; exit 1;;\n` +
        `    "-S OUTPUT") echo "-P OUTPUT ACCEPT"; echo "-A OUTPUT -j cali-OUTPUT";;\n` +
        `  esac\ndone\n`,
      { mode: 0o755 },
    );
    const pids = () => new Set(readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]));
    const r = new RestoreSessions(spawner, run);
    try {
      const input = "*filter\n-A x -m comment --comment \"cali:a'b$HOME`id`\" -j ACCEPT\nCOMMIT\n";
      expect(await r.run([tool, '--noflush'], input)).toEqual({ code: 0, stdout: '', stderr: '' });
      await r.run([tool, '--noflush'], ['*filter\n', 'COMMIT\n']);
      // (each answer comes once `-S OUTPUT` is read: the marker's COMMIT may be read after it)
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.slice(l.indexOf(' ') + 1));
      expect(lines.slice(0, 10)).toEqual([...input.trim().split('\n'), '*filter', '-S OUTPUT', 'COMMIT', '*filter', 'COMMIT', '*filter', '-S OUTPUT']);
      expect(pids().size).toBe(1); // both changes went to the same process
      // A failing block: the error names the line of this input (the session had read 11 before it).
      const failed = await r.run([tool, '--noflush'], '*filter\nFAIL\nCOMMIT\n', true);
      expect(failed.code).toBe(1);
      expect(failed.stderr).toMatch(/line 2 failed: bad/);
      // The next change gets a new process, and so does the one after it.
      await expect(r.run([tool, '--noflush'], 'FAIL\n')).rejects.toThrow(/line 1 failed/);
      await r.run([tool, '--noflush'], 'COMMIT\n');
      expect(pids().size).toBe(3);
      // A restore without --noflush (a whole load), or a big one, runs on its own and retires the sessions.
      await r.run([tool], 'COMMIT\n');
      await r.run([tool, '--noflush'], 'COMMIT\n');
      expect(pids().size).toBe(5);
      const big = Array.from({ length: 1500 }, (_, i) => `-A x ${i}\n`);
      expect((await r.run([tool, '--noflush'], big)).code).toBe(0);
      await r.run([tool, '--noflush'], 'COMMIT\n');
      expect(pids().size).toBe(7);
      // anything else goes to the other runner
      expect((await r.run(['echo', 'direct'])).stdout).toBe('direct\n');
    } finally {
      r.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops a connection to its socket that does not name a request in flight', async () => {
    const path = (spawner as unknown as { path: string }).path;
    const stranger = connect(path);
    stranger.on('error', () => {});
    stranger.write('0123456789abcdef0123456789abcdef\n');
    await new Promise<void>((res) => stranger.on('close', () => res()));
    expect((await run(['echo', 'still fine'])).stdout).toBe('still fine\n');
  });

  it('starts a new helper when the old one dies, failing only what was in flight', async () => {
    const s = new Spawner();
    const r = helperRunner(s, 10_000);
    try {
      expect((await r(['echo', 'one'])).stdout).toBe('one\n');
      const helper = (s as unknown as { helper: { pid: number } }).helper.pid;
      const inFlight = r(['sleep', '30']);
      await new Promise((res) => setTimeout(res, 200));
      process.kill(helper, 'SIGKILL');
      await expect(inFlight).rejects.toThrow(/helper exited/);
      expect((await r(['echo', 'two'])).stdout).toBe('two\n');
      expect((s as unknown as { helper: { pid: number } }).helper.pid).not.toBe(helper);
    } finally {
      s.close();
    }
    await expect(r(['echo', 'three'])).rejects.toThrow(/stopping/);
  });
});

describe('sysctls driver', () => {
  // A directory standing in for /proc/sys: `n` interfaces with proxy_arp 0, and keys for a missing one.
  function tree(n: number) {
    const root = mkdtempSync(join(tmpdir(), 'fx-sysctl-'));
    for (let i = 0; i < n; i++) {
      mkdirSync(join(root, `net/ipv4/conf/cali${i}`), { recursive: true });
      writeFileSync(join(root, `net/ipv4/conf/cali${i}/proxy_arp`), i % 2 ? '1\n' : '0\n');
    }
    let written = 0;
    return { root, sys: new Sysctls({ written: (k) => (written += k) }, root), written: () => written };
  }
  for (const n of [10, 1500]) {
    it(`writes only what differs, keeps a missing interface pending (${n} files: ${n >= 1000 ? 'worker thread' : 'inline'})`, async () => {
      const t = tree(n);
      try {
        for (let i = 0; i < n; i++) t.sys.set(`net/ipv4/conf/cali${i}/proxy_arp`, '1');
        t.sys.set('net/ipv4/conf/missing/proxy_arp', '1');
        expect(await t.sys.apply()).toBe(1);
        expect(t.written()).toBe(n / 2);
        expect(readFileSync(join(t.root, 'net/ipv4/conf/cali0/proxy_arp'), 'utf8')).toBe('1');
        expect(t.sys.pending).toBe(true); // the missing one, retried next time
        expect(await t.sys.apply()).toBe(1);
        expect(t.written()).toBe(n / 2);
      } finally {
        rmSync(t.root, { recursive: true, force: true });
      }
    });
  }
});

describe('sysctls read back through ip netconf', () => {
  it('parses the dump into sysctl keys and values', () => {
    const out = [
      'inet cali1 forwarding off rp_filter strict mc_forwarding off proxy_neigh on ignore_routes_with_linkdown off ',
      'inet6 cali1 forwarding on mc_forwarding off proxy_neigh off ignore_routes_with_linkdown off ',
      'inet eth0 forwarding on rp_filter loose mc_forwarding off proxy_neigh off',
      '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536',
    ].join('\n');
    expect(Object.fromEntries(parseNetconf(out))).toEqual({
      'net/ipv4/conf/cali1/forwarding': '0',
      'net/ipv4/conf/cali1/rp_filter': '1',
      'net/ipv4/conf/cali1/proxy_arp': '1',
      'net/ipv6/conf/cali1/forwarding': '1',
      'net/ipv6/conf/cali1/proxy_ndp': '0',
      'net/ipv4/conf/eth0/forwarding': '1',
      'net/ipv4/conf/eth0/rp_filter': '2',
      'net/ipv4/conf/eth0/proxy_arp': '0',
    });
  });

  it('a large pass takes the values the dump shows instead of reading those files (worker thread)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fx-sysctl-'));
    try {
      const n = 1200;
      const dump: string[] = [];
      for (let i = 0; i < n; i++) {
        mkdirSync(join(root, `net/ipv4/conf/cali${i}`), { recursive: true });
        mkdirSync(join(root, `net/ipv4/neigh/cali${i}`), { recursive: true });
        // The files say the opposite of the dump: what gets written shows which was believed.
        writeFileSync(join(root, `net/ipv4/conf/cali${i}/proxy_arp`), i % 2 ? '0' : '1');
        writeFileSync(join(root, `net/ipv4/neigh/cali${i}/proxy_delay`), '80'); // not in netconf: read
        dump.push(`inet cali${i} forwarding off rp_filter off mc_forwarding off proxy_neigh ${i % 2 ? 'on' : 'off'}`);
      }
      writeFileSync(join(root, 'netconf'), dump.join('\n'));
      let written = 0;
      const sys = new Sysctls({ written: (k) => (written += k) }, root, async () => readFileSync(join(root, 'netconf'), 'utf8'));
      for (let i = 0; i < n; i++) (sys.set(`net/ipv4/conf/cali${i}/proxy_arp`, '1'), sys.set(`net/ipv4/neigh/cali${i}/proxy_delay`, '0'));
      expect(await sys.apply()).toBe(0);
      expect(written).toBe(n / 2 + n);
      expect(readFileSync(join(root, 'net/ipv4/conf/cali0/proxy_arp'), 'utf8')).toBe('1'); // the dump said off: written
      expect(readFileSync(join(root, 'net/ipv4/conf/cali1/proxy_arp'), 'utf8')).toBe('0'); // the dump said on: left
      expect(readFileSync(join(root, 'net/ipv4/neigh/cali1/proxy_delay'), 'utf8')).toBe('0');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('sysctls: host-wide settings before the dump', () => {
  it('writes conf/all and ip_forward first, and the dump taken after them spares the interfaces they already set', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fx-sysctl-'));
    try {
      const n = 1200;
      mkdirSync(join(root, 'net/ipv6/conf/all'), { recursive: true });
      mkdirSync(join(root, 'net/ipv4'), { recursive: true });
      writeFileSync(join(root, 'net/ipv6/conf/all/forwarding'), '0');
      writeFileSync(join(root, 'net/ipv4/ip_forward'), '0');
      for (let i = 0; i < n; i++) {
        mkdirSync(join(root, `net/ipv6/conf/cali${i}`), { recursive: true });
        writeFileSync(join(root, `net/ipv6/conf/cali${i}/forwarding`), '0');
      }
      // Stands in for the kernel: the dump shows each interface forwarding once conf/all/forwarding is 1.
      const netconf = async () => {
        const all = readFileSync(join(root, 'net/ipv6/conf/all/forwarding'), 'utf8');
        return Array.from({ length: n }, (_, i) => `inet6 cali${i} forwarding ${all === '1' ? 'on' : 'off'} mc_forwarding off proxy_neigh off`).join('\n');
      };
      let written = 0;
      const sys = new Sysctls({ written: (k) => (written += k) }, root, netconf);
      sys.set('net/ipv4/ip_forward', '1');
      sys.set('net/ipv6/conf/all/forwarding', '1');
      for (let i = 0; i < n; i++) sys.set(`net/ipv6/conf/cali${i}/forwarding`, '1');
      expect(await sys.apply()).toBe(0);
      expect(written).toBe(2); // the per-interface files, still 0 here, were not written: the dump said on
      expect(readFileSync(join(root, 'net/ipv6/conf/all/forwarding'), 'utf8')).toBe('1');
      expect(readFileSync(join(root, 'net/ipv4/ip_forward'), 'utf8')).toBe('1');
      expect(sys.pending).toBe(false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('link events', () => {
  it('parses ip -o monitor link lines', () => {
    expect(parseLinkEvent('3: cali1234@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \\    link/ether 66:67:e2:fa:46:1a')).toEqual({ ifname: 'cali1234', index: 3, gone: false });
    expect(parseLinkEvent('Deleted 12: caliA@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN')).toEqual({ ifname: 'caliA', index: 12, gone: true });
    expect(parseLinkEvent('7: eth0: <BROADCAST> mtu 1500')).toEqual({ ifname: 'eth0', index: 7, gone: false });
    expect(parseLinkEvent('    link/ether 66:67:e2:fa:46:1a')).toBeUndefined();
  });
});

describe('config', () => {
  it('layers env > node > default > built-in, and names a bad env value', () => {
    const cfg = resolveConfig({
      env: { FELIX_DEFAULTENDPOINTTOHOSTACTION: 'accept' },
      node: { iptablesRefreshInterval: '30s', defaultEndpointToHostAction: 'Return' },
      global: { iptablesRefreshInterval: '1m', routeRefreshInterval: '1m30s', logPrefix: 'x' },
    });
    expect(cfg.defaultEndpointToHostAction).toBe('Accept');
    expect(cfg.iptablesRefreshInterval).toBe(30_000);
    expect(cfg.routeRefreshInterval).toBe(90_000);
    expect(cfg.logPrefix).toBe('x');
    expect(cfg.iptablesMarkMask).toBe(0xffff0000);
    expect(() => resolveConfig({ env: { FELIX_HEALTHPORT: 'abc' } })).toThrow(/FELIX_HEALTHPORT/);
    const bad: string[] = [];
    resolveConfig({ env: {}, global: { ipv6Support: 'maybe' } }, (e) => bad.push(e.field));
    expect(bad).toEqual(['FelixConfiguration(default).spec.ipv6Support']);
  });
});

describe('managers (recording desired state, no kernel)', () => {
  /** Desired state as the managers leave it: chains per family, sets with their members. */
  function recorder() {
    const table = () => {
      const chains = new Map<string, string[]>();
      return { chains, setChain: (n: string, rules: { match: string; action: string }[]) => chains.set(n, rules.map((r) => `${r.match} ${r.action}`)), removeChain: (n: string) => chains.delete(n) };
    };
    const sets = new Map<string, Set<string>>();
    const ipsets = {
      setIpset: (n: string, _t: string, _f: string, m: Iterable<string>) => sets.set(n, new Set(m)),
      addMember: (n: string, m: string) => sets.get(n)?.add(m),
      removeMember: (n: string, m: string) => sets.get(n)?.delete(m),
      removeIpset: (n: string) => sets.delete(n),
    };
    const nothing = { setRoute() {}, removeRoute() {}, forget() {}, set() {}, remove() {} };
    const out = { versions: [4, 6], filter: { 4: table(), 6: table() }, nat: { 4: table(), 6: table() }, raw: { 4: table(), 6: table() }, ipsets, routes: nothing, sysctls: nothing };
    return { out: out as unknown as DesiredState, filter: out.filter, sets };
  }
  const ep = (i: number, app: string): Endpoint => ({
    key: `k${i}`, namespace: 'default', name: `w${i}`, node: 'n', ifname: `cali${((i * 7919) % 100003).toString(16).padStart(11, '0')}`,
    ipv4: [`198.19.${i >> 8}.${i & 255}`], ipv6: [`fd00:19::${i.toString(16)}`], nets: [], profiles: ['p'], labels: { app },
  });

  it('endpoints programmed in any order, some removed, give the dispatch chains of their sorted names', () => {
    const r = recorder();
    const eps = Array.from({ length: 300 }, (_, i) => ep(i, 'a'));
    const endpoints = () => eps.map((e) => [e, e.labels] as [Endpoint, Record<string, string>]);
    const pm = new PolicyManager(r.out, new IpsetManager(r.out, new Matchers(), endpoints), log, marks, 'calico-packet');
    const em = new EndpointManager(r.out, pm, marks);
    const profile = (): Profile => ({ name: 'p', labels: {} });
    const expectDispatch = (ifnames: string[]) => {
      const want = new DispatchTree('cali-from-wl-dispatch', '-i', (i) => `cali-fw-${i}`).chains([...ifnames].sort());
      for (const v of [4, 6] as const) {
        expect([...r.filter[v].chains.keys()].filter((n) => n.startsWith('cali-from-wl-dispatch')).sort()).toEqual(want.map((c) => c.name).sort());
        for (const c of want) expect(r.filter[v].chains.get(c.name)).toEqual(c.rules.map((x) => `${x.match} ${x.action}`));
      }
    };
    for (const e of eps) em.update(e, [], [], profile); // ifnames in no particular order
    em.finish();
    expectDispatch(eps.map((e) => e.ifname));
    for (const e of eps.slice(0, 100)) em.remove(e.key);
    em.update(ep(1000, 'a'), [], [], profile);
    em.finish();
    expectDispatch([...eps.slice(100), ep(1000, 'a')].map((e) => e.ifname));
  });

  it("a selector's IPv6 set has the same endpoints as its IPv4 set, and both follow label changes", () => {
    const r = recorder();
    const eps = Array.from({ length: 50 }, (_, i) => ep(i, i % 3 ? 'web' : 'db'));
    const labels = new Map(eps.map((e) => [e.key, e.labels]));
    const endpoints = () => eps.map((e) => [e, labels.get(e.key)!] as [Endpoint, Record<string, string>]);
    const im = new IpsetManager(r.out, new Matchers(), endpoints);
    const v4 = { kind: 'selector', id: ipsetName(4, 's:x'), version: 4, selector: "app == 'db'" } as SetRef;
    const v6 = { ...v4, id: ipsetName(6, 's:x'), version: 6 } as SetRef;
    im.retain(v4);
    im.retain(v6);
    expect(r.sets.has(v4.id)).toBe(false); // filled at the end of the pass
    im.finish();
    const db = eps.filter((e) => e.labels.app === 'db');
    expect(r.sets.get(v4.id)).toEqual(new Set(db.flatMap((e) => e.ipv4)));
    expect(r.sets.get(v6.id)).toEqual(new Set(db.flatMap((e) => e.ipv6)));
    labels.set(eps[1]!.key, { app: 'db' });
    im.onEndpoint(eps[1]!.key, eps[1], eps[1], { app: 'db' });
    expect(r.sets.get(v6.id)!.has(eps[1]!.ipv6[0]!)).toBe(true);
    im.release(v4.id);
    im.retain({ ...v4 });
    im.finish(); // built from the IPv6 set's members now
    expect(r.sets.get(v4.id)).toEqual(new Set([...db, eps[1]!].flatMap((e) => e.ipv4)));
    // retained and released within one pass: never declared
    const other = { ...v4, id: ipsetName(4, 's:y'), selector: "app == 'web'" } as SetRef;
    im.retain(other);
    im.release(other.id);
    im.finish();
    expect(r.sets.has(other.id)).toBe(false);
  });
});
