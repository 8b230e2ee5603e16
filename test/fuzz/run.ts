/**
 * Running a property over many inputs at once: fast-check checks one input at a time, so a
 * property runs as `lanes` independent fast-check runs (seeds SEED+0, SEED+1, ...) whose requests
 * are in flight together. The first lane to fail shrinks its counterexample while the others stop
 * checking; its fast-check report (seed, path, shrunk counterexample) is the error thrown.
 */
import fc from 'fast-check';
import { SEED, TIME_LIMIT_MS } from './config.js';

export interface FuzzSpec<T> {
  name: string;
  arbitrary: fc.Arbitrary<T>;
  runs: number;
  /** Throws (with the reason) when the input breaks the property; may return a label to tally (a status, say). */
  check(input: T): Promise<string | void> | string | void;
  /** Inputs in flight at once (1 for a synchronous check). */
  lanes?: number;
}

export interface FuzzResult {
  inputs: number;
  seconds: number;
  perSecond: number;
  /** How many inputs each label the check returned had. */
  tally: Record<string, number>;
}

/** A line in the test output per property: how much ran and how fast, and the seed that replays it. */
export function report(name: string, r: FuzzResult): void {
  const tally = Object.entries(r.tally)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');
  process.stdout.write(`fuzz ${name}: ${r.inputs} inputs in ${r.seconds.toFixed(1)} s (${Math.round(r.perSecond)}/s), FUZZ_SEED=${SEED}${tally ? ` [${tally}]` : ''}\n`);
}

export async function fuzz<T>(spec: FuzzSpec<T>): Promise<FuzzResult> {
  const lanes = Math.max(1, Math.min(spec.lanes ?? 1, spec.runs));
  let failing = -1;
  let inputs = 0;
  const tally: Record<string, number> = {};
  const count = (label: string | void) => {
    if (label !== undefined) tally[label] = (tally[label] ?? 0) + 1;
  };
  const started = performance.now();
  const params = (k: number): fc.Parameters<[T]> => ({
    numRuns: Math.floor(spec.runs / lanes) + (k < spec.runs % lanes ? 1 : 0),
    seed: (SEED + k) | 0,
    includeErrorInReport: true,
    plugins: [fc.interruptAfterTimeLimit(TIME_LIMIT_MS, { failOnInterrupt: true }) as unknown as fc.Plugin<[T]>],
  });
  const runLane = async (k: number): Promise<void> => {
    if (lanes === 1) {
      // One lane: fc.assert's own synchronous or asynchronous loop.
      const p = fc.asyncProperty(spec.arbitrary, async input => {
        inputs++;
        count(await spec.check(input));
      });
      return fc.assert(p, params(k));
    }
    const p = fc.asyncProperty(spec.arbitrary, async input => {
      if (failing !== -1 && failing !== k) return; // another lane is shrinking: stop spending time
      inputs++;
      try {
        count(await spec.check(input));
      } catch (err) {
        if (failing === -1) failing = k;
        throw err;
      }
    });
    return fc.assert(p, params(k));
  };
  const settled = await Promise.allSettled(Array.from({ length: lanes }, (_, k) => runLane(k)));
  const seconds = (performance.now() - started) / 1000;
  const failure = failing !== -1 ? settled[failing] : settled.find(s => s.status === 'rejected');
  if (failure && failure.status === 'rejected') {
    const err = failure.reason as Error;
    err.message = `${spec.name} (FUZZ_SEED=${SEED}, lane ${failing === -1 ? '?' : failing}): ${err.message}`;
    throw err;
  }
  const result = { inputs, seconds, perSecond: inputs / Math.max(seconds, 1e-9), tally };
  report(spec.name, result);
  if (inputs < spec.runs) throw new Error(`${spec.name}: only ${inputs} of ${spec.runs} inputs ran`);
  return result;
}
