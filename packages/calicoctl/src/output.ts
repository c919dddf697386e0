// Output helpers shared by every calicoctl command: calicoctl-style borderless
// tables and YAML/JSON printing. Kept free of heavy imports (the YAML library
// is loaded on first use) so command modules can import it at load time.
import { createRequire } from 'node:module';
import type { Resource } from '@calico/libcalico';
import { API_VERSION } from '@calico/libcalico/resources/kinds';
import { columnsFor, type ColumnSet } from './columns.js';

export type { Column, ColumnSet } from './columns.js';

export type OutputFormat = 'ps' | 'wide' | 'yaml' | 'json';

/** Parse `-o` (calicoctl accepts `yml` for yaml); anything else is an error. */
export function parseOutputFormat(raw: string | undefined): OutputFormat {
  const f = (raw ?? 'ps').toLowerCase();
  if (f === 'ps' || f === 'wide' || f === 'yaml' || f === 'json') return f;
  if (f === 'yml') return 'yaml';
  throw new Error(`unrecognized output format '${raw}' (use ps, wide, yaml or json)`);
}

/** The `-o, --output` option definition, for commands that read. */
export const OUTPUT_FLAGS = '-o, --output <format>';
export const OUTPUT_HELP = 'output format: ps (table), wide, yaml or json';

/**
 * A borderless table as Go's tabwriter prints it for calicoctl (minwidth 5,
 * padding 3): upper-case headings, each column as wide as its widest cell
 * plus 3 spaces; trailing spaces trimmed.
 */
export function formatTable(headers: string[], rows: string[][]): string {
  const all = [headers.map((h) => h.toUpperCase()), ...rows];
  const widths = headers.map((_, i) => Math.max(5, ...all.map((r) => (r[i] ?? '').length + 3)));
  return all
    .map((r) => headers.map((_, i) => (r[i] ?? '').padEnd(widths[i]!)).join('').trimEnd() + '\n')
    .join('');
}

export function printTable(headers: string[], rows: string[][]): void {
  process.stdout.write(formatTable(headers, rows));
}

type YamlModule = typeof import('yaml');
let yamlModule: YamlModule | undefined;
/** The `yaml` package (for parsing input), loaded on first use from its CommonJS build. */
export function yaml(): YamlModule {
  yamlModule ??= createRequire(import.meta.url)('yaml') as YamlModule;
  return yamlModule;
}

// YAML output is written here rather than by the yaml package: loading that
// package is the largest part of a `get -o yaml` run, and printing JSON-shaped
// data as block YAML is small. Strings that could read as anything but a
// string are written as JSON strings (valid YAML double-quoted scalars).
const PLAIN = /^[A-Za-z0-9_/(][A-Za-z0-9_./()-]*$/;
/** numbers (also YAML 1.1's 1_000 and dates), booleans and nulls of YAML 1.1 and 1.2 */
const LOOKS_TYPED =
  /^([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-f]+|0o[0-7]+|\d{4}-\d\d?-\d\d?.*|true|false|null|yes|no|on|off|y|n)$/i;

function scalar(v: unknown): string {
  if (typeof v === 'string') return PLAIN.test(v) && !LOOKS_TYPED.test(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return 'null';
}

const isNode = (v: unknown): v is object => typeof v === 'object' && v !== null;
const isEmpty = (v: object): boolean => (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0);

/** Block YAML lines for an object or array at `indent` spaces. */
function yamlLines(v: object, indent: number): string[] {
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  const entry = (head: string, x: unknown): void => {
    if (!isNode(x)) out.push(`${head} ${scalar(x)}`);
    else if (isEmpty(x)) out.push(`${head} ${Array.isArray(x) ? '[]' : '{}'}`);
    else if (Array.isArray(x) || head.endsWith(':')) {
      out.push(head);
      out.push(...yamlLines(x, indent + 2));
    } else {
      // a mapping inside a sequence starts on the dash's line
      const inner = yamlLines(x, indent + 2);
      out.push(`${head} ${inner[0]!.trimStart()}`, ...inner.slice(1));
    }
  };
  if (Array.isArray(v)) for (const x of v) entry(`${pad}-`, x);
  else for (const [k, x] of Object.entries(v)) if (x !== undefined) entry(`${pad}${scalar(k)}:`, x);
  return out;
}

export function toYaml(value: unknown): string {
  if (!isNode(value) || isEmpty(value)) return scalar(value) + '\n';
  return yamlLines(value, 0).join('\n') + '\n';
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Print any value as YAML or JSON. */
export function printValue(value: unknown, format: 'yaml' | 'json'): void {
  process.stdout.write(format === 'json' ? toJson(value) : toYaml(value));
}

/** Envelope in a fixed key order, so output reads like calicoctl's. */
function ordered(r: Resource<unknown>): Resource<unknown> {
  return { apiVersion: r.apiVersion || API_VERSION, kind: r.kind, metadata: r.metadata, spec: r.spec };
}

export interface PrintOptions {
  /** table columns (default: the kind's calicoctl column set) */
  columns?: ColumnSet;
  /** kind of the list, for `-o yaml|json` of an empty list */
  kind?: string;
  /** add a NAMESPACE column (get -A on namespaced kinds) */
  namespaceColumn?: boolean;
}

/** A `<Kind>List` of resources, as `get -o yaml|json` prints a listing (and `apply -f` takes back). */
export function listOf(resources: Resource<unknown>[], kind?: string): object {
  return { apiVersion: API_VERSION, kind: `${resources[0]?.kind ?? kind ?? ''}List`, items: resources.map(ordered) };
}

/**
 * Print resources the way `calicoctl get` does: one resource (not an array)
 * prints bare in YAML/JSON, an array prints as a `<Kind>List` with `items`
 * (both are accepted back by `apply -f`). Tables use the kind's ps/wide columns.
 */
export function printResources(resources: Resource<unknown> | Resource<unknown>[], format: OutputFormat, opts: PrintOptions = {}): void {
  if (format === 'yaml' || format === 'json') {
    printValue(Array.isArray(resources) ? listOf(resources, opts.kind) : ordered(resources), format);
    return;
  }
  const list = Array.isArray(resources) ? resources : [resources];
  const set = opts.columns ?? columnsFor(list[0]?.kind ?? opts.kind ?? '');
  let cols = format === 'wide' && set.wide ? set.wide : set.ps;
  if (opts.namespaceColumn) cols = [{ header: 'NAMESPACE', value: (r) => r.metadata.namespace ?? '' }, ...cols];
  printTable(
    cols.map((c) => c.header),
    list.map((r) => cols.map((c) => c.value(r))),
  );
}
