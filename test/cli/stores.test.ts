/**
 * The `tessera` command against the server stores: `setup` creating PostgreSQL tables, sessions
 * and purge on PostgreSQL and Redis (each test in its own table or key prefix, removed after).
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { createClient } from 'redis';
import { PostgresStore } from '@tessera/store-postgres';
import { RedisStore } from '@tessera/store-redis';
import { assertBuilt, expectOneLineFailure, json, ok, populate, tempDir, tessera } from './support.js';

const PG = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN = `cli_${process.pid}_${randomBytes(3).toString('hex')}`;
let n = 0;
const tables: string[] = [];
const dir = tempDir();

// Every test spawns the bin a few times: generous, for a loaded machine.
jest.setTimeout(120_000);
beforeAll(assertBuilt);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const pool = new pg.Pool({ connectionString: PG });
  const c = createClient({ url: REDIS });
  try {
    for (const t of tables) await pool.query(`DROP TABLE IF EXISTS "${t}", "${t}_meta"`);
  } finally {
    await pool.end();
    // This run's keys only (never a flush: the server is shared).
    await c.connect();
    for await (const keys of c.scanIterator({ MATCH: `${RUN}*`, COUNT: 1000 })) if (keys.length > 0) await c.del(keys);
    await c.quit();
  }
});

/** `url` with one query parameter set. */
function withParam(url: string, name: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.toString();
}

function newTable(): string {
  const t = `${RUN}_${++n}`;
  tables.push(t);
  return t;
}

describe('PostgreSQL', () => {
  it('setup creates the tables, idempotently', async () => {
    const table = newTable();
    const url = withParam(PG, 'table', table);
    const exists = async () => {
      const pool = new pg.Pool({ connectionString: PG });
      try {
        return (await pool.query('SELECT to_regclass($1) AS t', [table])).rows[0].t as string | null;
      } finally {
        await pool.end();
      }
    };
    expect(await exists()).toBeNull();
    expect(ok(await tessera(['setup', '--store', url], { cwd: dir }))).toMatch(/tables ready/);
    expect(await exists()).toBe(table);
    expect(json(await tessera(['setup', '--json'], { cwd: dir, env: { TESSERA_STORE: url } }))).toEqual({ setup: true });
    // The tables work: an empty listing.
    expect(json(await tessera(['sessions', 'list', '--json', '--store', url], { cwd: dir }))).toEqual({ sessions: [] });
  });

  it('sessions list, revoke and purge', async () => {
    const table = newTable();
    const url = withParam(PG, 'table', table);
    const store = new PostgresStore({ url: PG, table });
    await store.setup();
    await populate(store);
    await store.close();
    const env = { TESSERA_STORE: url };
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir, env })).sessions.map((s: { id: string }) => s.id)).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
    expect(json(await tessera(['sessions', 'list', '--json', '--user', 'bob'], { cwd: dir, env })).sessions.map((s: { id: string }) => s.id)).toEqual(['s-bob-1']);
    expect(json(await tessera(['sessions', 'revoke', '--id', 's-alice-1', '--json'], { cwd: dir, env }))).toEqual({ revoked: 2 });
    expect(json(await tessera(['purge', '--json'], { cwd: dir, env }))).toEqual({ purged: 4 });
    expect(json(await tessera(['sessions', 'revoke', '--all', '--json'], { cwd: dir, env }))).toEqual({ revoked: 2 });
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir, env }))).toEqual({ sessions: [] });
  });

  it('an unreachable server: one line, password hidden', async () => {
    for (const cmd of [['setup'], ['sessions', 'list'], ['purge']]) {
      const line = expectOneLineFailure(await tessera([...cmd, '--store', 'postgres://tessera:hunter2@127.0.0.1:1/test?table=nowhere'], { cwd: dir }));
      expect(line).toMatch(/ECONNREFUSED/);
      expect(line).not.toContain('hunter2');
    }
  });
});

describe('Redis', () => {
  it('setup needs none; sessions list, revoke and purge', async () => {
    const prefix = `${RUN}:${++n}:`;
    const url = withParam(REDIS, 'prefix', prefix);
    const store = new RedisStore({ url: REDIS, prefix });
    await populate(store);
    await store.close();
    const env = { TESSERA_STORE: url };
    expect(ok(await tessera(['setup'], { cwd: dir, env }))).toMatch(/needs no setup/);
    const out = ok(await tessera(['sessions', 'list'], { cwd: dir, env }));
    expect(out.trim().split('\n').slice(1).map(l => l.split(/\s+/)[0])).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
    expect(json(await tessera(['sessions', 'list', '--json', '--user', 'alice'], { cwd: dir, env })).sessions).toHaveLength(2);
    expect(json(await tessera(['sessions', 'revoke', '--user', 'alice', '--json'], { cwd: dir, env }))).toEqual({ revoked: 3 });
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir, env })).sessions.map((s: { id: string }) => s.id)).toEqual(['s-bob-1']);
    const purged = json(await tessera(['purge', '--json'], { cwd: dir, env })).purged;
    expect(purged).toBeGreaterThanOrEqual(4); // the revoked ones; Redis may already have expired s-bob-old itself
    expect(json(await tessera(['keys', 'list', '--json'], { cwd: dir, env: { ...env, TESSERA_SECRET: 'x'.repeat(40) } })).keys).toHaveLength(1);
  });
});
