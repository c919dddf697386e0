import { describe, expect, it } from 'vitest';
import {
  NAMESPACE_LABEL,
  ValidationError,
  canonicalSelector,
  evaluateSelector,
  parseSelector,
  parseSelectorCached,
  selectorMatches,
  selectorToString,
  type Labels,
} from '@calico/libcalico';

const matches = (sel: string, labels: Labels): boolean => evaluateSelector(parseSelector(sel), labels);

function errorAt(sel: string): { reason: string; pos: number } {
  try {
    parseSelector(sel);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    const v = e as ValidationError;
    expect(v.field).toBe('selector');
    const m = / at position (\d+)$/.exec(v.reason);
    expect(m, v.reason).not.toBeNull();
    return { reason: v.reason, pos: Number(m![1]) };
  }
  throw new Error(`expected ${JSON.stringify(sel)} to be rejected`);
}

describe('selector parsing', () => {
  it('parses each operator into the AST', () => {
    expect(parseSelector("a == 'x'")).toEqual({ op: '==', key: 'a', value: 'x' });
    expect(parseSelector('a != "x"')).toEqual({ op: '!=', key: 'a', value: 'x' });
    expect(parseSelector('has(a)')).toEqual({ op: 'has', key: 'a' });
    expect(parseSelector('!has(a)')).toEqual({ op: 'not', expr: { op: 'has', key: 'a' } });
    expect(parseSelector("a in {'x', \"y\"}")).toEqual({ op: 'in', key: 'a', values: ['x', 'y'] });
    expect(parseSelector("a not in {'x'}")).toEqual({ op: 'not in', key: 'a', values: ['x'] });
    expect(parseSelector('a in {}')).toEqual({ op: 'in', key: 'a', values: [] });
    expect(parseSelector('all()')).toEqual({ op: 'all' });
    expect(parseSelector('global()')).toEqual({ op: 'global' });
    expect(parseSelector('')).toEqual({ op: 'all' });
    expect(parseSelector('   ')).toEqual({ op: 'all' });
  });

  it('gives ! over && over || precedence, and parentheses override it', () => {
    expect(parseSelector('has(a) || has(b) && has(c)')).toEqual({
      op: 'or',
      exprs: [{ op: 'has', key: 'a' }, { op: 'and', exprs: [{ op: 'has', key: 'b' }, { op: 'has', key: 'c' }] }],
    });
    expect(parseSelector('(has(a) || has(b)) && has(c)')).toEqual({
      op: 'and',
      exprs: [{ op: 'or', exprs: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] }, { op: 'has', key: 'c' }],
    });
    expect(parseSelector('!has(a) && has(b)')).toEqual({
      op: 'and',
      exprs: [{ op: 'not', expr: { op: 'has', key: 'a' } }, { op: 'has', key: 'b' }],
    });
    expect(parseSelector('!(has(a) && has(b))')).toEqual({
      op: 'not',
      expr: { op: 'and', exprs: [{ op: 'has', key: 'a' }, { op: 'has', key: 'b' }] },
    });
    expect(parseSelector('!!has(a)')).toEqual({ op: 'not', expr: { op: 'not', expr: { op: 'has', key: 'a' } } });
    expect(parseSelector('has(a)&&has(b)&&has(c)')).toEqual({ op: 'and', exprs: ['a', 'b', 'c'].map((key) => ({ op: 'has', key })) });
  });

  it('accepts Kubernetes-style label keys and arbitrary quoted values', () => {
    expect(parseSelector("projectcalico.org/namespace == 'prod'")).toEqual({ op: '==', key: 'projectcalico.org/namespace', value: 'prod' });
    expect(parseSelector('has(example.com/my-key_1.x)')).toEqual({ op: 'has', key: 'example.com/my-key_1.x' });
    expect(parseSelector(`a == "it's"`)).toEqual({ op: '==', key: 'a', value: "it's" });
    expect(parseSelector(`a == 'say "hi"'`)).toEqual({ op: '==', key: 'a', value: 'say "hi"' });
    expect(parseSelector("a == ''")).toEqual({ op: '==', key: 'a', value: '' });
    expect(parseSelector("a == 'x && y || (z)'")).toEqual({ op: '==', key: 'a', value: 'x && y || (z)' });
    // words that are functions or operators elsewhere are plain keys here
    expect(parseSelector("has == 'x'")).toEqual({ op: '==', key: 'has', value: 'x' });
    expect(parseSelector("in in {'x'}")).toEqual({ op: 'in', key: 'in', values: ['x'] });
    expect(parseSelector('has(all)')).toEqual({ op: 'has', key: 'all' });
  });

  it('ignores whitespace around tokens', () => {
    expect(parseSelector("\ta==  'x'\n&&\thas( b )")).toEqual(parseSelector("a == 'x' && has(b)"));
    expect(parseSelector("a in{'x','y'}")).toEqual(parseSelector("a in { 'x' , 'y' }"));
  });

  it('rejects malformed selectors with the 0-based position', () => {
    const cases: [string, number, string][] = [
      ["a = 'x'", 2, 'unexpected character "="'],
      ['a == x', 5, "unexpected 'x' (expected a quoted string)"],
      ["a == 'x", 5, 'unterminated string'],
      ['has(a', 5, 'end of selector'],
      ['has()', 4, "unexpected ')' (expected a label key)"],
      ['has(a) &&', 9, 'end of selector'],
      ['&& has(a)', 0, "unexpected '&&'"],
      ['has(a) has(b)', 7, "expected '&&', '||' or end of selector"],
      ["(a == 'x'", 9, "expected ')'"],
      ["a == 'x')", 8, "unexpected ')'"],
      ["a in 'x'", 5, "expected '{'"],
      ["a in {'x' 'y'}", 10, "expected ',' or '}'"],
      ["a in {'x',}", 10, 'expected a quoted string'],
      ["a not {'x'}", 6, "expected 'in'"],
      ['a', 1, "after label 'a'"],
      ['a ==', 4, 'end of selector'],
      ['foo()', 0, "unknown function 'foo'"],
      ['all(x)', 4, "expected ')'"],
      ["a == 'x' & has(b)", 9, 'unexpected character "&"'],
      ["a == 'x' | has(b)", 9, 'unexpected character "|"'],
      ['!', 1, 'end of selector'],
      ['()', 1, "unexpected ')'"],
      ["a @ 'x'", 2, 'unexpected character "@"'],
    ];
    for (const [sel, pos, reason] of cases) {
      const e = errorAt(sel);
      expect(e.pos, sel).toBe(pos);
      expect(e.reason, sel).toContain(reason);
    }
  });

  it('refuses a non-string', () => {
    expect(() => parseSelector(3 as unknown as string)).toThrow(ValidationError);
  });

  it('caches parses', () => {
    expect(parseSelectorCached("a == 'cached'")).toBe(parseSelectorCached("a == 'cached'"));
    expect(() => parseSelectorCached('a ==')).toThrow(/position 4/);
  });
});

describe('selector evaluation', () => {
  const web = { app: 'web', tier: 'front', 'example.com/env': 'prod' };

  it('==, != (true when absent), has, !has', () => {
    expect(matches("app == 'web'", web)).toBe(true);
    expect(matches("app == 'db'", web)).toBe(false);
    expect(matches("missing == ''", web)).toBe(false);
    expect(matches("missing == ''", { missing: '' })).toBe(true);
    expect(matches("app != 'db'", web)).toBe(true);
    expect(matches("app != 'web'", web)).toBe(false);
    expect(matches("missing != 'x'", web)).toBe(true);
    expect(matches('has(tier)', web)).toBe(true);
    expect(matches('has(missing)', web)).toBe(false);
    expect(matches('!has(missing)', web)).toBe(true);
    expect(matches("example.com/env == 'prod'", web)).toBe(true);
  });

  it('in and not in (true when absent)', () => {
    expect(matches("app in {'web', 'db'}", web)).toBe(true);
    expect(matches("app in {'db'}", web)).toBe(false);
    expect(matches("missing in {'x'}", web)).toBe(false);
    expect(matches('app in {}', web)).toBe(false);
    expect(matches("app not in {'db', 'cache'}", web)).toBe(true);
    expect(matches("app not in {'web'}", web)).toBe(false);
    expect(matches("missing not in {'x'}", web)).toBe(true);
  });

  it('all(), global(), empty selector', () => {
    expect(matches('all()', {})).toBe(true);
    expect(matches('', web)).toBe(true);
    expect(matches('global()', web)).toBe(true);
    expect(matches('global()', { [NAMESPACE_LABEL]: 'default' })).toBe(false);
    expect(matches('!all()', web)).toBe(false);
  });

  it('&&, ||, ! and precedence', () => {
    expect(matches("app == 'web' && tier == 'front'", web)).toBe(true);
    expect(matches("app == 'web' && tier == 'back'", web)).toBe(false);
    expect(matches("app == 'db' || tier == 'front'", web)).toBe(true);
    expect(matches("app == 'db' || tier == 'back'", web)).toBe(false);
    // || binds loosest: true || (false && false)
    expect(matches("has(app) || has(x) && has(y)", web)).toBe(true);
    expect(matches("(has(app) || has(x)) && has(y)", web)).toBe(false);
    expect(matches("!has(app) || has(tier)", web)).toBe(true);
    expect(matches("!(has(app) || has(x))", web)).toBe(false);
    expect(matches('!!has(app)', web)).toBe(true);
  });

  it('does not match inherited object properties', () => {
    expect(matches('has(toString)', {})).toBe(false);
    expect(matches("constructor != 'x'", {})).toBe(true);
  });

  it('selectorMatches parses and evaluates', () => {
    expect(selectorMatches('has(app)', web)).toBe(true);
  });
});

describe('canonical form', () => {
  it('prints each operator, quoting with double quotes unless the value has one', () => {
    expect(canonicalSelector("a=='x'")).toBe('a == "x"');
    expect(canonicalSelector("a!='x'")).toBe('a != "x"');
    expect(canonicalSelector(`a == 'say "hi"'`)).toBe(`a == 'say "hi"'`);
    expect(canonicalSelector('has( a )')).toBe('has(a)');
    expect(canonicalSelector('!has(a)')).toBe('!has(a)');
    expect(canonicalSelector("a in {'y','x','y'}")).toBe('a in {"x", "y"}');
    expect(canonicalSelector("a not in {'y','x'}")).toBe('a not in {"x", "y"}');
    expect(canonicalSelector('')).toBe('all()');
    expect(canonicalSelector('global()')).toBe('global()');
  });

  it('gives the same string for the same meaning', () => {
    const same = (...sels: string[]) => {
      const texts = new Set(sels.map(canonicalSelector));
      expect(texts.size, sels.join(' | ')).toBe(1);
    };
    same("a == 'x' && has(b)", "has(b) && a == 'x'", "(has(b)) && ((a == \"x\"))");
    same('has(a) || has(b) || has(c)', 'has(c) || (has(b) || has(a))');
    same('has(a) && has(b) && has(c)', '(has(c) && has(a)) && has(b)');
    same('has(a) && has(a)', 'has(a)');
    same("!(a == 'x')", "a != 'x'");
    same("!(a in {'x','y'})", "a not in {'y','x'}");
    same("a in {'x'}", "a == 'x'");
    same("a not in {'x'}", "a != 'x'");
    same('!!has(a)', 'has(a)');
    same('all() && has(a)', 'has(a)');
    same('all() || has(a)', 'all()', '');
  });

  it('keeps different meanings apart and parses back to the same meaning', () => {
    expect(canonicalSelector('has(a) || has(b) && has(c)')).not.toBe(canonicalSelector('(has(a) || has(b)) && has(c)'));
    const sels = [
      'has(a) || has(b) && has(c)',
      '(has(a) || has(b)) && has(c)',
      "!(a == 'x' && b in {'1','2'}) || global()",
      "!(has(a) || b not in {'q'})",
      "a == 'x' && (b == 'y' || !has(c))",
    ];
    const labelSets: Labels[] = [
      {},
      { a: 'x' },
      { a: 'x', b: 'y' },
      { a: 'q', b: '1', c: '' },
      { b: '2', c: 'z' },
      { a: 'x', c: '', [NAMESPACE_LABEL]: 'ns' },
      { b: 'q' },
    ];
    for (const sel of sels) {
      const canon = canonicalSelector(sel);
      expect(canonicalSelector(canon), sel).toBe(canon); // a fixed point
      for (const l of labelSets) expect(matches(canon, l), `${sel} vs ${canon} on ${JSON.stringify(l)}`).toBe(matches(sel, l));
    }
    expect(selectorToString(parseSelector("(a == 'x' || b == 'y') && has(c)"))).toBe('(a == "x" || b == "y") && has(c)');
    expect(selectorToString(parseSelector("!(a == 'x' || has(b))"))).toBe('!(a == "x" || has(b))');
  });
});
