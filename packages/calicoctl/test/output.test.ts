// Pure tests of the output helpers: the borderless table layout and the YAML
// writer, whose output must read back (with the yaml package) as the same data.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatTable, parseOutputFormat, toYaml } from '@calico/calicoctl/output';

describe('formatTable', () => {
  it('pads columns like Go tabwriter (min width 5, padding 3) and trims line ends', () => {
    expect(formatTable(['name', 'cidr'], [['a', '198.18.0.0/24'], ['longer-name', '']])).toBe(
      'NAME          CIDR\na             198.18.0.0/24\nlonger-name\n',
    );
  });
});

describe('parseOutputFormat', () => {
  it('accepts ps, wide, yaml, yml, json and names anything else', () => {
    expect(['ps', 'wide', 'yaml', 'yml', 'JSON', undefined].map((f) => parseOutputFormat(f))).toEqual(['ps', 'wide', 'yaml', 'yaml', 'json', 'ps']);
    expect(() => parseOutputFormat('xml')).toThrow("unrecognized output format 'xml'");
  });
});

describe('toYaml', () => {
  const tricky = {
    plain: ['web', 'has(web)', '198.18.0.0/16', 'projectcalico.org/v3', 'a-b_c.d'],
    quoted: ['', '10', '1.5', '-1', '.5', '1e5', '0x1f', '1_000', '2020-01-01', 'true', 'No', 'null', '~', 'y', 'on', "role == 'db'", 'a: b', 'a #b', ' lead', 'trail ', 'fd00::/64', '1000:2000', 'a\nb', '"q"', 'ünï', '-x', '*ref', '&anchor', '!tag', '@at', '`bt`', '%pct', '[x]', '{x}', ',x', '|x', '>x'],
  };
  it('reads back as the same data, for every kind of string', () => {
    const data = {
      ...tricky,
      keys: Object.fromEntries([...tricky.plain, ...tricky.quoted].map((k, i) => [k, i])),
      numbers: [0, -3, 2.5, 4294967295],
      flags: [true, false, null],
      empty: { o: {}, a: [] },
      nested: [[1, [2, []]], { a: [{ b: [{ c: { d: 'e' } }] }] }],
    };
    expect(parse(toYaml(data))).toEqual(data);
  });
  it('writes plain scalars where they cannot be misread, and the calicoctl layout', () => {
    const y = toYaml({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p', resourceVersion: '12' }, spec: { cidr: '198.18.0.0/24', blockSize: 26, natOutgoing: false, list: [{ a: 1, b: 'x' }] } });
    expect(y).toBe(
      'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p\n  resourceVersion: "12"\nspec:\n  cidr: 198.18.0.0/24\n  blockSize: 26\n  natOutgoing: false\n  list:\n    - a: 1\n      b: x\n',
    );
  });
});
