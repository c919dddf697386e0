/**
 * Runs `task` after changes settle: each trigger() (re)starts a short quiet
 * period, bounded by maxDelayMs from the first trigger; one run at a time,
 * and triggers that arrive during a run cause exactly one more run after it.
 * `task` handles its own errors (it must not reject).
 */
export class Debouncer {
  private timer?: NodeJS.Timeout;
  private firstTrigger = 0;
  private running?: Promise<void>;
  private pending = false;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly delayMs: number,
    private readonly maxDelayMs = Math.max(delayMs * 10, 1000),
  ) {}

  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    const now = Date.now();
    if (!this.timer) this.firstTrigger = now;
    else clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.delayMs, this.firstTrigger + this.maxDelayMs - now));
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    this.running = this.task().finally(() => {
      this.running = undefined;
      if (this.pending) {
        this.pending = false;
        this.trigger();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running?.catch(() => {});
  }
}
