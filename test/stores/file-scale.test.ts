/**
 * The file store at scale: with N records in the directory (10,000 here; `pnpm soak` runs 100,000
 * via TESSERA_FILE_SCALE), ending one login (revoke by family), revoking a user and listing a user
 * cost about what they cost on an empty store, because they read the per-user and per-login
 * indexes, not the directory. The figures are printed; the bound is generous (under 50 ms, or
 * within 4x of the same calls on an empty store measured alongside) so a loaded 2-core machine
 * passes, while a directory scan (about 0.15 ms per record: 1.5 s at 10,000) fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { TokenRecord } from '@tessera/core/store';
import { FileStore } from '@tessera/store-file';

const N = Number(process.env.TESSERA_FILE_SCALE ?? 10_000);
/** Users measured per store; each op's figure is the median over them. */
const SAMPLES = 7;
const root = mkdtempSync(join(tmpdir(), 'tessera-file-scale-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const T = Math.floor(Date.now() / 1000);
const rid = (tag: string): string => `${tag}_${randomBytes(12).toString('base64url')}`;

/** One user's records, as a user with two logins in pair mode and an API token has them: five records. */
function userRecords(subject: string): TokenRecord[] {
  const base = { subject, createdAt: T - 60, lastSeenAt: T - 30, revokedAt: null };
  const s1 = rid('ses');
  const s2 = rid('ses');
  const api = rid('api');
  const head = rid('ref');
  return [
    { ...base, id: s1, kind: 'session', family: s1, expiresAt: T + 3600, user: { id: subject } },
    { ...base, id: rid('ref'), kind: 'refresh', family: s1, expiresAt: T + 3600, rotatedAt: T - 10, replacedBy: head, reuseCount: 0 },
    { ...base, id: head, kind: 'refresh', family: s1, expiresAt: T + 3600 },
    { ...base, id: s2, kind: 'session', family: s2, expiresAt: T + 3600, user: { id: subject } },
    { ...base, id: api, kind: 'api', family: api, expiresAt: null, secretHash: randomBytes(32).toString('base64url') },
  ];
}

/** Fills `dir` with `n` records of n/5 users through importRecords (the bulk path; it does not fsync). */
async function fill(dir: string, n: number): Promise<number> {
  const store = new FileStore({ dir, purgeInterval: false });
  const started = performance.now();
  let batch: TokenRecord[] = [];
  for (let u = 0; u < n / 5; u++) {
    batch.push(...userRecords(`user-${u}`));
    if (batch.length >= 1000) {
      await store.importRecords(batch);
      batch = [];
    }
  }
  if (batch.length) await store.importRecords(batch);
  await store.close();
  return performance.now() - started;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Figures {
  revokeFamily: number;
  revokeSubject: number;
  listSubject: number;
}

/** Times the three calls on SAMPLES users put into `dir` by a store with the default options (fsync on), as a server would open it. */
async function measure(dir: string): Promise<Figures> {
  const store = new FileStore({ dir, purgeInterval: false });
  const users = Array.from({ length: SAMPLES }, () => rid('target'));
  const records = users.map(userRecords);
  for (const rs of records) for (const r of rs) await store.put(r);
  const times: Record<keyof Figures, number[]> = { revokeFamily: [], revokeSubject: [], listSubject: [] };
  const time = async <R>(what: keyof Figures, fn: () => Promise<R>): Promise<R> => {
    const t0 = performance.now();
    const out = await fn();
    times[what].push(performance.now() - t0);
    return out;
  };
  for (let i = 0; i < SAMPLES; i++) {
    const subject = users[i]!;
    const listed = await time('listSubject', () => store.list({ subject, limit: 100 }));
    expect(new Set(listed.records.map(r => r.id))).toEqual(new Set(records[i]!.map(r => r.id)));
    await expect(time('revokeFamily', () => store.revoke({ family: records[i]![0]!.id }, T))).resolves.toBe(3);
    await expect(time('revokeSubject', () => store.revoke({ subject }, T))).resolves.toBe(2);
  }
  await store.close();
  return { revokeFamily: median(times.revokeFamily), revokeSubject: median(times.revokeSubject), listSubject: median(times.listSubject) };
}

describe(`file store with ${N.toLocaleString('en')} records`, () => {
  it('revoking a login or a user and listing a user cost about what they cost on an empty store', async () => {
    const full = join(root, 'full');
    const fillMs = await fill(full, N);
    const empty = await measure(join(root, 'empty'));
    const big = await measure(full);
    const store = new FileStore({ dir: full, purgeInterval: false });
    let t0 = performance.now();
    await expect(store.countRecords()).resolves.toBe(N + 5 * SAMPLES);
    const countMs = performance.now() - t0;
    t0 = performance.now();
    // Every sampled user's records were revoked by the measuring: purge deletes exactly those.
    await expect(store.purgeExpired(T)).resolves.toBe(5 * SAMPLES);
    const purgeMs = performance.now() - t0;
    await store.close();

    const row = (name: string, f: Figures): string =>
      `${name.padEnd(22)} revoke family ${f.revokeFamily.toFixed(1).padStart(6)} ms   revoke subject ${f.revokeSubject.toFixed(1).padStart(6)} ms   list subject ${f.listSubject.toFixed(1).padStart(6)} ms`;
    console.log(
      [
        `file store, ${N.toLocaleString('en')} records (${N / 5} users): importRecords ${Math.round(fillMs)} ms (${Math.round((N / fillMs) * 1000)} records/s)`,
        row('empty store:', empty),
        row(`${N.toLocaleString('en')} records:`, big),
        `countRecords ${Math.round(countMs)} ms; purgeExpired (whole directory, ${5 * SAMPLES} deleted) ${Math.round(purgeMs)} ms`,
      ].join('\n'),
    );
    for (const k of ['revokeFamily', 'revokeSubject', 'listSubject'] as const) {
      expect({ op: k, ms: big[k], ok: big[k] < 50 || big[k] < 4 * empty[k] }).toEqual({ op: k, ms: big[k], ok: true });
    }
  }, 600_000);
});
