/**
 * The embedded default store: one JSON file per record in a directory.
 *
 * - Writes are atomic (write a temp file, then rename over the record).
 * - Read-modify-write operations (touch, rotate, countReuse, revoke) take a per-record lock file
 *   created with O_EXCL, so two processes sharing the directory (a shared volume) never lose an
 *   update and exactly one concurrent `rotate` wins.
 * - The instance secret is created with link(2), which fails if it exists: a create-if-absent
 *   that is atomic across processes. `importRecords` creates records the same way.
 * - Meta values (`getMeta` / `setMeta`) are files in `meta/`, apart from the records and the secret.
 */
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  checkLimit,
  StoreError,
  isLive,
  matchesQuery,
  matchesWhere,
  parseRecord,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core/store';

export interface FileStoreOptions {
  /** Directory for the records (created if missing). Default `./.tessera`. */
  dir?: string;
  /** Milliseconds a lock holder may keep a record locked before others treat the lock as stale. Default 10000. */
  staleLockMs?: number;
  /** Milliseconds to wait for a record lock before failing with a StoreError. Default 5000. */
  lockTimeoutMs?: number;
}

const ID_RE = /^[A-Za-z0-9_-]{1,200}$/;
/** Export scans remembered at once; an older scan's next page takes a fresh snapshot (still correct, see exportRecords). */
const MAX_SCANS = 8;
/** Files written at once by importRecords. */
const IMPORT_PARALLEL = 32;


/** A meta key as a file name: injective, and never `.`, `..` or a path (every byte outside [A-Za-z0-9_-%] is %-escaped). */
function metaName(key: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > 200) throw new RangeError('meta key must be a string of 1 to 200 characters');
  return encodeURIComponent(key).replace(/[^A-Za-z0-9_%-]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export class FileStore implements TokenStore {
  readonly dir: string;
  private readonly recordsDir: string;
  private readonly tmpDir: string;
  private readonly locksDir: string;
  private readonly metaDir: string;
  private readonly staleLockMs: number;
  private readonly lockTimeoutMs: number;
  private ready: Promise<void> | undefined;
  /** Export scans in progress: token -> the record ids when the scan began, sorted. */
  private readonly scans = new Map<string, string[]>();
  private closed = false;

  constructor(options: FileStoreOptions = {}) {
    this.dir = resolve(options.dir ?? '.tessera');
    this.recordsDir = join(this.dir, 'records');
    this.tmpDir = join(this.dir, 'tmp');
    this.locksDir = join(this.dir, 'locks');
    this.metaDir = join(this.dir, 'meta');
    this.staleLockMs = options.staleLockMs ?? 10_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
  }

  private async init(): Promise<void> {
    if (this.closed) throw new StoreError('file store is closed');
    this.ready ??= (async () => {
      for (const d of [this.recordsDir, this.tmpDir, this.locksDir, this.metaDir]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
    })().catch(err => {
      this.ready = undefined;
      throw err;
    });
    await this.ready;
  }

  private file(id: string): string {
    return join(this.recordsDir, `${id}.json`);
  }

  /** Runs `fn`, turning filesystem failures into StoreError (the core answers 503). */
  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      await this.init();
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`file store ${what} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  private async read(id: string): Promise<TokenRecord | null> {
    if (!ID_RE.test(id)) return null;
    let text: string;
    try {
      text = await fs.readFile(this.file(id), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const rec = parseRecord(text);
    return rec && rec.id === id ? rec : null;
  }

  private async write(record: TokenRecord): Promise<void> {
    if (!ID_RE.test(record.id)) throw new StoreError('file store: record id must be base64url');
    const tmp = join(this.tmpDir, `${record.id}.${randomBytes(6).toString('hex')}`);
    await fs.writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    try {
      await fs.rename(tmp, this.file(record.id));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /**
   * Writes `record` unless a record file with its id exists: a complete temp file is hard-linked
   * into place, and link(2) fails on an existing name, atomically across processes, so a
   * concurrent put or import is never overwritten and readers never see a partial file.
   */
  private async create(record: TokenRecord): Promise<boolean> {
    const tmp = join(this.tmpDir, `${record.id}.${randomBytes(6).toString('hex')}`);
    await fs.writeFile(tmp, JSON.stringify(record), { mode: 0o600 });
    try {
      await fs.link(tmp, this.file(record.id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Exclusive per-record lock across processes (O_EXCL lock file; stale locks are broken). */
  private async withLock<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const lock = join(this.locksDir, `${id}.lock`);
    const deadline = Date.now() + this.lockTimeoutMs;
    let delay = 1;
    for (;;) {
      try {
        const h = await fs.open(lock, 'wx');
        await h.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        try {
          const st = await fs.stat(lock);
          if (Date.now() - st.mtimeMs > this.staleLockMs) {
            await fs.rm(lock, { force: true });
            continue;
          }
        } catch {
          continue; // released meanwhile
        }
        if (Date.now() > deadline) throw new StoreError(`file store: record lock busy for ${this.lockTimeoutMs} ms`);
        await new Promise(r => setTimeout(r, delay));
        delay = Math.min(delay * 2, 20);
      }
    }
    try {
      return await fn();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.io('get', () => this.read(id));
  }

  put(record: TokenRecord): Promise<void> {
    return this.io('put', () => this.withLock(record.id, () => this.write(record)));
  }

  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    if (!ID_RE.test(id)) return Promise.resolve(false);
    return this.io('touch', () =>
      this.withLock(id, async () => {
        const rec = await this.read(id);
        if (!rec || rec.revokedAt !== null || (rec.expiresAt !== null && rec.expiresAt <= lastSeenAt)) return false;
        rec.lastSeenAt = Math.max(rec.lastSeenAt, lastSeenAt);
        if (expiresAt !== undefined) rec.expiresAt = expiresAt;
        await this.write(rec);
        return true;
      }),
    );
  }

  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    if (!ID_RE.test(usedId)) return Promise.resolve({ status: 'conflict', current: null });
    return this.io('rotate', () =>
      this.withLock(usedId, async (): Promise<RotateResult> => {
        const used = await this.read(usedId);
        if (used === null || !isLive(used, now) || used.rotatedAt != null) return { status: 'conflict', current: used };
        // Successor first: a crash in between leaves an unused successor, never a used token
        // marked rotated towards a successor that does not exist.
        await this.withLock(next.id, () => this.write(next));
        await this.write({ ...used, rotatedAt: now, replacedBy: next.id, reuseCount: 0 });
        return { status: 'rotated' };
      }),
    );
  }

  countReuse(id: string, limit: number): Promise<boolean> {
    if (!ID_RE.test(id)) return Promise.resolve(false);
    return this.io('countReuse', () =>
      this.withLock(id, async () => {
        const rec = await this.read(id);
        const count = rec?.reuseCount ?? 0;
        if (rec === null || count >= limit) return false;
        await this.write({ ...rec, reuseCount: count + 1 });
        return true;
      }),
    );
  }

  private async ids(): Promise<string[]> {
    const names = await fs.readdir(this.recordsDir);
    return names.filter(n => n.endsWith('.json')).map(n => n.slice(0, -5)).filter(id => ID_RE.test(id));
  }

  revoke(where: RevokeWhere, now: number): Promise<number> {
    return this.io('revoke', async () => {
      const ids = 'id' in where ? [where.id].filter(id => ID_RE.test(id)) : await this.ids();
      let n = 0;
      for (const id of ids) {
        if (!('id' in where)) {
          const peek = await this.read(id);
          if (!peek || peek.revokedAt !== null || !matchesWhere(peek, where)) continue;
        }
        const changed = await this.withLock(id, async () => {
          const rec = await this.read(id);
          if (!rec || rec.revokedAt !== null || !matchesWhere(rec, where)) return false;
          rec.revokedAt = now;
          await this.write(rec);
          return true;
        });
        if (changed) n++;
      }
      return n;
    });
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.io('list', async () => {
      const ids = (await this.ids()).sort();
      let i = 0;
      if (query.cursor) while (i < ids.length && ids[i]! <= query.cursor) i++;
      const records: TokenRecord[] = [];
      for (; i < ids.length && records.length < query.limit; i++) {
        const rec = await this.read(ids[i]!);
        if (rec && matchesQuery(rec, query)) records.push(rec);
      }
      return { records, cursor: i < ids.length && i > 0 ? ids[i - 1]! : null };
    });
  }

  purgeExpired(now: number): Promise<number> {
    return this.io('purgeExpired', async () => {
      let n = 0;
      for (const id of await this.ids()) {
        // Unreadable records are left alone: during a rolling upgrade they may be a newer
        // version's records, which this version must not delete.
        const raw = await this.read(id);
        if (!raw || isLive(raw, now)) continue;
        const removed = await this.withLock(id, async () => {
          const rec = await this.read(id);
          if (!rec || isLive(rec, now)) return false;
          await fs.rm(this.file(id), { force: true });
          return true;
        });
        if (removed) n++;
      }
      // Leftover temp files from a crashed writer.
      for (const t of await fs.readdir(this.tmpDir)) {
        const p = join(this.tmpDir, t);
        const st = await fs.stat(p).catch(() => null);
        if (st && Date.now() - st.mtimeMs > this.staleLockMs) await fs.rm(p, { force: true });
      }
      return n;
    });
  }

  /**
   * Pages through the record files in id order. The cursor is `<scan>:<last id>`: a scan keeps
   * the sorted ids of its start, so a record present throughout appears exactly once. When that
   * snapshot is gone (another process, a restart, more than MAX_SCANS scans), a fresh one is taken
   * and the scan goes on after the last id, which misses no record present throughout either.
   * Unreadable files are skipped.
   */
  exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    return this.io('exportRecords', async () => {
      checkLimit(limit);
      let token = '';
      let after: string | null = null;
      if (cursor !== null) {
        const m = /^([0-9a-f]{16}):([A-Za-z0-9_-]+)$/.exec(cursor);
        if (m === null) throw new RangeError('exportRecords: not a cursor of this store');
        [token, after] = [m[1]!, m[2]!];
      }
      let ids = this.scans.get(token);
      if (ids === undefined) {
        ids = (await this.ids()).sort();
        token = randomBytes(8).toString('hex');
        this.scans.set(token, ids);
        if (this.scans.size > MAX_SCANS) this.scans.delete(this.scans.keys().next().value as string);
      }
      let i = after === null ? 0 : ids.findIndex(id => id > after);
      if (i < 0) i = ids.length;
      const records: TokenRecord[] = [];
      while (i < ids.length && records.length < limit) {
        const chunk = ids.slice(i, i + limit - records.length);
        for (const rec of await Promise.all(chunk.map(id => this.read(id)))) if (rec) records.push(rec);
        i += chunk.length;
      }
      if (i < ids.length) return { records, cursor: `${token}:${ids[i - 1]!}` };
      this.scans.delete(token);
      return { records, cursor: null };
    });
  }

  /** Put-if-absent per record (see `create`), IMPORT_PARALLEL files at a time; returns how many were written. */
  importRecords(records: readonly TokenRecord[]): Promise<number> {
    return this.io('importRecords', async () => {
      if (records.some(r => !ID_RE.test(r.id))) throw new StoreError('file store: record id must be base64url');
      let n = 0;
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < records.length) if (await this.create(records[next++]!)) n++;
      };
      await Promise.all(Array.from({ length: Math.min(IMPORT_PARALLEL, records.length) }, worker));
      return n;
    });
  }

  /** The number of record files (exact; an unreadable file counts too). */
  countRecords(): Promise<number> {
    return this.io('countRecords', async () => (await this.ids()).length);
  }

  getMeta(key: string): Promise<string | null> {
    return this.io('getMeta', async () => {
      try {
        return await fs.readFile(join(this.metaDir, metaName(key)), 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw err;
      }
    });
  }

  /** Replaces the value atomically (temp file, then rename); null deletes it. */
  setMeta(key: string, value: string | null): Promise<void> {
    return this.io('setMeta', async () => {
      const target = join(this.metaDir, metaName(key));
      if (value === null) return fs.rm(target, { force: true });
      const tmp = join(this.tmpDir, `meta.${randomBytes(6).toString('hex')}`);
      await fs.writeFile(tmp, value, { mode: 0o600 });
      try {
        await fs.rename(tmp, target);
      } catch (err) {
        await fs.rm(tmp, { force: true });
        throw err;
      }
    });
  }

  initSecret(candidate: string): Promise<string> {
    return this.io('initSecret', async () => {
      const target = join(this.dir, 'secret');
      const tmp = join(this.tmpDir, `secret.${randomBytes(6).toString('hex')}`);
      await fs.writeFile(tmp, candidate, { mode: 0o600 });
      try {
        await fs.link(tmp, target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        await fs.rm(tmp, { force: true });
      }
      return (await fs.readFile(target, 'utf8')).trim();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function fileStore(options?: FileStoreOptions): FileStore {
  return new FileStore(options);
}

/**
 * The embedded default, decided here and only here: the framework packages and `@tessera/config`
 * use it when no store is named. A directory `./.tessera` beside the app (shareable by processes
 * on one host or a shared volume).
 */
export function defaultStore(): FileStore {
  return new FileStore();
}
