/**
 * For a store's `watch`: what reaches the listener. Nothing after `stop()`, a state only when it
 * changes, and a listener that throws never breaks the watch.
 */
import type { ChangeListener } from '../store.js';

export class NoticeReporter {
  private done = false;
  /** As last reported (a watch counts as up once `watch()` resolves: see `started`). */
  private up = false;

  constructor(private readonly listener: ChangeListener) {}

  /** True once `stop()` was called. */
  get stopped(): boolean {
    return this.done;
  }

  /** The watch is up, as `watch()` resolving says (the listener is not called). */
  started(): void {
    this.up = true;
  }

  /** From now on the listener hears nothing. */
  stop(): void {
    this.done = true;
  }

  changed(ids: readonly string[] | null): void {
    if (this.done) return;
    try {
      this.listener.changed(ids);
    } catch {
      // The listener's own failure; the watch goes on.
    }
  }

  state(up: boolean): void {
    if (this.done || this.up === up) return;
    this.up = up;
    try {
      this.listener.state(up);
    } catch {
      // As above.
    }
  }
}
