/**
 * `Backoff`, the retry schedule of the stores' watches: the wait doubles after each failed try up
 * to its cap, a success starts over, one try waits at a time, and nothing is scheduled once the
 * owner is no longer active.
 */
import { describe, expect, it } from '@jest/globals';
import { Backoff } from '../src/store.js';

const sleep = (ms: number) => new Promise<void>(res => setTimeout(res, ms));

describe('Backoff', () => {
  it('waits min, then twice as long after each failure up to max; a success starts over from min', async () => {
    const at: number[] = [];
    let failures = 4;
    let done!: () => void;
    let finished = new Promise<void>(res => (done = res));
    const b = new Backoff(
      async () => {
        at.push(performance.now());
        if (failures-- > 0) throw new Error('still down');
        done();
      },
      () => true,
      50,
      400,
    );
    let t0 = performance.now();
    b.schedule();
    await finished;
    const waits = at.map((t, i) => t - (i === 0 ? t0 : at[i - 1]!));
    expect(waits).toHaveLength(5);
    // 50, 100, 200, 400, then 400 again (capped; 800 if not). Timers fire no earlier than asked
    // (to the millisecond); the upper bound leaves a busy machine almost 400 ms of lateness.
    [50, 100, 200, 400, 400].forEach((want, i) => expect(waits[i]!).toBeGreaterThanOrEqual(want - 1));
    expect(waits[4]!).toBeLessThan(790);

    // After the success (once the try has returned), the next loss waits the minimum again.
    await sleep(0);
    at.length = 0;
    finished = new Promise<void>(res => (done = res));
    t0 = performance.now();
    b.schedule();
    await finished;
    expect(at[0]! - t0).toBeLessThan(390); // 50, not the 400 it had reached
  });

  it('one try waits at a time; none while inactive; cancel drops the waiting one', async () => {
    let tries = 0;
    let active = true;
    const b = new Backoff(
      async () => void tries++,
      () => active,
      10,
      10,
    );
    b.schedule();
    b.schedule();
    b.schedule();
    expect(b.waiting).toBe(true);
    await sleep(40);
    expect(tries).toBe(1);
    expect(b.waiting).toBe(false);

    b.schedule();
    b.cancel();
    expect(b.waiting).toBe(false);
    await sleep(30);
    expect(tries).toBe(1);

    active = false;
    b.schedule();
    expect(b.waiting).toBe(false);
    await sleep(30);
    expect(tries).toBe(1);
  });

  it('a try that fails after the owner stopped schedules no other', async () => {
    let tries = 0;
    let active = true;
    const b = new Backoff(
      async () => {
        tries++;
        active = false; // the watch stopped while this try was under way
        throw new Error('down');
      },
      () => active,
      10,
      10,
    );
    b.schedule();
    await sleep(60);
    expect(tries).toBe(1);
    expect(b.waiting).toBe(false);
  });
});
