// Reading resource files for create/apply/replace/delete -f: YAML or JSON,
// several `---` documents, `kind: List` (or `<Kind>List`) with `items`.
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';
import { yaml } from './output.js';

/** One resource from a file, with where it came from (for error messages). */
export interface FileDoc {
  /** e.g. `document 2` or `document 1, item 3` */
  where: string;
  raw: unknown;
}

export function readInput(path: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read ${path === '-' ? 'stdin' : path}: ${(e as Error).message}`);
  }
}

const isList = (v: unknown): v is { items: unknown } =>
  !!v && typeof v === 'object' && !Array.isArray(v) && typeof (v as { kind?: unknown }).kind === 'string' &&
  /List$/.test((v as { kind: string }).kind);

/** Split a file's text into resources; YAML syntax errors name the document and line. */
export function parseResourceText(text: string): FileDoc[] {
  const docs = yaml().parseAllDocuments(text);
  const out: FileDoc[] = [];
  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    const err = doc.errors[0];
    // the first line of the parser's message says what and where ("… at line 3, column 11:")
    if (err) throw new CliError(`${where}: invalid YAML/JSON: ${err.message.split('\n')[0]!.replace(/:$/, '')}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) return; // empty document (e.g. a trailing `---`)
    if (Array.isArray(value) || isList(value)) {
      const items = Array.isArray(value) ? value : value.items;
      if (!Array.isArray(items)) throw new CliError(`${where}: items: must be a list of resources`);
      items.forEach((raw, j) => out.push({ where: `${where}, item ${j + 1}`, raw }));
      return;
    }
    out.push({ where, raw: value });
  });
  if (!out.length) throw new CliError('no resources found in the input');
  // "document 1" alone is noise when the file holds a single resource.
  if (out.length === 1 && out[0]!.where === 'document 1') out[0]!.where = '';
  return out;
}
