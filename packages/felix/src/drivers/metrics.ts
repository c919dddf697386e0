/**
 * Counters and gauges felix exposes in Prometheus text format. Tests read the
 * write counters to check that a restart with nothing changed writes nothing.
 */
export class Metrics {
  private readonly counters = new Map<string, { help: string; value: number }>();
  private readonly gauges = new Map<string, { help: string; value: number }>();

  counter(name: string, help: string): (n?: number) => void {
    const c = { help, value: 0 };
    this.counters.set(name, c);
    return (n = 1) => {
      c.value += n;
    };
  }

  gauge(name: string, help: string): (v: number) => void {
    const g = { help, value: 0 };
    this.gauges.set(name, g);
    return (v) => {
      g.value = v;
    };
  }

  get(name: string): number | undefined {
    return this.counters.get(name)?.value ?? this.gauges.get(name)?.value;
  }

  /** Prometheus exposition format 0.0.4 */
  render(): string {
    const lines: string[] = [];
    for (const [name, c] of this.counters) lines.push(`# HELP ${name} ${c.help}`, `# TYPE ${name} counter`, `${name} ${c.value}`);
    for (const [name, g] of this.gauges) lines.push(`# HELP ${name} ${g.help}`, `# TYPE ${name} gauge`, `${name} ${g.value}`);
    return lines.join('\n') + '\n';
  }
}
