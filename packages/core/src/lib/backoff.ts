/**
 * For a store's `watch`: tries again to get what was lost (a connection, a file watcher), first
 * after `minMs`, then twice as long after each failed try up to `maxMs`; a try that succeeds
 * starts the next loss over from `minMs`. At most one try waits at a time, and none is scheduled
 * while `active()` says no (the watch stopped, or gave up for good).
 */
export class Backoff {
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delay: number;

  constructor(
    /** Resolves when it got it back, rejects when it did not (and the next try is scheduled). */
    private readonly attempt: () => Promise<unknown>,
    private readonly active: () => boolean,
    private readonly minMs = 100,
    private readonly maxMs = 5000,
  ) {
    this.delay = minMs;
  }

  /** Whether a try is waiting for its turn. */
  get waiting(): boolean {
    return this.timer !== undefined;
  }

  /** Schedules a try, unless one waits already or the owner is not `active()`. */
  schedule(): void {
    if (this.timer !== undefined || !this.active()) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.attempt().then(
        () => void (this.delay = this.minMs),
        () => {
          this.delay = Math.min(this.delay * 2, this.maxMs);
          this.schedule();
        },
      );
    }, this.delay);
    this.timer.unref?.();
  }

  /** Drops the waiting try, if any. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
