/**
 * The file store's purge: on its own timer (`purgeInterval`, default one hour, off with 0 or
 * false, stopped by close()), safe with several processes purging one directory at once, and
 * cleaning what crashes leave besides dead records: stray index entries, empty index directories,
 * old temp files. The two-process case runs the built package (dist/), so `tsc -b` runs first.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, describe, expect, it, jest } from '@jest/globals';
import type { TokenRecord } from '@tessera/core/store';
import { FileStore } from '@tessera/store-file';

const DIST = fileURLToPath(new URL('../../packages/store-file/dist/index.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'tessera-file-purge-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => join(root, String(n++));

const hash = (v: string): string => createHash('sha256').update(v, 'utf8').digest('base64url');
const rid = (tag: string): string => `${tag}_${randomBytes(12).toString('base64url')}`;
const nowSec = (): number => Math.floor(Date.now() / 1000);

function session(subject: string, over: Partial<TokenRecord> = {}): TokenRecord {
  const id = rid('ses');
  const t = nowSec();
  return { id, kind: 'session', subject, family: id, createdAt: t - 100, lastSeenAt: t - 50, expiresAt: t + 3600, revokedAt: null, user: { id: subject }, ...over };
}
function refresh(subject: string, family: string, over: Partial<TokenRecord> = {}): TokenRecord {
  const t = nowSec();
  return { id: rid('ref'), kind: 'refresh', subject, family, createdAt: t - 100, lastSeenAt: t - 50, expiresAt: t + 3600, revokedAt: null, ...over };
}

async function until(what: string, check: () => Promise<boolean>, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise(r => setTimeout(r, 50));
  }
}

const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

describe('file store: scheduled purge', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('purges dead records on its own every purgeInterval seconds, index entries included; close() stops it', async () => {
    const dir = fresh();
    const store = new FileStore({ dir, purgeInterval: 0.2 });
    const live = session('dora');
    const revoked = session('dora', { revokedAt: nowSec() - 1 });
    const expired = refresh('dora', live.id, { expiresAt: nowSec() - 1 });
    for (const r of [live, revoked, expired]) await store.put(r);
    // A purge deletes a record, then its index entries: wait for the whole of it, not just the records.
    await until(
      'the timer purged the dead records and their index entries',
      async () =>
        (await store.get(revoked.id)) === null &&
        (await store.get(expired.id)) === null &&
        files(join(dir, 'by-family')).length === 0 &&
        files(join(dir, 'by-subject', hash('dora'))).length === 1,
    );
    expect((await store.get(live.id))?.id).toBe(live.id);
    expect(files(join(dir, 'by-subject', hash('dora')))).toEqual([live.id]);
    expect(files(join(dir, 'by-family'))).toEqual([]); // the expired refresh token's entry, and its then empty directory

    await store.close();
    const other = new FileStore({ dir, purgeInterval: false });
    const dead = session('dora', { revokedAt: nowSec() - 1 });
    await other.put(dead);
    await new Promise(r => setTimeout(r, 1000)); // five intervals of the closed store
    expect((await other.get(dead.id))?.id).toBe(dead.id);
    await other.close();
  });

  it('defaults to one hour; 0 and false turn it off; anything else but seconds is refused', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    const dir = fresh();
    const store = new FileStore({ dir });
    const dead = session('erin', { revokedAt: nowSec() - 1 });
    await store.put(dead); // the first call arms the timer
    jest.advanceTimersByTime(50 * 60_000); // within the first interval (one hour, less 10% jitter at most)
    await new Promise(r => setImmediate(r));
    expect(existsSync(join(dir, 'records', `${dead.id}.json`))).toBe(true);
    jest.advanceTimersByTime(20 * 60_000); // past one hour and 10%
    jest.useRealTimers();
    await until('the hourly purge ran', async () => !existsSync(join(dir, 'records', `${dead.id}.json`)));
    await store.close();

    for (const off of [0, false] as const) {
      jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
      const quiet = new FileStore({ dir: fresh(), purgeInterval: off });
      const r = session('erin', { revokedAt: nowSec() - 1 });
      await quiet.put(r);
      jest.advanceTimersByTime(24 * 3600_000);
      jest.useRealTimers();
      await new Promise(res => setTimeout(res, 200));
      expect((await quiet.get(r.id))?.id).toBe(r.id);
      await quiet.close();
    }
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '60' as unknown as number, true as unknown as number]) {
      expect(() => new FileStore({ dir: fresh(), purgeInterval: bad })).toThrow(RangeError);
    }
  });

  it('removes stray index entries (record gone, or filed under another subject or family) once older than staleLockMs, empty index directories and old temp files; keeps the rest', async () => {
    const dir = fresh();
    const store = new FileStore({ dir, purgeInterval: false, staleLockMs: 5000 });
    const kept = session('fay');
    const chain = refresh('fay', kept.id);
    await store.put(kept);
    await store.put(chain);
    const past = new Date(Date.now() - 60_000);
    /** An entry as a crash leaves it: older than staleLockMs (younger ones may be an import's in flight). */
    const stray = (kind: 'subject' | 'family', value: string, id: string): string => {
      mkdirSync(join(dir, `by-${kind}`, hash(value)), { recursive: true });
      writeFileSync(join(dir, `by-${kind}`, hash(value), id), '');
      utimesSync(join(dir, `by-${kind}`, hash(value), id), past, past);
      return `by-${kind}/${hash(value)}/${id}`;
    };
    const young = stray('subject', 'fay', rid('importing'));
    utimesSync(join(dir, young), new Date(), new Date());
    const strays = [
      stray('subject', 'fay', rid('gone')), // a record that was never written, or purged
      stray('subject', 'ghost', kept.id), // filed under a subject the record no longer has
      stray('family', rid('fam'), chain.id), // under a family it does not belong to
      stray('family', kept.id, rid('gone')),
      stray('subject', 'fay', 'not an id'), // not a name this store writes
    ];
    const oldTmp = join(dir, 'tmp', 'left.by.a.crash');
    const newTmp = join(dir, 'tmp', 'being.written');
    writeFileSync(oldTmp, '{');
    writeFileSync(newTmp, '{');
    utimesSync(oldTmp, past, past);

    await expect(store.purgeExpired(nowSec())).resolves.toBe(0);
    for (const s of strays) expect({ s, there: existsSync(join(dir, s)) }).toEqual({ s, there: false });
    expect(files(join(dir, 'by-subject')).sort()).toEqual([hash('fay')]);
    expect(files(join(dir, 'by-subject', hash('fay'))).sort()).toEqual([chain.id, kept.id, young.split('/')[2]!].sort());
    expect(files(join(dir, 'by-family'))).toEqual([hash(kept.id)]);
    expect(files(join(dir, 'by-family', hash(kept.id)))).toEqual([chain.id]);
    expect(files(join(dir, 'tmp'))).toEqual(['being.written']);
    await expect(store.revoke({ family: kept.id }, nowSec())).resolves.toBe(2);
    await store.close();
  });

  it('two processes and this one purging one directory at once: each dead record deleted once, the live ones and their entries untouched', async () => {
    expect(existsSync(DIST)).toBe(true); // built by `tsc -b` before jest
    const dir = fresh();
    const store = new FileStore({ dir, purgeInterval: false, fsync: false });
    const t = nowSec();
    const live: TokenRecord[] = [];
    const dead: TokenRecord[] = [];
    for (let u = 0; u < 40; u++) {
      const s = session(`user${u}`);
      live.push(s, refresh(`user${u}`, s.id));
      const gone = session(`user${u}`, { revokedAt: t - 1 });
      dead.push(gone, refresh(`user${u}`, gone.id, { revokedAt: t - 1 }));
      for (let i = 0; i < 6; i++) dead.push(refresh(`user${u}`, s.id, { expiresAt: t - 1 - i }));
    }
    await expect(store.importRecords([...live, ...dead])).resolves.toBe(live.length + dead.length);

    const script = join(root, 'purger.mjs');
    writeFileSync(
      script,
      `import { FileStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
       const store = new FileStore({ dir: process.argv[2], purgeInterval: false });
       await store.countRecords();
       process.stdout.write('ready\\n');
       process.stdin.once('data', async () => {
         const n = await store.purgeExpired(Number(process.argv[3])).catch(e => 'error:' + (e.code ?? e.message));
         process.stdout.write(JSON.stringify(n) + '\\n');
         await store.close();
       });`,
    );
    const children = [0, 1].map(() => spawn(process.execPath, [script, dir, String(t)], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const lines = children.map(c => createInterface({ input: c.stdout })[Symbol.asyncIterator]());
    for (const l of lines) expect((await l.next()).value).toBe('ready');
    for (const c of children) c.stdin.write('go\n');
    const [mine, ...theirs] = await Promise.all([store.purgeExpired(t), ...lines.map(async l => JSON.parse((await l.next()).value as string) as number | string)]);
    for (const c of children) c.stdin.end();
    expect(theirs.every(x => typeof x === 'number')).toBe(true);
    expect(mine + (theirs as number[]).reduce((a, b) => a + b, 0)).toBe(dead.length);

    for (const r of dead) await expect(store.get(r.id)).resolves.toBeNull();
    for (const r of live) expect((await store.get(r.id))?.id).toBe(r.id);
    for (let u = 0; u < 40; u++) {
      const ids = (await store.list({ subject: `user${u}`, limit: 100 })).records.map(r => r.id).sort();
      expect(ids).toEqual(live.filter(r => r.subject === `user${u}`).map(r => r.id).sort());
      expect(files(join(dir, 'by-subject', hash(`user${u}`))).sort()).toEqual(ids);
    }
    expect(files(join(dir, 'by-family')).length).toBe(40); // the dead logins' directories are gone
    await store.close();
  }, 60_000);
});
