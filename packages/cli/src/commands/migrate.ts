/**
 * `tessera migrate --from URL --to URL`: the live store switch (`@tessera/core/migrate`), with a
 * progress bar on a terminal, a summary line otherwise, and a clean stop on Ctrl-C.
 */
import { resolve } from 'node:path';
import { needsSetup } from '@tessera/config';
import { SETTLE_MS, abortMigration, migrate, type MigrationProgress, type MigrationResult } from '@tessera/core/migrate';
import { BULK_MEMBERS, isBulkStore } from '@tessera/core/store';
import cliProgress from 'cli-progress';
import { Command } from 'commander';
import { CliError, DEFAULT_STORE_URL, closing, openNamedStore, readEnv, say, sayJson, wholeNumber, type OpenedStore } from '../shared.js';

interface MigrateCliOptions {
  from?: string;
  to?: string;
  json?: boolean;
  abort?: boolean;
  settle?: number;
  batch?: number;
}

export const INTERRUPTED =
  'migrate: interrupted; the switch can be resumed by running the same command again, or undone with the same command and --abort';

/** Refuses a store without the members the live switch needs, naming what is missing. */
function requireBulk({ store, label }: OpenedStore, role: 'source' | 'target'): void {
  if (isBulkStore(store)) return;
  const missing = BULK_MEMBERS.filter(m => typeof store[m] !== 'function');
  throw new CliError(`migrate: the ${role} store ${label} cannot take part in a live switch (it lacks ${missing.join(', ')})`);
}

/** Whether two store URLs name one store (file: paths compared resolved). */
function sameStore(a: string, b: string): boolean {
  const file = (u: string) => (/^file:/i.test(u) ? resolve(u.slice('file:'.length).replace(/^\/\/(?=\/)/, '') || '.tessera') : null);
  const fa = file(a.trim());
  const fb = file(b.trim());
  return fa !== null || fb !== null ? fa === fb : a.trim() === b.trim();
}

/** The target as servers will open it: a file store's directory made absolute, since servers run in other directories. */
export function announcedUrl(url: string): string {
  const u = url.trim();
  const m = /^file:(.*)$/i.exec(u);
  return m ? `file:${resolve(m[1]!.replace(/^\/\/(?=\/)/, '') || '.tessera')}` : u;
}

/** 75 -> `1m15s`. */
function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** One progress line: phase, bar and count/total, rate and ETA; count and rate only when the total is unknown. */
export function renderProgress(p: MigrationProgress, width = 30): string {
  const done = p.copied + p.skipped;
  const rate = `${Math.round(p.rate)}/s`;
  const phase = p.phase.padEnd(6);
  if (p.total === null || p.total <= 0) return `${phase} ${done} records  ${rate}`;
  const ratio = Math.min(1, done / p.total);
  const filled = Math.round(ratio * width);
  const eta = p.rate > 0 ? duration(Math.max(0, p.total - done) / p.rate) : '?';
  return `${phase} ${'\u2588'.repeat(filled)}${'\u2591'.repeat(width - filled)} ${String(Math.floor(ratio * 100)).padStart(3)}%  ${done}/${p.total}  ${rate}  ETA ${eta}`;
}

/** The bar on stderr (terminals only): redrawn at most 10 times a second by cli-progress. */
class ProgressBar {
  private bar: cliProgress.SingleBar | undefined;

  update(p: MigrationProgress): void {
    const done = p.copied + p.skipped;
    const total = p.total ?? 0;
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: (_options, _params, payload: { p: MigrationProgress }) => renderProgress(payload.p),
        hideCursor: true,
        linewrap: false,
        fps: 10,
      });
      this.bar.start(total, done, { p });
    } else {
      if (p.total !== null) this.bar.setTotal(total);
      this.bar.update(done, { p });
    }
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** `copied N records in S s (R/s), skipped K`. */
export function summary(r: MigrationResult): string {
  const rate = r.seconds > 0 ? Math.round(r.copied / r.seconds) : r.copied;
  return `copied ${r.copied} records in ${r.seconds.toFixed(1)} s (${rate}/s), skipped ${r.skipped}`;
}

/** Runs `fn` with an AbortSignal that Ctrl-C (or SIGTERM) fires; a second Ctrl-C exits at once. */
async function interruptible<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onSignal = () => {
    if (ac.signal.aborted) {
      if (process.stderr.isTTY) process.stderr.write('\x1b[?25h\n'); // the bar hid the cursor
      process.exit(130);
    }
    ac.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(ac.signal);
  } catch (err) {
    if (ac.signal.aborted) throw new CliError(INTERRUPTED);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function run(opts: MigrateCliOptions): Promise<void> {
  const env = readEnv();
  if (!opts.abort && opts.to === undefined) throw new CliError('migrate: --to <url> is required (the store to switch to), or --abort to undo a switch');
  const fromUrl = opts.from ?? env.storeUrl;
  if (!opts.abort && sameStore(fromUrl ?? DEFAULT_STORE_URL, opts.to!)) throw new CliError('migrate: --from and --to name the same store');
  const from = await openNamedStore(fromUrl, opts.from !== undefined ? '--from' : 'TESSERA_STORE');
  await closing(from.store, async () => {
    if (opts.abort) {
      requireBulk(from, 'source');
      const aborted = await abortMigration({ from: from.store, ...(opts.settle !== undefined ? { settleMs: opts.settle } : {}) });
      if (opts.json) sayJson({ aborted });
      else say(aborted ? `switch undone: every server uses ${from.label} again` : `no switch under way in ${from.label}`);
      return;
    }
    const to = await openNamedStore(opts.to, '--to');
    await closing(to.store, async () => {
      requireBulk(from, 'source');
      requireBulk(to, 'target');
      if (needsSetup(to.store)) await to.store.setup();
      const bar = !opts.json && process.stderr.isTTY ? new ProgressBar() : undefined;
      const result = await interruptible(signal =>
        migrate({
          from: from.store,
          to: to.store,
          toUrl: announcedUrl(opts.to!),
          ...(opts.settle !== undefined ? { settleMs: opts.settle } : {}),
          ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
          ...(bar ? { onProgress: (p: MigrationProgress) => bar.update(p) } : {}),
          signal,
        }),
      ).finally(() => bar?.stop());
      if (opts.json) sayJson({ copied: result.copied, skipped: result.skipped, seconds: result.seconds, resumed: result.resumed });
      else say(summary(result));
    });
  });
}

export function migrateCommand(): Command {
  return new Command('migrate')
    .description('switch the servers live from one store to another (resumable; --abort undoes it)')
    .option('--from <url>', 'the store the servers use now (default TESSERA_STORE, else file:.tessera)')
    .option('--to <url>', 'the store to switch to, as the servers will open it (required unless --abort)')
    .option('--abort', 'undo an unfinished switch: every server goes back to --from')
    .option('--settle <ms>', `milliseconds to wait after each announcement for every server to see it (default ${SETTLE_MS}; 0 when no server runs)`, wholeNumber(0))
    .option('--batch <n>', 'records per export page and import batch (default 2000)', wholeNumber(1))
    .option('--json', 'print {"copied","skipped","seconds","resumed"} (with --abort: {"aborted"})')
    .action((opts: MigrateCliOptions) => run(opts));
}
