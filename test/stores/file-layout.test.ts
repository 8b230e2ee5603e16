/**
 * Upgrading a file-store directory written before the indexes existed (layout 1: `records/` only,
 * no `layout` file): the first open indexes every record in the background (calls scan the
 * directory meanwhile, and are right either way) and then writes `layout`, so users and logins are
 * found through the indexes from then on; later opens do not rebuild; a record an earlier version
 * wrote without index entries is re-indexed by purge.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { TokenRecord } from '@tessera/core/store';
import { FileStore } from '@tessera/store-file';

const root = mkdtempSync(join(tmpdir(), 'tessera-file-layout-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const T = Math.floor(Date.now() / 1000);
const hash = (v: string): string => createHash('sha256').update(v, 'utf8').digest('base64url');
const rid = (tag: string): string => `${tag}_${randomBytes(12).toString('base64url')}`;

/** A login in pair mode: the session and two generations of refresh tokens. */
function login(subject: string): TokenRecord[] {
  const sid = rid('ses');
  const head = rid('ref');
  const base = { subject, createdAt: T - 60, lastSeenAt: T - 30, expiresAt: T + 3600, revokedAt: null };
  return [
    { ...base, id: sid, kind: 'session', family: sid, user: { id: subject, name: `User ${subject}` } as TokenRecord['user'] },
    { ...base, id: rid('ref'), kind: 'refresh', family: sid, rotatedAt: T - 20, replacedBy: head, reuseCount: 0 },
    { ...base, id: head, kind: 'refresh', family: sid },
  ];
}

/** Writes a directory the way the previous version left it: one JSON file per record, the secret, nothing else. */
function writeLayout1(dir: string, records: TokenRecord[]): void {
  for (const d of ['records', 'tmp', 'locks', 'meta']) mkdirSync(join(dir, d), { recursive: true });
  for (const r of records) writeFileSync(join(dir, 'records', `${r.id}.json`), JSON.stringify(r));
  writeFileSync(join(dir, 'records', `${rid('bad')}.json`), '{"id": "half a rec'); // an unreadable file is left as it is
  writeFileSync(join(dir, 'secret'), 'an-older-secret');
}

/** Waits for the background indexing to finish (it writes the layout file last). */
async function indexed(dir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!existsSync(join(dir, 'layout'))) {
    if (Date.now() > deadline) throw new Error('the directory was not indexed within 10 s');
    await new Promise(r => setTimeout(r, 20));
  }
}

async function listAll(store: FileStore, subject: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ subject, cursor, limit: 2 });
    ids.push(...page.records.map(r => r.id));
    cursor = page.cursor;
  } while (cursor !== null);
  return ids.sort();
}

describe('file store: a directory from before the indexes', () => {
  it('is indexed on first open: users listed and revoked, logins ended, through the indexes', async () => {
    const dir = join(root, 'upgrade');
    const alice = [...login('alice'), ...login('alice')];
    const bob = login('bob');
    const api: TokenRecord = { id: rid('api'), kind: 'api', subject: 'bob', family: '', createdAt: T, lastSeenAt: T, expiresAt: null, revokedAt: null, secretHash: 'aGFzaA' };
    api.family = api.id;
    writeLayout1(dir, [...alice, ...bob, api]);
    expect(existsSync(join(dir, 'layout'))).toBe(false);

    const store = new FileStore({ dir, purgeInterval: false });
    expect(await listAll(store, 'alice')).toEqual(alice.map(r => r.id).sort()); // scanning or indexed: the same answer
    await indexed(dir);
    expect(readFileSync(join(dir, 'layout'), 'utf8').trim()).toBe('2');
    expect(readdirSync(join(dir, 'by-subject', hash('alice'))).sort()).toEqual(alice.map(r => r.id).sort());
    expect(readdirSync(join(dir, 'by-family', hash(alice[0]!.id))).sort()).toEqual([alice[1]!.id, alice[2]!.id].sort()); // the session is its own family
    await expect(store.initSecret('a-new-candidate')).resolves.toBe('an-older-secret');

    await expect(store.revoke({ family: alice[0]!.id }, T)).resolves.toBe(3);
    await expect(store.revoke({ subject: 'alice' }, T)).resolves.toBe(3);
    await expect(store.revoke({ subject: 'bob' }, T)).resolves.toBe(4);
    for (const r of [...alice, ...bob, api]) expect((await store.get(r.id))?.revokedAt).toBe(T);
    await expect(store.purgeExpired(T)).resolves.toBe(10);
    await store.close();
  });

  it('two stores opening it at once both index it (harmlessly), and later opens do not rebuild', async () => {
    const dir = join(root, 'twice');
    const carol = login('carol');
    writeLayout1(dir, carol);
    const a = new FileStore({ dir, purgeInterval: false });
    const b = new FileStore({ dir, purgeInterval: false });
    const [fromA, fromB] = await Promise.all([listAll(a, 'carol'), listAll(b, 'carol')]);
    expect(fromA).toEqual(carol.map(r => r.id).sort());
    expect(fromB).toEqual(fromA);
    await indexed(dir);
    await Promise.all([a.close(), b.close()]);

    // An entry removed by hand is not restored by opening again (the indexes are not rebuilt, and
    // list reads them, not the directory), but purge re-indexes the record it finds without one:
    // what a record written by an earlier version sharing the directory looks like.
    rmSync(join(dir, 'by-subject', hash('carol'), carol[2]!.id));
    const late = login('carol')[0]!;
    writeFileSync(join(dir, 'records', `${late.id}.json`), JSON.stringify(late));
    const c = new FileStore({ dir, purgeInterval: false });
    expect(await listAll(c, 'carol')).toEqual([carol[0]!.id, carol[1]!.id].sort());
    await expect(c.purgeExpired(T)).resolves.toBe(0);
    expect(await listAll(c, 'carol')).toEqual([...carol.map(r => r.id), late.id].sort());
    await expect(c.revoke({ subject: 'carol' }, T)).resolves.toBe(4);
    await c.close();
  });
});
