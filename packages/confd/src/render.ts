import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import Handlebars from 'handlebars';
import type { Family } from '@calico/libcalico';
import type { BirdConfigView } from './model.js';

/** The main template of each family; partials live in `<dir>/partials/<name>.hbs`. */
export const TEMPLATE_FILES: Record<Family, string> = { 4: 'bird.cfg.hbs', 6: 'bird6.cfg.hbs' };
/** The file each template renders to, in CALICO_CONFD_DIR. */
export const OUTPUT_FILES: Record<Family, string> = { 4: 'bird.cfg', 6: 'bird6.cfg' };

type Compiled = Record<Family, HandlebarsTemplateDelegate<BirdConfigView>>;

/**
 * Handlebars over a templates directory: strict (a field the view does not
 * have is an error, not an empty string) and without HTML escaping (BIRD
 * syntax has quotes). Templates are re-read after `invalidate()`, which the
 * directory watcher calls on any edit.
 */
export class Renderer {
  private compiled?: Compiled;

  constructor(readonly dir: string) {}

  invalidate(): void {
    this.compiled = undefined;
  }

  /** Throws with the template file and Handlebars' message on a broken template. */
  render(view: BirdConfigView): string {
    this.compiled ??= this.load();
    try {
      return this.compiled[view.ipVersion](view);
    } catch (e) {
      throw new Error(`rendering ${TEMPLATE_FILES[view.ipVersion]}: ${(e as Error).message}`);
    }
  }

  private load(): Compiled {
    const hb = Handlebars.create();
    const partialsDir = join(this.dir, 'partials');
    let partials: string[] = [];
    try {
      partials = readdirSync(partialsDir).filter((f) => f.endsWith('.hbs'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    for (const f of partials) {
      const name = basename(f, '.hbs');
      hb.registerPartial(name, this.compile(hb, join(partialsDir, f)));
    }
    return { 4: this.compile(hb, join(this.dir, TEMPLATE_FILES[4])), 6: this.compile(hb, join(this.dir, TEMPLATE_FILES[6])) };
  }

  /** Compile now (not lazily on first use) so a syntax error names its file. */
  private compile(hb: typeof Handlebars, file: string): HandlebarsTemplateDelegate<BirdConfigView> {
    const text = readFileSync(file, 'utf8');
    try {
      return hb.compile<BirdConfigView>(hb.parse(text), { strict: true, noEscape: true });
    } catch (e) {
      throw new Error(`template ${file}: ${(e as Error).message}`);
    }
  }
}
