/** A clock the tests drive: epoch seconds that only move when told to. */
export interface FakeClock {
  (): number;
  now(): number;
  advance(seconds: number): void;
  set(epochSeconds: number): void;
}

export function fakeClock(start = 1_800_000_000): FakeClock {
  let t = start;
  const clock = (() => t) as FakeClock;
  clock.now = () => t;
  clock.advance = (s: number) => {
    t += s;
  };
  clock.set = (s: number) => {
    t = s;
  };
  return clock;
}
