import { StoreError } from '../errors.js';

/** Rejects with a StoreError when `promise` takes longer than `ms`. */
export function deadline<T>(promise: Promise<T>, ms: number, op: string): Promise<T> {
  return new Promise<T>((resolve, fail) => {
    const timer = setTimeout(() => fail(new StoreError(`store ${op} timed out after ${ms} ms`)), ms);
    timer.unref?.();
    promise.then(
      v => {
        clearTimeout(timer);
        resolve(v);
      },
      e => {
        clearTimeout(timer);
        fail(e);
      },
    );
  });
}
