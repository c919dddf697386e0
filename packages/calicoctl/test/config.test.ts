// `calicoctl config get|set|unset NAME [VALUE] [--node N]` against a private etcd.
import { describe, expect, it } from 'vitest';
import { snapshot, withEtcdCtl } from './ctl-helper.js';

const t = withEtcdCtl();

describe('config', () => {
  it('reads defaults, sets global and per-node Felix settings, unsets them', async () => {
    expect(await t.c.ok(['config', 'get', 'logLevel'])).toBe('Info\n');
    expect(await t.c.ok(['config', 'set', 'logLevel', 'debug'])).toBe('Set logLevel = Debug (FelixConfiguration default)\n');
    expect((await t.c.getObj(['felixconfig', 'default'])).spec).toEqual({ logSeverityScreen: 'Debug' });

    await t.c.ok(['config', 'set', 'LogSeverityScreen', 'warning', '--node', 'host1']);
    expect((await t.c.getObj(['felixconfig', 'node.host1'])).spec).toEqual({ logSeverityScreen: 'Warning' });
    expect(await t.c.ok(['config', 'get', 'loglevel', '--node', 'host1'])).toBe('Warning\n');
    expect(await t.c.ok(['config', 'get', 'loglevel', '--node', 'host2'])).toBe('Debug\n');
    expect(await t.c.ok(['config', 'get', 'logLevel'])).toBe('Debug\n');

    const list = await t.c.ok(['config', 'get', '--node', 'host1']);
    expect(list).toMatch(/^NAME\s+VALUE\s+FROM\s+FIELD\n/);
    expect(list).toMatch(/logLevel\s+Warning\s+node\.host1\s+FelixConfiguration\.logSeverityScreen/);
    expect(list).toMatch(/asNumber\s+64512\s+\(built-in\)\s+BGPConfiguration\.asNumber/);

    await t.c.ok(['config', 'unset', 'logLevel', '--node', 'host1']);
    expect(await t.c.ok(['config', 'get', 'logLevel', '--node', 'host1'])).toBe('Debug\n');

    await t.c.ok(['config', 'set', 'ipipEnabled', 'true']);
    await t.c.ok(['config', 'set', 'iptablesRefreshInterval', '30s']);
    expect((await t.c.getObj(['felixconfig', 'default'])).spec).toMatchObject({ ipipEnabled: true, iptablesRefreshInterval: '30s' });
  });

  it('maps BGP names to BGPConfiguration default', async () => {
    expect(await t.c.ok(['config', 'get', 'nodeToNodeMesh'])).toBe('on\n');
    await t.c.ok(['config', 'set', 'nodeToNodeMesh', 'off']);
    await t.c.ok(['config', 'set', 'asNumber', '64600']);
    expect((await t.c.getObj(['bgpconfig', 'default'])).spec).toEqual({ asNumber: 64600, nodeToNodeMeshEnabled: false, logSeverityScreen: 'Info' });
    expect(await t.c.ok(['bgp', 'node-mesh'])).toBe('off\n');
    await t.c.ok(['config', 'set', 'bgpLogLevel', 'Error', '--node', 'host1']);
    expect((await t.c.getObj(['bgpconfig', 'node.host1'])).spec).toEqual({ logSeverityScreen: 'Error' });
  });

  it('rejects unknown names, bad values and per-node global settings, writing nothing', async () => {
    const before = await snapshot(t.etcd.endpoint);
    expect(await t.c.fails(['config', 'set', 'colour', 'blue'])).toMatch(/unknown config name "colour"; known: logLevel, /);
    expect(await t.c.fails(['config', 'set', 'logLevel', 'loud'])).toMatch(/logLevel: "loud": must be one of Debug, Info, Warning, Error, Fatal/);
    expect(await t.c.fails(['config', 'set', 'asNumber', '64600', '--node', 'host1'])).toMatch(/asNumber is a global setting/);
    expect(await t.c.fails(['config', 'set', 'ipipEnabled', 'maybe'])).toMatch(/must be true or false/);
    expect(await t.c.fails(['config', 'set', 'routeRefreshInterval', 'soon'])).toMatch(/routeRefreshInterval: "soon"/);
    expect(await t.c.fails(['config', 'set', 'listenPort', '70000'])).toMatch(/listenPort/);
    expect(await snapshot(t.etcd.endpoint)).toEqual(before);
  });
});
