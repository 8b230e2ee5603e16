/**
 * The harness of the two-process watch tests (test/stores/*-watch-multiprocess.test.ts): process B
 * is a child running a store's built package (dist, so `tsc -b` runs first) that watches and prints
 * one JSON line per notice and state change with `process.hrtime` (CLOCK_MONOTONIC, one clock for
 * both processes); this process (A) changes records and measures, exactly, the latency from A's
 * write resolving to B's listener firing. Also the helpers the in-process watch cases share:
 * records, a recording listener, bounded waits.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { expect } from '@jest/globals';
import type { ChangeListener, TokenRecord, TokenStore } from '@tessera/core/store';

/** Changes measured (a third each of revoke, rotate, touch), the fewest that must be, and the time they may take in all. */
export const CHANGES = 240;
export const MIN_CHANGES = 200;
export const BUDGET_MS = 40_000;
/** The bound on B's notice latency after A's write resolved, at p99. */
export const P99_BOUND_MS = 50;
/** How long one notice may take before the run fails (far above the 50 ms target: a hang, not a slow notice). */
export const NOTICE_TIMEOUT_MS = 2_000;
/** How long B may take to start watching. */
const READY_TIMEOUT_MS = 15_000;

/** process.hrtime.bigint() in ms: the clock B's lines are stamped with. */
export const hr = (): number => Number(process.hrtime.bigint()) / 1e6;
export const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));
export const fmtMs = (x: number) => `${x.toFixed(2)} ms`;

/** The `q` quantile of ascending `sorted` (nearest rank). */
export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/**
 * Waits (bounded) for `pred` to give something other than undefined or false, polling every `step`
 * ms; fails with `what` (a function: read when it fails).
 */
export async function until<T>(
  what: string | (() => string),
  pred: () => T | undefined | false | Promise<T | undefined | false>,
  ms = NOTICE_TIMEOUT_MS,
  step = 1,
): Promise<T> {
  const start = performance.now();
  for (;;) {
    let v = pred();
    if (v instanceof Promise) v = await v;
    if (v !== undefined && v !== false) return v as T;
    if (performance.now() - start > ms) throw new Error(`${typeof what === 'function' ? what() : what}: nothing within ${ms} ms`);
    await sleep(step);
  }
}

export function record(over: Partial<TokenRecord> & Pick<TokenRecord, 'id' | 'kind'>, now: number): TokenRecord {
  return {
    subject: 'u1',
    family: over.id,
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + 3600,
    revokedAt: null,
    ...(over.kind === 'session' ? { user: { id: 'u1' } } : {}),
    ...over,
  };
}

export const id = (tag: string) => `${tag}_${randomBytes(9).toString('base64url')}`;

/** A listener recording what it is told (performance.now() times). */
export function recorder() {
  const notices: { ids: readonly string[] | null; at: number }[] = [];
  const states: { up: boolean; at: number }[] = [];
  const listener: ChangeListener = {
    changed: ids => void notices.push({ ids, at: performance.now() }),
    state: up => void states.push({ up, at: performance.now() }),
  };
  /** Every id of `want` notified since `from` (a null notice covers all). */
  const covered = (want: readonly string[], from = 0) => {
    const got = new Set<string>();
    for (const x of notices.slice(from)) {
      if (x.ids === null) return true;
      for (const i of x.ids) got.add(i);
    }
    return want.every(i => got.has(i));
  };
  return { notices, states, listener, covered };
}

// ---------------------------------------------------------------------------------------------
// Process B

export interface WorkerSpec {
  /** The built package (packages/<store>/dist/index.js) and the store class it exports. */
  dist: string;
  store: string;
  /** Names for B's arguments, in order, and the store's options (JavaScript using them). */
  argv: string[];
  options: string;
  /** JavaScript run once the store is made (helpers for `ready` and `commands`). */
  prelude?: string;
  /** Fields (JavaScript) the ready line carries besides `ready: true`, e.g. `conn: conn()`. */
  ready?: string;
  /** JavaScript run for a command line `{ op }` from A, per op; any other op closes the store and exits 0. */
  commands?: Record<string, string>;
}

/** B's program: watches, prints `{ ids }` and `{ state }` lines (and `{ ready }` once watching), each with `t` = hrtime in ns. */
export function workerScript(spec: WorkerSpec): string {
  const commands = Object.entries(spec.commands ?? {})
    .map(([op, code]) => `if (cmd.op === ${JSON.stringify(op)}) {\n    ${code.trim().split('\n').join('\n    ')}\n  } else `)
    .join('');
  return `
import { createInterface } from 'node:readline';
import { ${spec.store} } from ${JSON.stringify(pathToFileURL(spec.dist).href)};
const [${spec.argv.join(', ')}] = process.argv.slice(2);
const store = new ${spec.store}(${spec.options});
const out = v => process.stdout.write(JSON.stringify(v) + '\\n');
const now = () => String(process.hrtime.bigint());
${spec.prelude?.trim() ?? ''}
await store.watch({
  changed: ids => out({ ids, t: now() }),
  state: up => out({ state: up, t: now() }),
});
out({ ready: true, ${spec.ready ? `${spec.ready}, ` : ''}t: now() });
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  ${commands}{
    await store.close();
    process.exit(0);
  }
}
`;
}

/** One line from B: what it printed, with `t` as `at` (process.hrtime.bigint() in ms). */
export type WatchLine<X extends object = object> = Partial<X> & {
  ids?: string[] | null;
  state?: boolean;
  ready?: boolean;
  at: number;
};

export interface Watcher<X extends object = object> {
  proc: ChildProcessWithoutNullStreams;
  /** Every line B printed so far, in order. */
  lines: WatchLine<X>[];
  /** B's ready line. */
  ready: WatchLine<X>;
  /** The start of what B wrote to stderr. */
  stderr(): string;
  /** Sends B a command (see WorkerSpec.commands). */
  send(cmd: { op: string }): void;
  /** Tells B to close its store and exit, without waiting. */
  end(): void;
  /** Tells B to close its store and exit; resolves with its exit code once it has (bounded). */
  exit(): Promise<number | null>;
}

/**
 * Starts B processes (their scripts in a temporary directory named `tmpPrefix`…, made on first use)
 * and cleans up after them: `cleanup()` kills any still running and removes the directory.
 */
export function watchers(tmpPrefix: string) {
  let root: string | undefined;
  const tmp = () => (root ??= mkdtempSync(join(tmpdir(), tmpPrefix)));
  const started: Watcher<object>[] = [];
  return {
    /** The temporary directory (for a test's own files too). */
    tmp,
    /** Starts B running `spec` with `args` and waits until it watches. */
    async start<X extends object = object>(spec: WorkerSpec, args: string[]): Promise<Watcher<X>> {
      expect(existsSync(spec.dist)).toBe(true); // built by `tsc -b` before jest
      const script = join(tmp(), `watcher-${started.length}.mjs`);
      writeFileSync(script, workerScript(spec));
      const proc = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const lines: WatchLine<X>[] = [];
      createInterface({ input: proc.stdout }).on('line', l => {
        const v = JSON.parse(l) as Omit<WatchLine<X>, 'at'> & { t: string };
        lines.push({ ...v, at: Number(BigInt(v.t)) / 1e6 } as WatchLine<X>);
      });
      const send = (cmd: { op: string }) => void proc.stdin.write(JSON.stringify(cmd) + '\n');
      const end = () => void proc.stdin.end(JSON.stringify({ op: 'exit' }) + '\n');
      const watcher: Watcher<X> = {
        proc,
        lines,
        ready: undefined as unknown as WatchLine<X>,
        stderr: () => stderr.slice(0, 2000),
        send,
        end,
        exit: async () => {
          end();
          await until('B exits', () => proc.exitCode !== null, 5000, 20);
          return proc.exitCode;
        },
      };
      started.push(watcher as Watcher<object>);
      watcher.ready = await until(() => `B ready (stderr: ${watcher.stderr()})`, () => lines.find(l => l.ready), READY_TIMEOUT_MS);
      return watcher;
    },
    cleanup(): void {
      for (const w of started) if (w.proc.exitCode === null) w.proc.kill();
      if (root) rmSync(root, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The latency measurement

/** What A changes: CHANGES / 3 sessions to revoke, as many to touch, and the head of a refresh family to rotate. */
export interface LatencyRecords {
  toRevoke: TokenRecord[];
  toTouch: TokenRecord[];
  head: TokenRecord;
  /** All of them, to store before B watches. */
  all: TokenRecord[];
}

export function latencyRecords(now: number): LatencyRecords {
  const perOp = CHANGES / 3;
  const toRevoke = Array.from({ length: perOp }, () => record({ id: id('ses'), kind: 'session' }, now));
  const toTouch = Array.from({ length: perOp }, () => record({ id: id('ses'), kind: 'session' }, now));
  const head = record({ id: id('ref'), kind: 'refresh', family: 'fam_mp', rotatedAt: null, replacedBy: null, reuseCount: 0 }, now);
  return { toRevoke, toTouch, head, all: [...toRevoke, ...toTouch, head] };
}

export interface LatencyReport {
  /** Names the store and how it watches, e.g. `redis store watch (CLIENT TRACKING BCAST)`. */
  title: string;
  /** What else to say of the changes, e.g. `fsync on`. */
  detail?: string;
  /** Why B can be notified before A's call resolves (a negative latency), in this store. */
  negative: string;
}

/**
 * A revokes, rotates and touches `records` in turn (CHANGES, within BUDGET_MS), each time waiting
 * for B's notice of every id changed; logs the latencies and expects at least MIN_CHANGES measured,
 * p99 after A's write resolved below P99_BOUND_MS, and no state(false) from B.
 */
export async function expectNoticeLatency(store: TokenStore, b: Watcher, records: LatencyRecords, now: number, report: LatencyReport): Promise<void> {
  const { lines } = b;
  let { head } = records;
  /** After resolve (the figure asked for) and after the call started, per change, in ms. */
  const afterResolve: number[] = [];
  const afterStart: number[] = [];
  const byKind: Record<string, number[]> = { revoke: [], rotate: [], touch: [] };
  const started = performance.now();
  for (let i = 0; i < CHANGES && performance.now() - started < BUDGET_MS; i++) {
    const kind = (['revoke', 'rotate', 'touch'] as const)[i % 3];
    const k = Math.floor(i / 3);
    let ids: string[];
    const t0 = hr();
    if (kind === 'revoke') {
      ids = [records.toRevoke[k]!.id];
      expect(await store.revoke({ id: ids[0]! }, now)).toBe(1);
    } else if (kind === 'rotate') {
      const next = { ...head, id: id('ref') };
      ids = [head.id, next.id];
      expect(await store.rotate(head.id, next, now)).toEqual({ status: 'rotated' });
      head = next;
    } else {
      ids = [records.toTouch[k]!.id];
      expect(await store.touch(ids[0]!, now + 1, now + 7200)).toBe(true);
    }
    const t1 = hr();
    // The first notice of each id at or after the call began; the change is seen when all are.
    const seenAt = await until(
      () => `B's notice of ${kind} #${k} [${ids.join(', ')}] (stderr: ${b.stderr()})`,
      () => {
        const at: number[] = [];
        for (const want of ids) {
          const l = lines.find(x => x.at >= t0 && (x.ids === null || x.ids?.includes(want)));
          if (l === undefined) return undefined;
          at.push(l.at);
        }
        return Math.max(...at);
      },
    );
    afterResolve.push(seenAt - t1);
    byKind[kind]!.push(seenAt - t1);
    afterStart.push(seenAt - t0);
  }
  const n = afterResolve.length;
  expect(n).toBeGreaterThanOrEqual(MIN_CHANGES);
  const resolved = [...afterResolve].sort((a, b) => a - b);
  const fromStart = [...afterStart].sort((a, b) => a - b);
  console.log(
    `${report.title}, notice latency over ${n} changes (revoke, rotate, touch${report.detail ? `; ${report.detail}` : ''}), B's listener vs A:\n` +
      `  after A's write resolved: p50 ${fmtMs(quantile(resolved, 0.5))}, p99 ${fmtMs(quantile(resolved, 0.99))}, max ${fmtMs(resolved[n - 1]!)} ` +
      `(${resolved.filter(x => x < 0).length} negative: ${report.negative})\n` +
      `  after A's call began:      p50 ${fmtMs(quantile(fromStart, 0.5))}, p99 ${fmtMs(quantile(fromStart, 0.99))}, max ${fmtMs(fromStart[n - 1]!)}\n` +
      Object.entries(byKind)
        .map(([k, xs]) => {
          const s = [...xs].sort((a, b) => a - b);
          return `  ${k} (${s.length}) after resolve: p50 ${fmtMs(quantile(s, 0.5))}, p99 ${fmtMs(quantile(s, 0.99))}`;
        })
        .join('\n'),
  );
  expect(quantile(resolved, 0.99)).toBeLessThan(P99_BOUND_MS);
  expect(lines.filter(l => l.state === false)).toEqual([]); // notices never stopped
}

/**
 * B's watch broken by `cause` (run at `t`, hrtime ms): waits (bounded) for B's state(false), within
 * `downMs`, then state(true), within 5 s, and expects them in that order.
 */
export async function expectOutage<X extends object>(
  b: Watcher<X>,
  cause: () => unknown,
  { down, up, downMs = NOTICE_TIMEOUT_MS }: { down: string; up: string; downMs?: number },
): Promise<{ t: number; down: WatchLine<X>; up: WatchLine<X> }> {
  const before = b.lines.length;
  const t = hr();
  await cause();
  const since = () => b.lines.slice(before);
  const downLine = await until(down, () => since().find(l => l.state === false), downMs);
  const upLine = await until(up, () => since().find(l => l.state === true), 5_000);
  expect(upLine.at).toBeGreaterThan(downLine.at);
  return { t, down: downLine, up: upLine };
}

/** A puts a new record and waits (bounded) for B's notice of it. */
export async function expectNoticeOfPut(store: TokenStore, b: Watcher, now: number, what: string): Promise<void> {
  const later = record({ id: id('ses'), kind: 'session' }, now);
  const t0 = hr();
  await store.put(later);
  await until(what, () => b.lines.find(l => l.at >= t0 && l.ids?.includes(later.id)));
}
