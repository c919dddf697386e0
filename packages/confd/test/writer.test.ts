import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigRejected, ConfigWriter, reloadError } from '@calico/confd';

/**
 * The stage → `bird -p -c` → rename → reload contract, with the real bird
 * parser. The reload commands are stand-ins printing BIRD's replies (the
 * integration test reloads a real BIRD).
 */
const dir = mkdtempSync(join(tmpdir(), 'confd-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = 'router id 198.18.0.1;\nprotocol device { scan time 2; }\n';
const GOOD2 = 'router id 198.18.0.2;\nprotocol device { scan time 2; }\n';
const BAD = 'router id 198.18.0.1;\nprotocol device { scan tme 2; }\n';
const reply = (text: string) => ['printf', '%s', text];
const dest = join(dir, 'bird.cfg');
const onlyDest = () => expect(readdirSync(dir)).toEqual(['bird.cfg']);

describe('ConfigWriter', () => {
  it('writes a new config and reloads; the same content again does nothing', async () => {
    const w = new ConfigWriter({ dest, check: ['bird', '-p', '-c'], reload: reply('0001 BIRD 1.6.8 ready.\n0002-Reading configuration from x\n0003 Reconfigured\n') });
    expect(await w.apply(GOOD)).toBe('reloaded');
    expect(readFileSync(dest, 'utf8')).toBe(GOOD);
    // a reload that would fail proves no reload happens for unchanged content
    const never = new ConfigWriter({ dest, check: ['false'], reload: ['false'] });
    expect(await never.apply(GOOD)).toBe('unchanged');
    onlyDest();
  });

  it('a config bird -p rejects never replaces the live file; the error carries BIRD\'s message and the line', async () => {
    const w = new ConfigWriter({ dest, check: ['bird', '-p', '-c'], reload: ['false'] });
    const err = await w.apply(BAD).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigRejected);
    expect((err as ConfigRejected).stage).toBe('check');
    expect((err as ConfigRejected).detail).toMatch(/:2:\d+ syntax error/);
    expect((err as ConfigRejected).line).toContain('scan tme 2');
    expect(readFileSync(dest, 'utf8')).toBe(GOOD);
    onlyDest();
  });

  it('a reload BIRD refuses puts the previous file back, so the next change retries', async () => {
    const w = new ConfigWriter({ dest, check: ['bird', '-p', '-c'], reload: reply('0001 BIRD 1.6.8 ready.\n8002 bird.cfg:1:1 something broke\n') });
    const err = await w.apply(GOOD2).catch((e: unknown) => e);
    expect((err as ConfigRejected).stage).toBe('reload');
    expect((err as ConfigRejected).detail).toContain('something broke');
    expect(readFileSync(dest, 'utf8')).toBe(GOOD);
    onlyDest();
  });

  it('BIRD not running yet: the file is written for BIRD to read at start', async () => {
    const w = new ConfigWriter({ dest, check: ['bird', '-p', '-c'], reload: ['birdc', '-s', join(dir, 'nothing.ctl'), 'configure'] });
    expect(await w.apply(GOOD2)).toBe('written');
    expect(readFileSync(dest, 'utf8')).toBe(GOOD2);
  });

  it('--no-reload (reload: null) writes without touching BIRD', async () => {
    const w = new ConfigWriter({ dest, check: ['bird', '-p', '-c'], reload: null });
    expect(await w.apply(GOOD)).toBe('written');
    expect(readFileSync(dest, 'utf8')).toBe(GOOD);
  });

  it('no control socket: the reload is not even tried (a reload that would fail proves it)', async () => {
    const w = new ConfigWriter({ dest, check: ['bird', '-p', '-c'], reload: ['false'], socket: join(dir, 'nothing.ctl') });
    expect(await w.apply(GOOD2)).toBe('written');
    expect(readFileSync(dest, 'utf8')).toBe(GOOD2);
  });

  it('reads birdc -v reply codes', () => {
    expect(reloadError('0001 BIRD ready.\n0002-Reading configuration from f\n0004 Reconfiguration in progress\n')).toBeUndefined();
    expect(reloadError('0001 BIRD ready.\n0005 Reconfiguration already in progress, queueing new config\n')).toBeUndefined();
    expect(reloadError('0001 BIRD ready.\n0002-Reading configuration from f\n8002 f:2:1 syntax error\n')).toBe('f:2:1 syntax error');
  });
});
