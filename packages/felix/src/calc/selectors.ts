import { parseSelector, evaluateSelector } from '@calico/libcalico/selector';

export type Matcher = (labels: Record<string, string>) => boolean;

/** Compiled selectors, cached by text (many rules and policies share a selector). */
export class Matchers {
  private readonly cache = new Map<string, Matcher>();

  /** Throws ValidationError for a selector that does not parse. */
  get(text: string): Matcher {
    let m = this.cache.get(text);
    if (!m) {
      const sel = parseSelector(text);
      m = (labels) => evaluateSelector(sel, labels);
      this.cache.set(text, m);
    }
    return m;
  }
}
