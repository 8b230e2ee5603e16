/** The store's own purge timer: runs a purge every interval (unref'd, so it never keeps a process alive) until stopped. */

/** The default `purgeInterval`, in seconds. */
export const DEFAULT_PURGE_INTERVAL = 3600;

/** `purgeInterval` in milliseconds; 0 = off. */
export function purgeIntervalMs(seconds: number | false | undefined): number {
  const s = seconds ?? DEFAULT_PURGE_INTERVAL;
  if (s === false || s === 0) return 0;
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) throw new RangeError('FileStore purgeInterval must be a number of seconds >= 0, or false');
  return Math.max(1, Math.round(s * 1000));
}

export class PurgeSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly purge: () => Promise<unknown>,
  ) {}

  /** Arms the first run one interval from now (idempotent; nothing when the interval is 0). */
  start(): void {
    if (this.intervalMs > 0 && this.timer === undefined && this.running === undefined && !this.stopped) this.arm();
  }

  private arm(): void {
    // ±10% jitter: processes started together do not all purge at the same moment.
    const ms = Math.min(this.intervalMs * (0.9 + Math.random() * 0.2), 2 ** 31 - 1);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // A failed purge (the disk, a busy lock) is simply tried again at the next interval.
      this.running = this.purge()
        .then(
          () => {},
          () => {},
        )
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.arm();
        });
    }, ms);
    this.timer.unref();
  }

  /** Stops the timer and waits for a purge in progress to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
