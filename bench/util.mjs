// Small helpers the bench scripts share: numeric settings from the environment, a free loopback port, time limits, messages, quantiles, the PostgreSQL probe.
import { createServer } from 'node:net';

/** A number from `process.env[name]`, or `def`; a bad value stops the script with a message naming the variable. */
export function envNumber(name, def, { min = 0, integer = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    console.error(`${name}=${raw} is not a valid value (expected ${integer ? 'an integer' : 'a number'} >= ${min})`);
    process.exit(2);
  }
  return n;
}

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

/** The first line of an error's message, for a one-line report. */
export const firstLine = err => String(err?.message ?? err).split('\n')[0].slice(0, 300);

/** A URL fit for a message: no user or password. */
export const redact = url => url.replace(/\/\/[^@/]*@/, '//***@');

/** `promise`, or a rejection naming `what` after `ms` milliseconds. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([promise, new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${what} timed out after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}

/** Nearest-rank quantile of a sorted array. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** A part of a bench that can't run here (a store that does not answer): reported as skipped, with the reason. */
export class Skip extends Error {}

/**
 * The stores named in env variable `name` (comma-separated, any case; unset or empty: all of `known`),
 * in `known`'s order; null (after printing why) when it names a store not in `known`.
 */
export function storesFromEnv(name, known) {
  const wanted = (process.env[name] || known.join(','))
    .split(',')
    .map(s => s.trim().toLowerCase())
    .filter(Boolean);
  const unknown = wanted.filter(s => !known.includes(s));
  if (unknown.length) {
    console.error(`${name}: unknown ${unknown.join(', ')} (known: ${known.join(', ')})`);
    return null;
  }
  return known.filter(s => wanted.includes(s));
}

/** A one-connection pool to PostgreSQL at `url` that answered `SELECT 1`; Skip when the pg package or the server is not there. */
export async function postgresPool(url) {
  let pg;
  try {
    pg = (await import('pg')).default;
  } catch (err) {
    throw new Skip(`the pg package did not load: ${firstLine(err)}`);
  }
  const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 3000 });
  pool.on('error', () => {});
  try {
    await withTimeout(pool.query('SELECT 1'), 5000, 'PostgreSQL probe');
  } catch (err) {
    await pool.end().catch(() => {});
    throw new Skip(`PostgreSQL not reachable at ${redact(url)}: ${firstLine(err)}`);
  }
  return pool;
}
