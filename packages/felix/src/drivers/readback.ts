/**
 * A read-back of the kernel that may already be in flight: the first apply
 * starts every driver's read early (Dataplane.prefetch, while the calculation
 * runs) and awaits the same read later instead of running the tool again.
 */
export class InFlightRead<T> {
  private reading?: Promise<T>;

  constructor(private readonly read: () => Promise<T>) {}

  /** Start the read (or join the one in flight). A failed read is not kept: the next call runs it again. */
  get(): Promise<T> {
    const reading = (this.reading ??= this.read());
    void reading.then(
      () => this.reading === reading && (this.reading = undefined),
      () => this.reading === reading && (this.reading = undefined),
    );
    return reading;
  }

  /** Start the read now, to be collected by a later get(). */
  start(): void {
    this.get().catch(() => {}); // the apply that collects it reports a failure
  }

  /** A read in flight may predate the drift to be repaired: the next get() runs a fresh one. */
  forget(): void {
    this.reading = undefined;
  }
}
