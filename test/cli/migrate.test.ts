/**
 * `tessera migrate`: its argument handling and failures, and the live switch end to end on the
 * built bin (file store to file store and to PostgreSQL; interrupted, resumed, undone).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { migrationStatus } from '@tessera/core/migrate';
import { FileStore } from '@tessera/store-file';
import { assertBuilt, expectOneLineFailure, json, ok, populate, tempDir, tessera, type RunResult } from './support.js';

const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUN = `cli_mig_${process.pid}_${randomBytes(3).toString('hex')}`;
const tables: string[] = [];
const dirs: string[] = [];
function cwd(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
// Every test spawns the bin a few times: generous, for a loaded machine.
jest.setTimeout(120_000);
beforeAll(assertBuilt);
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  if (tables.length === 0) return;
  const pool = new pg.Pool({ connectionString: PG });
  try {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS "${t}", "${t}_meta"`);
  } finally {
    await pool.end();
  }
});

/** A working directory with a populated file store `a` (6 records, 3 live sessions) and the URLs of `a` and an empty `b`. */
async function stores(): Promise<{ dir: string; a: string; b: string }> {
  const dir = cwd();
  const store = new FileStore({ dir: join(dir, 'a') });
  await populate(store);
  await store.close();
  return { dir, a: `file:${join(dir, 'a')}`, b: `file:${join(dir, 'b')}` };
}

const liveIds = async (dir: string, url: string): Promise<string[]> =>
  json(await tessera(['sessions', 'list', '--json', '--store', url], { cwd: dir })).sessions.map((s: { id: string }) => s.id);

/**
 * Starts a switch that waits `--settle` ms after its first announcement, and interrupts it with
 * SIGINT once the announcement is in the source (`a`, a file store in `dir`/a).
 */
function interrupted(dir: string, a: string, b: string): Promise<RunResult> {
  const source = new FileStore({ dir: join(dir, 'a') });
  return tessera(['migrate', '--from', a, '--to', b, '--settle', '4000'], {
    cwd: dir,
    onSpawn: child => {
      const poll = setInterval(() => {
        void migrationStatus(source).then(
          status => {
            if (status === null || child.exitCode !== null) return;
            clearInterval(poll);
            child.kill('SIGINT');
          },
          () => {},
        );
      }, 100);
      child.once('exit', () => clearInterval(poll));
    },
  }).finally(() => source.close());
}

describe('tessera migrate: arguments and failures', () => {
  it('needs --to (unless --abort), two different stores, whole numbers for --settle and --batch', async () => {
    const dir = cwd();
    expect(expectOneLineFailure(await tessera(['migrate'], { cwd: dir }))).toMatch(/--to <url> is required/);
    expect(expectOneLineFailure(await tessera(['migrate', '--json', '--from', 'memory:'], { cwd: dir }))).toMatch(/--to <url> is required/);
    expect(expectOneLineFailure(await tessera(['migrate', '--from', `file:${dir}/x`, '--to', `file:${dir}/./x`], { cwd: dir }))).toMatch(/same store/);
    expect(expectOneLineFailure(await tessera(['migrate', '--to', 'file:.tessera'], { cwd: dir }))).toMatch(/same store/);
    expect(expectOneLineFailure(await tessera(['migrate', '--to', 'file:x'], { cwd: dir, env: { TESSERA_STORE: 'file:./x' } }))).toMatch(/same store/);
    for (const bad of [
      ['--settle', 'soon'],
      ['--settle', '-1'],
      ['--settle', '1.5'],
      ['--batch', '0'],
      ['--batch', 'many'],
    ]) {
      expect(expectOneLineFailure(await tessera(['migrate', '--to', 'memory:', ...bad], { cwd: dir }))).toContain(`option '${bad[0]}`);
    }
    expect(expectOneLineFailure(await tessera(['migrate', '--to', 'memory:', '--frm', 'memory:'], { cwd: dir }))).toMatch(/unknown option '--frm'/);
  });

  it('a bad store URL or TESSERA_* value names its source and hides passwords', async () => {
    const dir = cwd();
    const to = expectOneLineFailure(await tessera(['migrate', '--from', 'memory:', '--to', 'ftp://admin:hunter2@files'], { cwd: dir }));
    expect(to).toMatch(/--to: unsupported store URL/);
    expect(to).not.toContain('hunter2');
    const from = expectOneLineFailure(await tessera(['migrate', '--from', 'ftp://admin:hunter2@files', '--to', 'memory:'], { cwd: dir }));
    expect(from).toMatch(/--from: unsupported store URL/);
    expect(from).not.toContain('hunter2');
    expect(expectOneLineFailure(await tessera(['migrate', '--to', 'memory:'], { cwd: dir, env: { TESSERA_STORE: 'ftp://x' } }))).toMatch(/TESSERA_STORE: unsupported store URL/);
    expect(expectOneLineFailure(await tessera(['migrate', '--abort'], { cwd: dir, env: { TESSERA_STORE: 'ftp://x' } }))).toMatch(/TESSERA_STORE/);
    expect(expectOneLineFailure(await tessera(['migrate', '--to', 'memory:'], { cwd: dir, env: { TESSERA_TTL: 'forever' } }))).toMatch(/TESSERA_TTL/);
  });

  it('an unreachable store: one line, password hidden', async () => {
    const dir = cwd();
    for (const args of [
      ['--from', 'memory:', '--to', 'redis://user:hunter2@127.0.0.1:1'],
      ['--from', 'redis://user:hunter2@127.0.0.1:1', '--to', 'memory:'],
      ['--from', 'redis://user:hunter2@127.0.0.1:1', '--abort'],
    ]) {
      const line = expectOneLineFailure(await tessera(['migrate', ...args, '--settle', '0'], { cwd: dir }));
      expect(line).not.toContain('hunter2');
    }
  });
});

describe('tessera migrate: the live switch', () => {
  it('copies every record to the target (--json), from TESSERA_STORE by default', async () => {
    const { dir, a, b } = await stores();
    const r = json(await tessera(['migrate', '--to', b, '--settle', '0', '--batch', '2', '--json'], { cwd: dir, env: { TESSERA_STORE: a }, timeoutMs: 30_000 }));
    expect(Object.keys(r).sort()).toEqual(['copied', 'resumed', 'seconds', 'skipped']);
    expect(r).toMatchObject({ copied: 6, skipped: 0, resumed: false });
    expect(typeof r.seconds).toBe('number');
    expect(await liveIds(dir, b)).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
  });

  it('prints one summary line when not on a terminal', async () => {
    const { dir, a, b } = await stores();
    const out = ok(await tessera(['migrate', '--from', a, '--to', b, '--settle', '0'], { cwd: dir, timeoutMs: 30_000 }));
    expect(out).toMatch(/^copied 6 records in \d+\.\d s \(\d+\/s\), skipped 0\n$/);
  });

  it('Ctrl-C stops it, saying how to resume or undo; --abort undoes it', async () => {
    const { dir, a, b } = await stores();
    const line = expectOneLineFailure(await interrupted(dir, a, b));
    expect(line).toMatch(/interrupted/);
    expect(line).toMatch(/same command again/);
    expect(line).toMatch(/--abort/);
    expect(json(await tessera(['migrate', '--from', a, '--to', b, '--abort', '--settle', '0', '--json'], { cwd: dir }))).toEqual({ aborted: true });
    expect(json(await tessera(['migrate', '--from', a, '--abort', '--settle', '0', '--json'], { cwd: dir }))).toEqual({ aborted: false });
    expect(ok(await tessera(['migrate', '--from', a, '--abort', '--settle', '0'], { cwd: dir }))).toMatch(/no switch under way/);
    expect(await liveIds(dir, a)).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
  });

  it('the same command again resumes an interrupted switch', async () => {
    const { dir, a, b } = await stores();
    expectOneLineFailure(await interrupted(dir, a, b));
    const r = json(await tessera(['migrate', '--from', a, '--to', b, '--settle', '0', '--json'], { cwd: dir, timeoutMs: 30_000 }));
    expect(r.resumed).toBe(true);
    expect(r.copied + r.skipped).toBeGreaterThanOrEqual(6);
    expect(await liveIds(dir, b)).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
  });

  it('creates the tables of a PostgreSQL target before switching to it', async () => {
    const { dir, a } = await stores();
    const table = `${RUN}_${tables.length + 1}`;
    tables.push(table);
    const u = new URL(PG);
    u.searchParams.set('table', table);
    const r = json(await tessera(['migrate', '--from', a, '--to', u.toString(), '--settle', '0', '--json'], { cwd: dir, timeoutMs: 30_000 }));
    expect(r).toMatchObject({ copied: 6, skipped: 0, resumed: false });
    expect(await liveIds(dir, u.toString())).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
  });
});
