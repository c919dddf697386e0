/**
 * A kernel read-back that can be started early: the first apply starts every
 * driver's read (Dataplane.prefetch) while the calculation still runs, and the
 * driver collects that read when it needs it instead of running the tool again.
 */
export class EarlyRead<T> {
  private started?: Promise<T>;

  constructor(private readonly read: () => Promise<T>) {}

  /** Start the read now; a failure is reported to whoever collects it. */
  start(): void {
    if (this.started) return;
    this.started = this.read();
    this.started.catch(() => {});
  }

  /** The read started earlier, or a new one. */
  collect(): Promise<T> {
    const r = this.started ?? this.read();
    this.started = undefined;
    return r;
  }

  /** A read started earlier may predate the drift to be repaired: the next collect() reads afresh. */
  forget(): void {
    this.started = undefined;
  }
}
