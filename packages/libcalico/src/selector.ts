import { ValidationError } from './errors.js';

/**
 * Calico's label selector language:
 *
 *   k == 'v'   k != "v"   has(k)   !has(k)   k in {'a','b'}   k not in {'a'}
 *   all()   global()   a && b   a || b   !a   ( a )
 *
 * `!` binds tightest, then `&&`, then `||`. `!=` and `not in` are also true
 * when the label is absent (as in Calico). An empty selector means all().
 * `global()` matches label sets of non-namespaced things: those without the
 * `projectcalico.org/namespace` label.
 */
export type SelectorNode =
  | { op: 'all' }
  | { op: 'global' }
  | { op: 'has'; key: string }
  | { op: '==' | '!='; key: string; value: string }
  | { op: 'in' | 'not in'; key: string; values: string[] }
  | { op: 'not'; expr: SelectorNode }
  | { op: 'and' | 'or'; exprs: SelectorNode[] };

export type Labels = Readonly<Record<string, string>>;

/** The label Calico gives namespaced endpoints; global() means its absence. */
export const NAMESPACE_LABEL = 'projectcalico.org/namespace';

// Label keys: letters, digits and `_ . / -` (a DNS prefix and '/' included).
const KEY_CHAR = /[A-Za-z0-9_./-]/;

type Token =
  | { t: 'key'; text: string; pos: number }
  | { t: 'str'; text: string; pos: number }
  | { t: 'sym'; text: string; pos: number }
  | { t: 'end'; pos: number };

const SYMBOLS = ['==', '!=', '&&', '||', '!', '(', ')', '{', '}', ','];

function describe(tok: Token): string {
  switch (tok.t) {
    case 'end':
      return 'end of selector';
    case 'str':
      return `string ${JSON.stringify(tok.text)}`;
    default:
      return `'${tok.text}'`;
  }
}

function fail(message: string, pos: number): never {
  throw new ValidationError('selector', `${message} at position ${pos}`);
}

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      const close = text.indexOf(c, i + 1);
      if (close < 0) fail(`unterminated string starting with ${c}`, i);
      out.push({ t: 'str', text: text.slice(i + 1, close), pos: i });
      i = close + 1;
      continue;
    }
    const sym = SYMBOLS.find((s) => text.startsWith(s, i));
    if (sym) {
      out.push({ t: 'sym', text: sym, pos: i });
      i += sym.length;
      continue;
    }
    if (KEY_CHAR.test(c)) {
      const start = i;
      while (i < text.length && KEY_CHAR.test(text[i]!)) i++;
      out.push({ t: 'key', text: text.slice(start, i), pos: start });
      continue;
    }
    fail(`unexpected character ${JSON.stringify(c)}`, i);
  }
  out.push({ t: 'end', pos: text.length });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Token[]) {}

  private peek(offset = 0): Token {
    return this.toks[Math.min(this.i + offset, this.toks.length - 1)]!;
  }

  private next(): Token {
    const t = this.peek();
    if (t.t !== 'end') this.i++;
    return t;
  }

  private isSym(text: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t.t === 'sym' && t.text === text;
  }

  private expectSym(text: string, what: string): void {
    const t = this.next();
    if (t.t !== 'sym' || t.text !== text) fail(`unexpected ${describe(t)} (expected ${what})`, t.pos);
  }

  parse(): SelectorNode {
    if (this.peek().t === 'end') return { op: 'all' };
    const node = this.or();
    const t = this.peek();
    if (t.t !== 'end') fail(`unexpected ${describe(t)} (expected '&&', '||' or end of selector)`, t.pos);
    return node;
  }

  private or(): SelectorNode {
    const exprs = [this.and()];
    while (this.isSym('||')) {
      this.next();
      exprs.push(this.and());
    }
    return exprs.length === 1 ? exprs[0]! : { op: 'or', exprs };
  }

  private and(): SelectorNode {
    const exprs = [this.unary()];
    while (this.isSym('&&')) {
      this.next();
      exprs.push(this.unary());
    }
    return exprs.length === 1 ? exprs[0]! : { op: 'and', exprs };
  }

  private unary(): SelectorNode {
    if (this.isSym('!')) {
      this.next();
      return { op: 'not', expr: this.unary() };
    }
    if (this.isSym('(')) {
      this.next();
      const inner = this.or();
      this.expectSym(')', "')'");
      return inner;
    }
    return this.term();
  }

  private term(): SelectorNode {
    const t = this.next();
    if (t.t !== 'key') fail(`unexpected ${describe(t)} (expected a label, has(), all(), global(), '!' or '(')`, t.pos);
    // `has(`, `all(` and `global(` are functions only when followed by '('.
    if (this.isSym('(')) {
      if (t.text === 'all' || t.text === 'global') {
        this.next();
        this.expectSym(')', "')'");
        return { op: t.text };
      }
      if (t.text === 'has') {
        this.next();
        const key = this.next();
        if (key.t !== 'key') fail(`unexpected ${describe(key)} (expected a label key)`, key.pos);
        this.expectSym(')', "')'");
        return { op: 'has', key: key.text };
      }
      fail(`unknown function '${t.text}'`, t.pos);
    }
    const op = this.next();
    if (op.t === 'sym' && (op.text === '==' || op.text === '!=')) {
      return { op: op.text, key: t.text, value: this.string() };
    }
    if (op.t === 'key' && op.text === 'in') return { op: 'in', key: t.text, values: this.set() };
    if (op.t === 'key' && op.text === 'not') {
      const inTok = this.next();
      if (inTok.t !== 'key' || inTok.text !== 'in') fail(`unexpected ${describe(inTok)} (expected 'in')`, inTok.pos);
      return { op: 'not in', key: t.text, values: this.set() };
    }
    return fail(`unexpected ${describe(op)} after label '${t.text}' (expected '==', '!=', 'in' or 'not in')`, op.pos);
  }

  private string(): string {
    const t = this.next();
    if (t.t !== 'str') fail(`unexpected ${describe(t)} (expected a quoted string)`, t.pos);
    return t.text;
  }

  private set(): string[] {
    this.expectSym('{', "'{'");
    const values: string[] = [];
    if (this.isSym('}')) {
      this.next();
      return values;
    }
    for (;;) {
      values.push(this.string());
      const t = this.next();
      if (t.t === 'sym' && t.text === '}') return values;
      if (t.t !== 'sym' || t.text !== ',') fail(`unexpected ${describe(t)} (expected ',' or '}')`, t.pos);
    }
  }
}

/** Parse a selector; throws ValidationError('selector', '… at position N') (0-based). */
export function parseSelector(text: string): SelectorNode {
  if (typeof text !== 'string') throw new ValidationError('selector', 'must be a string');
  return new Parser(tokenize(text)).parse();
}

const cache = new Map<string, SelectorNode>();
const CACHE_LIMIT = 10_000;

/** parseSelector with a bounded cache (felix evaluates the same selectors many times). */
export function parseSelectorCached(text: string): SelectorNode {
  let node = cache.get(text);
  if (!node) {
    node = parseSelector(text);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(text, node);
  }
  return node;
}

export function evaluateSelector(node: SelectorNode, labels: Labels): boolean {
  switch (node.op) {
    case 'all':
      return true;
    case 'global':
      return !Object.hasOwn(labels, NAMESPACE_LABEL);
    case 'has':
      return Object.hasOwn(labels, node.key);
    case '==':
      return Object.hasOwn(labels, node.key) && labels[node.key] === node.value;
    case '!=':
      return !Object.hasOwn(labels, node.key) || labels[node.key] !== node.value;
    case 'in':
      return Object.hasOwn(labels, node.key) && node.values.includes(labels[node.key]!);
    case 'not in':
      return !Object.hasOwn(labels, node.key) || !node.values.includes(labels[node.key]!);
    case 'not':
      return !evaluateSelector(node.expr, labels);
    case 'and':
      return node.exprs.every((e) => evaluateSelector(e, labels));
    case 'or':
      return node.exprs.some((e) => evaluateSelector(e, labels));
  }
}

/** Parse (cached) and evaluate in one go. */
export function selectorMatches(selector: string, labels: Labels): boolean {
  return evaluateSelector(parseSelectorCached(selector), labels);
}

const quote = (s: string): string => (s.includes('"') ? `'${s}'` : `"${s}"`);

/**
 * Canonical form: nested &&/|| flattened, operands sorted and deduplicated,
 * set members sorted and deduplicated, single-member sets written as ==/!=,
 * negations pushed into comparisons (`!(a == "x")` is `a != "x"`), all() absorbed.
 * Selectors with the same meaning by these rules print the same string.
 */
export function canonicalise(node: SelectorNode): SelectorNode {
  switch (node.op) {
    case 'in':
    case 'not in': {
      const values = [...new Set(node.values)].sort();
      if (values.length === 1) return { op: node.op === 'in' ? '==' : '!=', key: node.key, value: values[0]! };
      return { op: node.op, key: node.key, values };
    }
    case 'not':
      return negate(canonicalise(node.expr));
    case 'and':
    case 'or': {
      const flat: SelectorNode[] = [];
      for (const e of node.exprs.map(canonicalise)) {
        if (e.op === node.op) flat.push(...e.exprs);
        else flat.push(e);
      }
      const isAll = (e: SelectorNode): boolean => e.op === 'all';
      if (node.op === 'or' && flat.some(isAll)) return { op: 'all' };
      const byText = new Map(flat.filter((e) => !(node.op === 'and' && isAll(e))).map((e) => [print(e), e]));
      const exprs = [...byText.keys()].sort().map((k) => byText.get(k)!);
      if (exprs.length === 0) return { op: 'all' };
      return exprs.length === 1 ? exprs[0]! : { op: node.op, exprs };
    }
    default:
      return node;
  }
}

function negate(n: SelectorNode): SelectorNode {
  switch (n.op) {
    case 'not':
      return n.expr;
    case '==':
      return { ...n, op: '!=' };
    case '!=':
      return { ...n, op: '==' };
    case 'in':
      return { ...n, op: 'not in' };
    case 'not in':
      return { ...n, op: 'in' };
    default:
      return { op: 'not', expr: n };
  }
}

function print(n: SelectorNode): string {
  switch (n.op) {
    case 'all':
    case 'global':
      return `${n.op}()`;
    case 'has':
      return `has(${n.key})`;
    case '==':
    case '!=':
      return `${n.key} ${n.op} ${quote(n.value)}`;
    case 'in':
    case 'not in':
      return `${n.key} ${n.op} {${n.values.map(quote).join(', ')}}`;
    case 'not':
      return n.expr.op === 'has' || n.expr.op === 'all' || n.expr.op === 'global' ? `!${print(n.expr)}` : `!(${print(n.expr)})`;
    case 'and':
      return n.exprs.map((e) => (e.op === 'or' ? `(${print(e)})` : print(e))).join(' && ');
    case 'or':
      return n.exprs.map(print).join(' || ');
  }
}

/** Canonical text of a selector AST (see canonicalise); parses back to the same meaning. */
export function selectorToString(node: SelectorNode): string {
  return print(canonicalise(node));
}

/** Canonical text of a selector string; throws ValidationError if it does not parse. */
export function canonicalSelector(text: string): string {
  return selectorToString(parseSelectorCached(text));
}
