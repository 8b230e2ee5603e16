/**
 * The file store after a process is killed (SIGKILL) mid-write. First at exact points (the child
 * patches `fs.promises` to kill itself at one step of a rotation or a put), then at random points
 * of a busy writer, several times over. Afterwards the store opens, every record reads whole (its
 * old or new state), no family has two unrotated heads, every rotated token's successor exists,
 * the indexes hold every record, a dead process's locks are taken over at once (no wait for
 * `staleLockMs`), and a purge leaves no temp file, lock or stray index entry behind. `pnpm soak`
 * kills the busy writer 40 times instead of 8 (TESSERA_FILE_CRASH_ROUNDS).
 * The children run the built package (dist/), so `tsc -b` runs first.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parseRecord, type TokenRecord } from '@tessera/core/store';
import { FileStore } from '@tessera/store-file';

const DIST = fileURLToPath(new URL('../../packages/store-file/dist/index.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tessera-file-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const hash = (v: string): string => createHash('sha256').update(v, 'utf8').digest('base64url');
const rid = (tag: string): string => `${tag}_${randomBytes(12).toString('base64url')}`;
const T = Math.floor(Date.now() / 1000);
/** Kills of the busy writer (`pnpm soak`: 40). */
const ROUNDS = Number(process.env.TESSERA_FILE_CRASH_ROUNDS ?? 8);

/** Child for the exact points: arms a kill at one step, then runs one call. */
const POINT = `
import { promises } from 'node:fs';
const [dir, mode, arg] = process.argv.slice(2);
const a = JSON.parse(arg);
const die = () => { process.kill(process.pid, 'SIGKILL'); return new Promise(() => {}); };
const { rename, rm } = promises;
const ends = (p, tail) => String(p).replaceAll('\\\\', '/').endsWith(tail);
if (mode === 'rotate-before-mark') promises.rename = (from, to) => (ends(to, '/records/' + a.used + '.json') ? die() : rename(from, to));
if (mode === 'rotate-after-mark') promises.rm = (p, o) => (ends(p, '/locks/' + a.used + '.lock') ? die() : rm(p, o));
if (mode === 'put-before-record') promises.rename = (from, to) => (ends(to, '/records/' + a.record.id + '.json') ? die() : rename(from, to));
const { FileStore } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const store = new FileStore({ dir, purgeInterval: false });
if (mode.startsWith('rotate')) await store.rotate(a.used, a.next, a.now);
else await store.put(a.record);
process.stdout.write('finished without being killed\\n');
`;

/** Child for the random points: six loops of logins, imports, rotations, touches, revocations and subject moves, until killed. */
const CHURN = `
const [dir] = process.argv.slice(2);
const { FileStore } = await import(${JSON.stringify(pathToFileURL(DIST).href)});
const store = new FileStore({ dir, purgeInterval: false });
const SUBJECTS = ['u0', 'u1', 'u2', 'u3', 'u4', 'u5'];
const now = Math.floor(Date.now() / 1000);
const rid = tag => tag + '_' + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
const pick = xs => xs[Math.floor(Math.random() * xs.length)];
/** family -> its head (the unrotated refresh record); sessions by id. */
const heads = new Map();
const sessions = new Map();
for (const subject of SUBJECTS) {
  let cursor = null;
  do {
    const page = await store.list({ subject, cursor, limit: 500 });
    for (const r of page.records) {
      if (r.revokedAt !== null) continue;
      if (r.kind === 'refresh' && r.rotatedAt == null) heads.set(r.family, r);
      if (r.kind === 'session') sessions.set(r.id, r);
    }
    cursor = page.cursor;
  } while (cursor);
}
const login = () => {
  const subject = pick(SUBJECTS);
  const id = rid('ses');
  const s = { id, kind: 'session', subject, family: id, createdAt: now, lastSeenAt: now, expiresAt: now + 3600, revokedAt: null, user: { id: subject, n: Math.random() } };
  const r = { id: rid('ref'), kind: 'refresh', subject, family: id, createdAt: now, lastSeenAt: now, expiresAt: now + 3600, revokedAt: null };
  return [s, r];
};
process.stdout.write('ready\\n');
async function loop() {
  for (;;) {
    const x = Math.random();
    if (x < 0.4 && heads.size) {
      const head = pick([...heads.values()]);
      const next = { ...head, id: rid('ref'), createdAt: now, lastSeenAt: now };
      delete next.rotatedAt; delete next.replacedBy; delete next.reuseCount;
      const res = await store.rotate(head.id, next, now);
      if (res.status === 'rotated') heads.set(head.family, next);
      else if (heads.get(head.family) === head) heads.delete(head.family);
    } else if (x < 0.55) {
      const [s, r] = login();
      await store.put(s);
      await store.put(r);
      sessions.set(s.id, s);
      heads.set(s.id, r);
    } else if (x < 0.62) {
      const [s, r] = login();
      await store.importRecords([s, r]);
      sessions.set(s.id, s);
      heads.set(s.id, r);
    } else if (x < 0.75 && sessions.size) {
      await store.touch(pick([...sessions.keys()]), now + 1, now + 7200);
    } else if (x < 0.85 && heads.size) {
      const family = pick([...heads.keys()]);
      await store.revoke({ family }, now);
      heads.delete(family);
      sessions.delete(family);
    } else if (x < 0.88) {
      const subject = pick(SUBJECTS);
      await store.revoke({ subject }, now);
      for (const [f, h] of heads) if (h.subject === subject) heads.delete(f);
      for (const [id, s] of sessions) if (s.subject === subject) sessions.delete(id);
    } else if (sessions.size) {
      const s = sessions.get(pick([...sessions.keys()]));
      const subject = pick(SUBJECTS);
      const moved = { ...s, subject, user: { id: subject } };
      await store.put(moved);
      sessions.set(s.id, moved);
    }
  }
}
await Promise.all(Array.from({ length: 6 }, loop));
`;

function script(name: string, text: string): string {
  const path = join(root, name);
  if (!existsSync(path)) writeFileSync(path, text);
  return path;
}

/** Runs a child; resolves with how it ended and its output. `killAfterReadyMs`: SIGKILL it that long after it prints "ready". */
function run(file: string, args: string[], killAfterReadyMs?: number): Promise<{ signal: NodeJS.Signals | null; code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (killAfterReadyMs !== undefined && out.includes('ready\n') && !armed) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), killAfterReadyMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    // 'exit' comes after Node reaped the child, so its PID is gone (not a zombie) when the store looks.
    child.on('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

function refresh(subject: string, family: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return { id: rid('ref'), kind: 'refresh', subject, family, createdAt: T, lastSeenAt: T, expiresAt: T + 3600, revokedAt: null, ...over };
}

/** The records as the files hold them, bypassing the store: [id, parsed or null] (null = unreadable). */
function rawRecords(dir: string): Array<[string, TokenRecord | null]> {
  return readdirSync(join(dir, 'records'))
    .filter(f => f.endsWith('.json'))
    .map(f => [f.slice(0, -5), parseRecord(readFileSync(join(dir, 'records', f), 'utf8'))]);
}

/** Families with more than one live unrotated refresh record. */
function forks(records: Iterable<TokenRecord>): string[] {
  const heads = new Map<string, number>();
  for (const r of records) if (r.kind === 'refresh' && r.rotatedAt == null && r.revokedAt === null) heads.set(r.family, (heads.get(r.family) ?? 0) + 1);
  return [...heads].filter(([, n]) => n > 1).map(([f, n]) => `${f}: ${n} heads`);
}

const entry = (dir: string, kind: 'subject' | 'family', value: string, id: string): string => join(dir, `by-${kind}`, hash(value), id);
const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/** Index entries that point at a record absent or filed under another subject or family; and empty index directories. */
function strayEntries(dir: string): string[] {
  const out: string[] = [];
  for (const kind of ['subject', 'family'] as const) {
    for (const bucket of files(join(dir, `by-${kind}`))) {
      const ids = files(join(dir, `by-${kind}`, bucket));
      if (ids.length === 0) out.push(`by-${kind}/${bucket}: empty directory`);
      for (const id of ids) {
        const file = join(dir, 'records', `${id}.json`);
        const rec = existsSync(file) ? parseRecord(readFileSync(file, 'utf8')) : null;
        if (rec === null || hash(kind === 'subject' ? rec.subject : rec.family) !== bucket) out.push(`by-${kind}/${bucket}/${id}`);
      }
    }
  }
  return out;
}

describe('file store: a process killed mid-write', () => {
  it('killed between storing the successor and marking the used token: the successor is undone at open, and the lock is taken over at once', async () => {
    expect(existsSync(DIST)).toBe(true); // built by `tsc -b` before jest
    const dir = join(root, 'before-mark');
    const store = new FileStore({ dir, purgeInterval: false });
    const used = refresh('alice', rid('fam'));
    await store.put(used);
    await store.close();
    const next = refresh('alice', used.family);
    const child = await run(script('point.mjs', POINT), [dir, 'rotate-before-mark', JSON.stringify({ used: used.id, next, now: T })]);
    expect({ signal: child.signal, out: child.out }).toEqual({ signal: 'SIGKILL', out: '' });

    // As the crash left it: the successor stored, the used token not marked: two heads, and the intent in the lock.
    const raw = new Map(rawRecords(dir));
    expect(raw.get(next.id)?.id).toBe(next.id);
    expect(raw.get(used.id)?.rotatedAt ?? null).toBeNull();
    expect(forks([...raw.values()].filter((r): r is TokenRecord => r !== null))).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, 'locks', `${used.id}.lock`), 'utf8')).i).toMatchObject({ op: 'rotate', used: used.id, next: next.id });
    expect(existsSync(entry(dir, 'family', used.family, next.id))).toBe(true);

    const reopened = new FileStore({ dir, purgeInterval: false }); // default staleLockMs: 10 s
    const t0 = Date.now();
    await expect(reopened.get(next.id)).resolves.toBeNull();
    expect(Date.now() - t0).toBeLessThan(3000); // the dead holder's lock was taken over, not waited out
    expect(await reopened.get(used.id)).toMatchObject({ id: used.id, revokedAt: null });
    expect((await reopened.get(used.id))?.rotatedAt ?? null).toBeNull();
    expect(files(join(dir, 'locks'))).toEqual([]);
    expect(existsSync(entry(dir, 'family', used.family, next.id))).toBe(false);
    expect((await reopened.list({ subject: 'alice', limit: 10 })).records.map(r => r.id)).toEqual([used.id]);
    // The client retrying with the same refresh token rotates normally.
    const again = refresh('alice', used.family);
    await expect(reopened.rotate(used.id, again, T)).resolves.toEqual({ status: 'rotated' });
    expect(forks((await reopened.list({ subject: 'alice', limit: 10 })).records)).toEqual([]);
    await reopened.close();
  }, 60_000);

  it('killed mid-rotation while another process has the store open: that process\'s next purge undoes it', async () => {
    const dir = join(root, 'while-open');
    const store = new FileStore({ dir, purgeInterval: false });
    const used = refresh('dave', rid('fam'));
    await store.put(used); // opened: the recovery at open is behind it
    const next = refresh('dave', used.family);
    const child = await run(script('point.mjs', POINT), [dir, 'rotate-before-mark', JSON.stringify({ used: used.id, next, now: T })]);
    expect(child.signal).toBe('SIGKILL');
    expect(forks((await store.list({ subject: 'dave', limit: 10 })).records)).toHaveLength(1);
    await expect(store.purgeExpired(T)).resolves.toBe(0);
    expect((await store.list({ subject: 'dave', limit: 10 })).records.map(r => r.id)).toEqual([used.id]);
    expect(files(join(dir, 'locks'))).toEqual([]);
    await store.close();
  }, 60_000);

  it('killed after marking the used token, before releasing its lock: the rotation stands', async () => {
    const dir = join(root, 'after-mark');
    const store = new FileStore({ dir, purgeInterval: false });
    const used = refresh('bob', rid('fam'));
    await store.put(used);
    await store.close();
    const next = refresh('bob', used.family);
    const child = await run(script('point.mjs', POINT), [dir, 'rotate-after-mark', JSON.stringify({ used: used.id, next, now: T })]);
    expect(child.signal).toBe('SIGKILL');
    expect(existsSync(join(dir, 'locks', `${used.id}.lock`))).toBe(true);

    const reopened = new FileStore({ dir, purgeInterval: false });
    expect(await reopened.get(next.id)).toMatchObject({ id: next.id, revokedAt: null });
    expect(await reopened.get(used.id)).toMatchObject({ rotatedAt: T, replacedBy: next.id });
    expect(files(join(dir, 'locks'))).toEqual([]);
    expect(forks((await reopened.list({ subject: 'bob', limit: 10 })).records)).toEqual([]);
    await expect(reopened.revoke({ family: used.family }, T)).resolves.toBe(2);
    await reopened.close();
  }, 60_000);

  it('killed between a put\'s index entries and its record: the stray entries are skipped, and purge removes them', async () => {
    const dir = join(root, 'put');
    const record = refresh('carol', rid('fam'));
    const child = await run(script('point.mjs', POINT), [dir, 'put-before-record', JSON.stringify({ record })]);
    expect(child.signal).toBe('SIGKILL');
    expect(existsSync(entry(dir, 'subject', 'carol', record.id))).toBe(true);
    expect(existsSync(entry(dir, 'family', record.family, record.id))).toBe(true);
    expect(files(join(dir, 'tmp')).length).toBe(1); // the record's temp file, never renamed

    const store = new FileStore({ dir, purgeInterval: false, staleLockMs: 200 });
    await expect(store.get(record.id)).resolves.toBeNull();
    await expect(store.list({ subject: 'carol', limit: 10 })).resolves.toEqual({ records: [], cursor: null });
    await expect(store.revoke({ family: record.family }, T)).resolves.toBe(0);
    await new Promise(r => setTimeout(r, 300)); // the temp file's age passes staleLockMs
    await expect(store.purgeExpired(T)).resolves.toBe(0);
    expect(strayEntries(dir)).toEqual([]);
    expect(files(join(dir, 'by-subject'))).toEqual([]);
    expect(files(join(dir, 'tmp'))).toEqual([]);
    await store.close();
  }, 60_000);

  it(`killed at random points of a busy writer, ${ROUNDS} times: every record whole, no forked family, every successor there, indexes complete; purge leaves nothing behind`, async () => {
    const dir = join(root, 'churn');
    const churn = script('churn.mjs', CHURN);
    let seenForks = 0;
    let killedMidWrite = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const child = await run(churn, [dir], 150 + Math.floor(Math.random() * 450));
      expect({ round, signal: child.signal, err: child.err.slice(0, 500) }).toEqual({ round, signal: 'SIGKILL', err: '' });

      // As the kill left it, bypassing the store: no torn or empty record file.
      const raw = rawRecords(dir);
      expect(raw.filter(([, r]) => r === null).map(([id]) => id)).toEqual([]);
      seenForks += forks(raw.map(([, r]) => r!)).length;
      killedMidWrite += files(join(dir, 'locks')).filter(f => f.endsWith('.lock')).length > 0 ? 1 : 0;

      const store = new FileStore({ dir, purgeInterval: false });
      const records = (await Promise.all(raw.map(([id]) => store.get(id)))).filter((r): r is TokenRecord => r !== null);
      // Opening took over the dead writer's locks and undid its unfinished rotation, if any.
      expect(files(join(dir, 'locks')).filter(f => f.endsWith('.lock'))).toEqual([]);
      const now = rawRecords(dir).map(([, r]) => r!);
      expect({ round, forks: forks(now) }).toEqual({ round, forks: [] });
      const byId = new Map(now.map(r => [r.id, r]));
      const broken = now.filter(r => r.replacedBy != null && !byId.has(r.replacedBy)).map(r => `${r.id} -> ${r.replacedBy}`);
      expect({ round, broken }).toEqual({ round, broken: [] });
      // The indexes hold every record: a user's list and a login's revocation reach all of them.
      const subjects = new Set(now.map(r => r.subject));
      for (const subject of subjects) {
        const listed: string[] = [];
        let cursor: string | null = null;
        do {
          const page = await store.list({ subject, cursor, limit: 200 });
          listed.push(...page.records.map(r => r.id));
          cursor = page.cursor;
        } while (cursor !== null);
        expect({ round, subject, ids: new Set(listed) }).toEqual({ round, subject, ids: new Set(now.filter(r => r.subject === subject).map(r => r.id)) });
      }
      const unfiled = now.filter(r => r.family !== r.id && !existsSync(entry(dir, 'family', r.family, r.id))).map(r => r.id);
      expect({ round, unfiled }).toEqual({ round, unfiled: [] });
      expect(records.length).toBe(now.length);
      await store.close();
    }
    console.log(`file store crash test: ${ROUNDS} kills, ${killedMidWrite} while a lock was held, ${seenForks} forked families found before recovery (all undone at open)`);

    // Purge (temp files count as leftovers once older than staleLockMs) leaves no temp file, lock or stray entry.
    const store = new FileStore({ dir, purgeInterval: false, staleLockMs: 200 });
    await store.countRecords();
    await new Promise(r => setTimeout(r, 300));
    await store.purgeExpired(T);
    expect(files(join(dir, 'tmp'))).toEqual([]);
    expect(files(join(dir, 'locks'))).toEqual([]);
    expect(strayEntries(dir)).toEqual([]);
    for (const [id, r] of rawRecords(dir)) expect({ id, live: r !== null && r.revokedAt === null }).toEqual({ id, live: true });
    expect(statSync(join(dir, 'layout')).isFile()).toBe(true);
    await store.close();
  }, 60_000 + ROUNDS * 15_000);
});
