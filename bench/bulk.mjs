#!/usr/bin/env node
/**
 * Bulk-write bench: `putMany(records)` of BENCH_BULK_COUNT (default 100,000) session records into
 * every store that offers it, reported as records/s. Run by run.mjs at the end of a full run, by
 * `node bench/run.mjs --bulk`, or alone: `node bench/bulk.mjs`.
 *
 * Stores: RedisStore (@tessera/store-redis, redis://127.0.0.1:6379, a unique key prefix),
 * PostgresStore (@tessera/store-postgres, postgres://postgres@127.0.0.1:5432/test, a unique
 * table created by setup()), DynamoDbStore (@tessera/store-dynamodb, optional, against an
 * in-process dynalite on 127.0.0.1). A store whose package or putMany is not there yet, or whose
 * server is not reachable, is skipped with the reason. Everything written is deleted afterwards.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { POSTGRES_URL, REDIS_URL, assertLoopback, redisPrefix } from './scenarios.mjs';

const TIME_LIMIT_MS = 180_000;

class Skip extends Error {}

let awsNote = '';
/**
 * The AWS SDK prints a multi-line NodeVersionSupportWarning on Node < 22; keep it to one line
 * in the table's notes instead of in the middle of the output.
 */
async function quietAwsWarning(fn) {
  const original = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    const text = String(warning?.message ?? warning);
    const type = typeof rest[0] === 'string' ? rest[0] : rest[0]?.type;
    if (type === 'NodeVersionSupportWarning' || warning?.name === 'NodeVersionSupportWarning' || /will require node >=/i.test(text)) {
      awsNote = `AWS SDK: ${text.split('\n').slice(0, 2).join(' ').trim()}`;
      return;
    }
    return original.call(this, warning, ...rest);
  };
  try {
    return await fn();
  } finally {
    process.emitWarning = original;
  }
}

function firstLine(err) {
  return String(err?.message ?? err).split('\n')[0];
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function makeRecords(count, now = Math.floor(Date.now() / 1000)) {
  const tag = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  const records = new Array(count);
  for (let i = 0; i < count; i++) {
    const id = `bulk${tag}x${i.toString(36)}`;
    const subject = `user${i % 1000}`;
    records[i] = {
      id,
      kind: 'session',
      subject,
      family: id,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + 3600,
      revokedAt: null,
      user: { id: subject },
    };
  }
  return records;
}

async function importStore(pkg, exportName) {
  let mod;
  try {
    mod = await import(pkg);
  } catch (err) {
    throw new Skip(`${pkg} failed to load: ${firstLine(err)}`);
  }
  const Cls = mod[exportName];
  if (typeof Cls !== 'function') throw new Skip(`${pkg} does not export ${exportName} (yet)`);
  if (typeof Cls.prototype.putMany !== 'function') throw new Skip(`${exportName} has no putMany(records) (yet)`);
  return Cls;
}

/** Spot-checks that a few of the written records read back. */
async function spotCheck(store, records) {
  if (typeof store.get !== 'function') return;
  for (const i of [0, records.length >> 1, records.length - 1]) {
    const got = await store.get(records[i].id);
    if (!got || got.id !== records[i].id || got.subject !== records[i].subject) {
      throw new Error(`record ${i} (${records[i].id}) did not read back after putMany`);
    }
  }
}

// Each target: name, and open() -> { store, verify?(): string, cleanup(): Promise<string|void> }
const TARGETS = [
  {
    name: 'RedisStore',
    async open() {
      const RedisStore = await importStore('@tessera/store-redis', 'RedisStore');
      const { redisProblem, deleteByPrefix } = await import('./redis-util.mjs');
      const problem = await redisProblem(REDIS_URL);
      if (problem) throw new Skip(problem);
      const prefix = redisPrefix('bulk');
      const store = new RedisStore({ url: assertLoopback(REDIS_URL), prefix });
      if (typeof store.connect === 'function') await store.connect();
      return {
        store,
        async cleanup() {
          await store.close?.().catch(() => {});
          const n = await deleteByPrefix(REDIS_URL, prefix);
          return `deleted ${n.toLocaleString('en-US')} keys under ${prefix}`;
        },
      };
    },
  },
  {
    name: 'PostgresStore',
    async open() {
      const PostgresStore = await importStore('@tessera/store-postgres', 'PostgresStore');
      const table = `tessera_bulk_${process.pid}`;
      const store = new PostgresStore({ url: assertLoopback(POSTGRES_URL), table });
      const drop = async () => {
        if (!store.pool) return 'no pool to drop the table with: drop it by hand';
        await store.pool.query(`DROP TABLE IF EXISTS "${table}", "${table}_meta"`);
        return `dropped ${table}, ${table}_meta`;
      };
      try {
        await withTimeout(store.setup(), 30_000, 'setup()');
      } catch (err) {
        await drop().catch(() => {});
        await store.close?.().catch(() => {});
        throw new Skip(`postgres not usable at ${POSTGRES_URL}: ${firstLine(err)}`);
      }
      return {
        store,
        async verify(records) {
          if (!store.pool) return '';
          const { rows } = await store.pool.query(`SELECT count(*)::int AS n FROM "${table}"`);
          if (rows[0].n !== records.length) throw new Error(`table holds ${rows[0].n} rows, expected ${records.length}`);
          return `${rows[0].n.toLocaleString('en-US')} rows`;
        },
        async cleanup() {
          try {
            return await drop();
          } finally {
            await store.close?.().catch(() => {});
          }
        },
      };
    },
  },
  {
    name: 'DynamoDbStore',
    optional: true,
    async open() {
      const DynamoDbStore = await importStore('@tessera/store-dynamodb', 'DynamoDbStore');
      let dynalite;
      try {
        dynalite = (await import('dynalite')).default;
      } catch (err) {
        throw new Skip(`no local DynamoDB: dynalite failed to load (${firstLine(err)})`);
      }
      // In memory, in this process: the records/s includes dynalite's own CPU time.
      const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
      await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', err => (err ? reject(err) : resolve())));
      const endpoint = `http://127.0.0.1:${server.address().port}`;
      const stop = () => new Promise(resolve => server.close(() => resolve()));
      let store;
      try {
        store = new DynamoDbStore({
          endpoint,
          region: 'us-east-1',
          table: `tessera_bulk_${process.pid}`,
          accessKeyId: 'bench',
          secretAccessKey: 'bench',
        });
        if (typeof store.setup === 'function') await withTimeout(store.setup(), 30_000, 'setup()');
      } catch (err) {
        await store?.close?.().catch(() => {});
        await stop();
        throw new Skip(`DynamoDbStore could not be set up against dynalite: ${firstLine(err)}`);
      }
      return {
        store,
        verify: async () => (awsNote ? `note: ${awsNote}` : ''),
        async cleanup() {
          await store.close?.().catch(() => {});
          await stop();
          return 'in-memory dynalite stopped';
        },
      };
    },
  },
];

/** Runs every target; prints a table. Resolves false if a store failed after it was set up. */
export function runBulk(options) {
  return quietAwsWarning(() => bulk(options));
}

async function bulk({ count = Number(process.env.BENCH_BULK_COUNT ?? 100_000) } = {}) {
  if (!Number.isInteger(count) || count < 1) throw new Error(`BENCH_BULK_COUNT must be a positive integer, got ${count}`);
  console.log(`bulk write: putMany() of ${count.toLocaleString('en-US')} session records per store`);
  const rows = [];
  let ok = true;
  for (const target of TARGETS) {
    process.stdout.write(`  ${target.name.padEnd(16)} `);
    let handle;
    try {
      handle = await withTimeout(target.open(), 60_000, `${target.name} setup`);
    } catch (err) {
      const reason = err instanceof Skip ? err.message : `setup failed: ${firstLine(err)}`;
      console.log(`SKIPPED: ${reason}`);
      rows.push({ name: target.name, status: 'SKIPPED', reason });
      continue;
    }
    const records = makeRecords(count);
    let row;
    try {
      const t0 = process.hrtime.bigint();
      await withTimeout(handle.store.putMany(records), TIME_LIMIT_MS, 'putMany');
      const secs = Number(process.hrtime.bigint() - t0) / 1e9;
      await spotCheck(handle.store, records);
      const verified = handle.verify ? await handle.verify(records) : '';
      row = { name: target.name, status: 'ok', secs, rate: count / secs, reason: verified };
      console.log(`${Math.round(count / secs).toLocaleString('en-US')} records/s (${secs.toFixed(2)} s)`);
    } catch (err) {
      ok = false;
      row = { name: target.name, status: 'FAILED', reason: firstLine(err) };
      console.log(`FAILED: ${row.reason}`);
    } finally {
      try {
        const note = await withTimeout(handle.cleanup(), 120_000, `${target.name} cleanup`);
        if (note) (row ??= { name: target.name }).cleanup = note;
      } catch (err) {
        if (row) row.cleanup = `CLEANUP FAILED: ${firstLine(err)}`;
        ok = false;
      }
    }
    rows.push(row);
  }

  console.log('');
  console.log(`${'store'.padEnd(16)}  ${'records/s'.padStart(10)}  ${'seconds'.padStart(7)}  notes`);
  console.log(`${'-'.repeat(16)}  ${'-'.repeat(10)}  ${'-'.repeat(7)}  -----`);
  for (const r of rows) {
    const rate = r.status === 'ok' ? Math.round(r.rate).toLocaleString('en-US') : r.status;
    const secs = r.status === 'ok' ? r.secs.toFixed(2) : '-';
    const notes = [r.reason, r.cleanup].filter(Boolean).join('; ');
    console.log(`${r.name.padEnd(16)}  ${rate.padStart(10)}  ${secs.padStart(7)}  ${notes}`);
  }
  return ok;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  runBulk().then(
    ok => process.exit(ok ? 0 : 1),
    err => {
      console.error(err?.stack ?? err);
      process.exit(1);
    },
  );
}
