import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBirdConfig, OUTPUT_FILES, readInput, Renderer } from '@calico/confd';
import { run } from '@calico/libcalico';
import { FIXTURES_DIR, GOLDEN_DIR, TEMPLATES_DIR, fixtureKvs, loadFixture } from './helpers.js';

/**
 * Golden files: each fixture (Calico resources + IPAM affinities) rendered with
 * the repository's templates must equal test/golden/<fixture>/bird{,6}.cfg,
 * and every golden must be accepted by the real `bird -p -c` / `bird6 -p -c`.
 * UPDATE_GOLDEN=1 rewrites the goldens from the current templates.
 */
const update = process.env.UPDATE_GOLDEN === '1';
const fixtures = readdirSync(FIXTURES_DIR)
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.slice(0, -5));
const CHECK = { 4: 'bird', 6: 'bird6' } as const;
const scratch = mkdtempSync(join(tmpdir(), 'confd-golden-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe.each(fixtures)('fixture %s', (name) => {
  const fixture = loadFixture(name);
  const invalid: string[] = [];
  const input = readInput(fixtureKvs(fixture), fixture.node, (key, err) => invalid.push(`${key}: ${err.message}`));
  const renderer = new Renderer(TEMPLATES_DIR);

  it('decodes every record', () => {
    expect(invalid).toEqual([]);
  });

  describe.each([4, 6] as const)('IPv%i', (family) => {
    const rendered = renderer.render(buildBirdConfig(input, family));
    const golden = join(GOLDEN_DIR, name, OUTPUT_FILES[family]);

    it('matches the golden file', () => {
      if (update || !existsSync(golden)) {
        if (!update) throw new Error(`${golden} is missing: run with UPDATE_GOLDEN=1 to create it`);
        mkdirSync(join(GOLDEN_DIR, name), { recursive: true });
        writeFileSync(golden, rendered);
      }
      expect(rendered).toBe(readFileSync(golden, 'utf8'));
    });

    it(`is accepted by ${CHECK[family]} -p -c`, async () => {
      const file = join(scratch, `${name}-${OUTPUT_FILES[family]}`);
      writeFileSync(file, rendered);
      const res = await run([CHECK[family], '-p', '-c', file], { allowFail: true });
      expect(res.stderr + res.stdout).toBe('');
      expect(res.code).toBe(0);
    });

    it('renders the same text twice (no timestamps: unchanged data never reloads BIRD)', () => {
      expect(new Renderer(TEMPLATES_DIR).render(buildBirdConfig(input, family))).toBe(rendered);
    });
  });
});
