/**
 * Counters and gauges felix exposes in Prometheus text format. Tests read the
 * write counters to check that a restart with nothing changed writes nothing.
 */
export class Metrics {
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, { help: string; value: number; sample?: () => number }>();

  counter(name: string, help: string): (n?: number) => void {
    const c = { help, value: 0 };
    this.counters.set(name, c);
    return (n = 1) => {
      c.value += n;
    };
  }

  /** A gauge set by the returned function, or (with `sample`) read when scraped. */
  gauge(name: string, help: string, sample?: () => number): (v: number) => void {
    const g = { help, value: 0, sample };
    this.gauges.set(name, g);
    return (v) => {
      g.value = v;
    };
  }

  get(name: string): number | undefined {
    const g = this.gauges.get(name);
    return this.counters.get(name)?.value ?? (g && (g.sample?.() ?? g.value));
  }

  /** Prometheus exposition format 0.0.4 */
  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    for (const [name, g] of this.gauges) lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.sample?.() ?? g.value}`);
    return lines.join('\n') + '\n';
  }
}
