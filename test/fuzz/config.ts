/**
 * Fuzz volume and bounds, from the environment: FUZZ_RUNS inputs per adapter and per pure property
 * (default 100,000, as in CI; `pnpm fuzz` sets 1,000,000), FUZZ_SEED to replay a run, FUZZ_TIME_LIMIT
 * seconds per property (default: generous for 250 inputs/s; reaching it fails the property, so a
 * slow run never passes on fewer inputs than asked for).
 */

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer`);
  return n;
}

export const RUNS = intEnv('FUZZ_RUNS', 100_000);
export const SEED = intEnv('FUZZ_SEED', Math.floor(Math.random() * 0x7fffffff));
export const TIME_LIMIT_MS = intEnv('FUZZ_TIME_LIMIT', Math.max(300, Math.ceil(RUNS / 250))) * 1000;
/** Jest's timeout for one property: its time limit, plus room for shrinking and set-up. */
export const TEST_TIMEOUT_MS = TIME_LIMIT_MS + 120_000;

/** `total` split by weights into whole counts that add up to `total` exactly. */
export function split<K extends string>(total: number, weights: Record<K, number>): Record<K, number> {
  const keys = Object.keys(weights) as K[];
  const sum = keys.reduce((s, k) => s + weights[k], 0);
  const out = {} as Record<K, number>;
  let given = 0;
  keys.forEach((k, i) => {
    out[k] = i === keys.length - 1 ? total - given : Math.floor((total * weights[k]) / sum);
    given += out[k];
  });
  return out;
}
