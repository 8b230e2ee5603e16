/**
 * The embedded default store: one JSON file per record in a directory.
 *
 * - Writes are atomic (write a temp file, then rename over the record).
 * - Read-modify-write operations (touch, rotate, countReuse, revoke) take a per-record lock file,
 *   created exclusively (link(2) of a temp file holding the owner), so two processes sharing the
 *   directory (a shared volume) never lose an update and exactly one concurrent `rotate` wins. A
 *   lock file names its holder; a lock whose holder died on this host is taken over at once
 *   (lib/lock.ts).
 * - Per-user and per-login indexes (`by-subject/`, `by-family/`, lib/record-index.ts) make revoking
 *   or listing a user, and ending a login, cost that user's or login's records, not the store's.
 * - Write order, so that a crash of the process or of the machine loses nothing that was answered
 *   and never leaves a record the indexes miss (fsync steps skipped with `fsync: false`):
 *     put:    index entries (directories synced) -> record temp file (synced) -> rename -> records
 *             directory synced -> entries of a previous subject/family removed;
 *     rotate: intent in the lock file (synced) -> successor as put -> used record marked (synced);
 *             a holder that dies before the mark leaves the intent, and whoever takes the lock
 *             over removes the successor, so a family never has two unrotated heads;
 *     revoke, countReuse: temp file synced -> rename -> records directory synced;
 *     touch:  not synced (a lost lastSeenAt/expiresAt update after a power loss is harmless);
 *     import: not synced (a bulk copy; a record lost to a power loss reads as absent, see create);
 *     purge:  record removed -> its index entries removed (a crash in between leaves entries that
 *             readers skip and the next purge removes).
 * - `purgeExpired` runs on a timer (`purgeInterval`, default hourly) in every process; it is
 *   idempotent, so processes sharing the directory may purge at the same time.
 * - The instance secret is created with link(2), which fails if it exists: a create-if-absent
 *   that is atomic across processes. `importRecords` creates records the same way.
 * - Meta values (`getMeta` / `setMeta`) are files in `meta/`, apart from the records and the secret.
 * - Attempt counters (`hit`) are files in `counters/`, changed under the same kind of lock.
 * - Change notices (`watch`): every record change is an entry change in `records/` (a rename, a
 *   link or a removal), which `fs.watch` (inotify) reports to every process on this machine
 *   watching the directory; lib/watch.ts maps `<id>.json` back to the id and fails closed.
 */
import { promises as fs } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  checkLimit,
  indexAfter,
  COUNTER_KEY_RE,
  StoreError,
  isLive,
  matchesQuery,
  matchesWhere,
  parseRecord,
  type ChangeListener,
  type HitResult,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core/store';
import { replaceFile, syncDir, syncDirs, writeTemp } from './lib/durable.js';
import { LAYOUT_VERSION, layoutVersion, rebuildLayout } from './lib/layout.js';
import { abandonedLocks, purgeBreakFiles, withLock as lockFile, type Held, type Intent, type LockOptions } from './lib/lock.js';
import { PurgeSchedule, purgeIntervalMs } from './lib/purge-schedule.js';
import { keyHash, RecordIndex } from './lib/record-index.js';
import { RecordsWatch } from './lib/watch.js';

export interface FileStoreOptions {
  /** Directory for the records (created if missing). Default `./.tessera`. */
  dir?: string;
  /**
   * Milliseconds a lock holder may keep a record locked before others treat the lock as stale and
   * take it over (a holder on another host; one that died on this host is taken over at once). Default 10000.
   */
  staleLockMs?: number;
  /** Milliseconds to wait for a record lock before failing with a StoreError. Default 5000. */
  lockTimeoutMs?: number;
  /**
   * Seconds between the store's own purges (`purgeExpired` with the current time: expired and
   * revoked records, stray index entries, ended counters, temp files and locks left by crashed
   * processes). Default 3600; 0 or false: off. Each process sharing the directory purges on its
   * own timer (unref'd, stopped by `close()`); purges are idempotent, so that is safe.
   */
  purgeInterval?: number | false;
  /**
   * Flush to disk (fsync) what must survive a power loss: puts, rotations, revocations and reuse
   * counts, and the index entries before their record. Default true; false trades that for speed
   * (a process crash still loses nothing).
   */
  fsync?: boolean;
}

const ID_RE = /^[A-Za-z0-9_-]{1,200}$/;
/** A file name in `records/` to the id of the record it holds; null for anything else. */
function recordIdOf(name: string): string | null {
  const id = name.endsWith('.json') ? name.slice(0, -5) : '';
  return ID_RE.test(id) ? id : null;
}
/** Tests only: `store[WATCHES]()` lists the store's watches (to inject a watcher error). Not part of the API. */
const WATCHES = Symbol.for('tessera.store-file.watches');
/** An index bucket name (a SHA-256, base64url), as kept in a rotation's intent. */
const HASH_RE = /^[A-Za-z0-9_-]{43}$/;
/** Records read (and revoked) at once by revoke, list and purge. */
const PARALLEL = 16;

/** Runs `fn` over `items`, at most `parallel` at a time. */
async function eachParallel<T>(items: readonly T[], parallel: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

/** How `write` makes a record durable. */
type Durability = 'durable' | 'flushed' | 'lazy';
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
  /** On this machine's disk: a secret generated into it is as safe as the server itself. */
  readonly local = true;
  readonly dir: string;
  private readonly recordsDir: string;
  private readonly tmpDir: string;
  private readonly locksDir: string;
  private readonly metaDir: string;
  private readonly countersDir: string;
  private readonly staleLockMs: number;
  private readonly lockTimeoutMs: number;
  private readonly fsync: boolean;
  private readonly index: RecordIndex;
  private readonly locks: LockOptions;
  /** countReuse calls of one record waiting for its lock together, by id and limit (see countReuse). */
  private readonly reuseBatches = new Map<string, { asked: number; granted: Promise<number> }>();
  private readonly schedule: PurgeSchedule;
  private ready: Promise<void> | undefined;
  /** Whether the directory's indexes are complete (layout 2); until then subject and family lookups scan the directory. */
  private indexed = false;
  /** The background indexing of a directory from an earlier version, while it runs. */
  private rebuilding: Promise<void> | undefined;
  /** Export scans in progress: token -> the record ids when the scan began, sorted. */
  private readonly scans = new Map<string, string[]>();
  /** The watches in force (`watch`), stopped by `close()`. */
  private readonly watches = new Set<RecordsWatch>();
  private closed = false;

  constructor(options: FileStoreOptions = {}) {
    this.dir = resolve(options.dir ?? '.tessera');
    this.recordsDir = join(this.dir, 'records');
    this.tmpDir = join(this.dir, 'tmp');
    this.locksDir = join(this.dir, 'locks');
    this.metaDir = join(this.dir, 'meta');
    this.countersDir = join(this.dir, 'counters');
    this.staleLockMs = options.staleLockMs ?? 10_000;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5_000;
    this.fsync = options.fsync ?? true;
    this.index = new RecordIndex(this.dir);
    this.locks = { dir: this.locksDir, tmpDir: this.tmpDir, staleMs: this.staleLockMs, timeoutMs: this.lockTimeoutMs, fsync: this.fsync };
    this.schedule = new PurgeSchedule(purgeIntervalMs(options.purgeInterval), () => this.purgeExpired(Math.floor(Date.now() / 1000)));
    Object.defineProperty(this, WATCHES, { value: () => [...this.watches] });
  }

  private async init(): Promise<void> {
    if (this.closed) throw new StoreError('file store is closed');
    this.ready ??= (async () => {
      for (const d of [this.recordsDir, this.tmpDir, this.locksDir, this.metaDir, this.countersDir, this.index.bySubject, this.index.byFamily]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
      this.indexed = (await layoutVersion(this.dir)) >= LAYOUT_VERSION;
      this.rebuildIndexes();
      await this.recoverLocks();
      this.schedule.start();
    })().catch(err => {
      this.ready = undefined;
      throw err;
    });
    await this.ready;
  }

  /**
   * A directory written before the indexes existed is indexed once, in the background, so opening
   * a large one does not hold up the first requests (they scan, as before, until it is done). A
   * failed rebuild is tried again by the next purge.
   */
  private rebuildIndexes(): void {
    if (this.indexed || this.rebuilding !== undefined || this.closed) return;
    this.rebuilding = rebuildLayout({
      root: this.dir,
      tmpDir: this.tmpDir,
      index: this.index,
      fsync: this.fsync,
      ids: () => this.ids(),
      read: id => this.read(id),
      checkOpen: () => this.checkOpen(),
    })
      .then(
        () => {
          this.indexed = true;
        },
        () => {},
      )
      .finally(() => {
        this.rebuilding = undefined;
      });
  }

  /** The candidate records of a subject or family: its index, or every record while the indexes are being built. */
  private async candidates(kind: 'subject' | 'family', value: string): Promise<string[]> {
    return this.indexed ? this.index.ids(kind, value) : (await this.ids()).sort();
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

  /**
   * Replaces the record's file: a temp file, then rename(2) over it, so a reader never sees half a
   * record. `durable`: the temp file is flushed before the rename and the records directory after
   * it (the write survives a power loss); `flushed`: the caller syncs the directory once for a
   * batch; `lazy`: neither. With `fsync: false` every write is lazy.
   */
  private async write(record: TokenRecord, durability: Durability): Promise<void> {
    if (!ID_RE.test(record.id)) throw new StoreError('file store: record id must be base64url');
    const sync = this.fsync && durability !== 'lazy';
    await replaceFile(this.tmpDir, record.id, this.file(record.id), JSON.stringify(record), sync);
    if (sync && durability === 'durable') await syncDir(this.recordsDir);
  }

  /**
   * A put under the record's lock, in the order that keeps the indexes complete whatever the
   * crash: the index entries first (their directories synced), then the record (durably), then,
   * when its subject or family changed, the entries of the previous ones. A crash in between leaves
   * at most an entry pointing at a record that is absent or elsewhere: readers skip it, purge removes it.
   */
  private async save(record: TokenRecord): Promise<void> {
    if (!ID_RE.test(record.id)) throw new StoreError('file store: record id must be base64url');
    const old = await this.read(record.id);
    const { changed } = await this.index.add(record.id, record.subject, record.family);
    if (this.fsync) await syncDirs(changed);
    await this.write(record, 'durable');
    if (old !== null && old.subject !== record.subject) await this.index.drop('subject', keyHash(old.subject), record.id);
    if (old !== null && old.family !== record.family) await this.index.drop('family', keyHash(old.family), record.id);
  }

  /**
   * Writes `record` unless a record file with its id exists: index entries first (as `save`), then
   * a complete temp file hard-linked into place; link(2) fails on an existing name, atomically
   * across processes, so a record present (or written meanwhile) is never overwritten and readers
   * never see a partial file. No lock (it would double the cost of a bulk copy): link is the atomic
   * step; a purge leaves entries younger than `staleLockMs` alone, and an entry that was there
   * before is checked again after the link (see sweepIndex); entries written for an id another
   * writer won are strays the purge removes. Nothing is flushed: a bulk copy at one fsync per record would be several times
   * slower, and what a power loss can cost is records that read as absent (their users sign in
   * again). An empty file (an unflushed write; no version writes one) counts as absent: it is
   * replaced here (under the lock) and removed by purge. The entries precede the link in time,
   * which file systems that journal metadata in order (ext4, XFS) keep after a crash; purge
   * re-indexes a record found without its entries.
   */
  private async create(record: TokenRecord): Promise<boolean> {
    const file = this.file(record.id);
    const present = async (): Promise<boolean | 'empty'> => {
      const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      });
      return st === null ? false : st.size > 0 || 'empty';
    };
    const before = await present();
    if (before === true) return false;
    const { existed } = await this.index.add(record.id, record.subject, record.family);
    const tmp = await writeTemp(this.tmpDir, record.id, JSON.stringify(record), false);
    try {
      if (before === 'empty') {
        return await this.withLock(record.id, async () => (await present()) === 'empty' && (await fs.rename(tmp, file), true));
      }
      await fs.link(tmp, file);
      // An entry that was there already (left by an earlier attempt) is old enough for a purge to
      // judge it stray between here and the link: check it again (see sweepIndex).
      if (existed && !(await this.index.has(record.id, record.subject, record.family))) await this.index.add(record.id, record.subject, record.family);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /** Exclusive per-record (or per-counter) lock across processes; a dead holder's unfinished rotation is undone first (lib/lock.ts). */
  private async withLock<T>(id: string, fn: (held: Held) => Promise<T>, meanwhile?: () => Promise<{ value: T } | undefined>): Promise<T> {
    return (await lockFile(this.locks, id, fn, intent => this.rollBack(intent), true, meanwhile)) as T;
  }

  /**
   * Undoes a rotation whose process died between storing the successor and marking the used
   * record: unless the used record points at the successor (the rotation committed), the successor
   * and its index entries go. Runs under the used record's lock; idempotent.
   */
  private async rollBack(intent: Intent): Promise<void> {
    const { op, used, next, s, f } = intent;
    if (op !== 'rotate' || !ID_RE.test(used ?? '') || !ID_RE.test(next ?? '')) return;
    if ((await this.read(used!))?.replacedBy === next) return;
    await this.withLock(next!, async () => {
      await fs.rm(this.file(next!), { force: true });
      if (this.fsync) await syncDir(this.recordsDir);
      if (HASH_RE.test(s ?? '') && HASH_RE.test(f ?? '')) await this.index.remove(next!, s!, f!);
    });
  }

  /** Takes over the locks that dead processes left, undoing their unfinished rotations (on open and in each purge). */
  private async recoverLocks(): Promise<void> {
    for (const name of await abandonedLocks(this.locks)) {
      // One lock that cannot be recovered now (busy again, a failing disk) must not stop the others: the next purge retries.
      await lockFile(this.locks, name, async () => {}, intent => this.rollBack(intent), false).catch(() => {});
    }
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.io('get', () => this.read(id));
  }

  put(record: TokenRecord): Promise<void> {
    return this.io('put', () => this.withLock(record.id, () => this.save(record)));
  }

  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    if (!ID_RE.test(id)) return Promise.resolve(false);
    const ended = (rec: TokenRecord): boolean => rec.revokedAt !== null || (rec.expiresAt !== null && rec.expiresAt <= lastSeenAt);
    return this.io('touch', () =>
      this.withLock(
        id,
        async () => {
          const rec = await this.read(id);
          if (!rec || ended(rec)) return false;
          rec.lastSeenAt = Math.max(rec.lastSeenAt, lastSeenAt);
          if (expiresAt !== undefined) rec.expiresAt = expiresAt;
          // Not synced: losing this update to a power loss only loses activity (the old state is whole and stricter).
          await this.write(rec, 'lazy');
          return true;
        },
        // Waiting on another writer of the record: an ended record stays ended, and one a concurrent
        // touch already brought to these times needs no write (the refreshes of many tabs at once).
        async () => {
          const rec = await this.read(id);
          if (!rec || ended(rec)) return { value: false };
          return rec.lastSeenAt >= lastSeenAt && (expiresAt === undefined || rec.expiresAt === expiresAt) ? { value: true } : undefined;
        },
      ),
    );
  }

  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    if (!ID_RE.test(usedId)) return Promise.resolve({ status: 'conflict', current: null });
    /** The conflict `used` makes, or null when it can still be rotated. */
    const lost = (used: TokenRecord | null): RotateResult | null =>
      used === null || !isLive(used, now) || used.rotatedAt != null ? { status: 'conflict', current: used } : null;
    return this.io('rotate', () =>
      this.withLock(
        usedId,
        async (held): Promise<RotateResult> => {
          const used = await this.read(usedId);
          if (used === null || lost(used) !== null) return lost(used)!;
          if (!ID_RE.test(next.id)) throw new StoreError('file store: record id must be base64url');
          // The intent first: if this process dies before the used record is marked, whoever takes
          // this lock over removes the successor (rollBack), so the family keeps one head.
          await held.intend({ op: 'rotate', used: usedId, next: next.id, s: keyHash(next.subject), f: keyHash(next.family) });
          try {
            // The successor before the mark: the used token is never marked rotated towards a
            // successor that does not exist (a client retrying within grace gets that successor).
            await this.withLock(next.id, () => this.save(next));
            await this.write({ ...used, rotatedAt: now, replacedBy: next.id, reuseCount: 0 }, 'durable');
          } catch (err) {
            await this.rollBack({ op: 'rotate', used: usedId, next: next.id, s: keyHash(next.subject), f: keyHash(next.family) }).catch(() => {});
            throw err;
          }
          return { status: 'rotated' };
        },
        // Waiting on another rotation of the same record: once it has marked the record, this one
        // has lost, and need not queue for the lock to learn it (many tabs refreshing at once).
        async () => {
          const conflict = lost(await this.read(usedId));
          return conflict === null ? undefined : { value: conflict };
        },
      ),
    );
  }

  /**
   * Counts a reuse under the record's lock with a synced write. The calls of this process waiting
   * for the lock together are counted together: one lock and one synced write for all of them (the
   * first `limit - count` asked get true), not one each in turn (50 tabs refreshing within grace at
   * once took 50 synced writes in a row, past the store timeout on a slow disk).
   */
  countReuse(id: string, limit: number): Promise<boolean> {
    if (!ID_RE.test(id)) return Promise.resolve(false);
    return this.io('countReuse', async () => {
      const key = `${id}\0${limit}`;
      let batch = this.reuseBatches.get(key);
      if (batch === undefined) {
        const b: { asked: number; granted: Promise<number> } = { asked: 0, granted: Promise.resolve(0) };
        b.granted = this.withLock(id, async () => {
          // Closed: calls from now on wait for the next lock.
          if (this.reuseBatches.get(key) === b) this.reuseBatches.delete(key);
          const rec = await this.read(id);
          const count = rec?.reuseCount ?? 0;
          const granted = rec === null ? 0 : Math.max(0, Math.min(b.asked, limit - count));
          // Synced: a count lost to a power loss would allow more reuses than maxReuse.
          if (granted > 0) await this.write({ ...rec!, reuseCount: count + granted }, 'durable');
          return granted;
        }).finally(() => {
          if (this.reuseBatches.get(key) === b) this.reuseBatches.delete(key);
        });
        this.reuseBatches.set(key, b);
        batch = b;
      }
      const slot = batch.asked++;
      return slot < (await batch.granted);
    });
  }

  /**
   * A fixed-window counter in `counters/<key>`, read and rewritten (temp file, then rename) under
   * the counter's lock, so concurrent hits from every process sharing the directory each count once.
   */
  hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    return this.io('hit', async () => {
      if (!COUNTER_KEY_RE.test(key)) throw new StoreError('file store: counter key must be [A-Za-z0-9:_-]');
      // ':' is not portable in file names; '.' can be in neither a key nor a record id, so no lock is shared with a record.
      const name = key.replaceAll(':', '.');
      const file = join(this.countersDir, name);
      return this.withLock(`counter.${name}`, async (): Promise<HitResult> => {
        const stored = await this.readCounter(file);
        if (stored !== null && stored.resetAt > now) {
          const next = { count: Math.max(0, stored.count + by), resetAt: stored.resetAt };
          if (next.count !== stored.count) await this.writeCounter(file, next);
          return next;
        }
        if (by <= 0) return { count: 0, resetAt: now };
        const fresh = { count: by, resetAt: now + windowSeconds };
        await this.writeCounter(file, fresh);
        return fresh;
      });
    });
  }

  /** A counter file's value; null when absent or unreadable (a new window then starts). */
  private async readCounter(file: string): Promise<HitResult | null> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const v = JSON.parse(text) as Partial<HitResult>;
      return Number.isSafeInteger(v.count) && Number.isSafeInteger(v.resetAt) ? { count: v.count!, resetAt: v.resetAt! } : null;
    } catch {
      return null;
    }
  }

  private async writeCounter(file: string, value: HitResult): Promise<void> {
    const tmp = join(this.tmpDir, `counter.${randomBytes(6).toString('hex')}`);
    await fs.writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
    try {
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  /** Deletes the counters whose window ended at `now` (each under its lock, so a hit in progress is never lost). */
  private async purgeCounters(now: number): Promise<void> {
    for (const name of await fs.readdir(this.countersDir)) {
      const file = join(this.countersDir, name);
      const peek = await this.readCounter(file);
      if (peek !== null && peek.resetAt > now) continue;
      await this.withLock(`counter.${name}`, async () => {
        const c = await this.readCounter(file);
        if (c === null || c.resetAt <= now) await fs.rm(file, { force: true });
      });
    }
  }

  private async ids(): Promise<string[]> {
    const names = await fs.readdir(this.recordsDir);
    return names.filter(n => n.endsWith('.json')).map(n => n.slice(0, -5)).filter(id => ID_RE.test(id));
  }

  /** The record's file as it stands: absent, unreadable (garbage, or a newer version's), or the record. */
  private async readState(id: string): Promise<TokenRecord | 'absent' | 'unreadable'> {
    const rec = await this.read(id);
    if (rec !== null) return rec;
    return (await fs.access(this.file(id)).then(() => true, () => false)) ? 'unreadable' : 'absent';
  }

  /**
   * By subject or family: the records that index lists (each read and checked, so a stray entry
   * changes nothing); by id: that record; all: every record file. Each is revoked under its lock
   * with its temp file synced, and the records directory is synced once before returning.
   */
  revoke(where: RevokeWhere, now: number): Promise<number> {
    return this.io('revoke', async () => {
      const ids =
        'id' in where
          ? [where.id].filter(id => ID_RE.test(id))
          : 'subject' in where
            ? await this.candidates('subject', where.subject)
            : 'family' in where
              ? await this.candidates('family', where.family)
              : await this.ids();
      let n = 0;
      await eachParallel(ids, PARALLEL, async id => {
        if (!('id' in where)) {
          const peek = await this.read(id);
          if (!peek || peek.revokedAt !== null || !matchesWhere(peek, where)) return;
        }
        const changed = await this.withLock(id, async () => {
          const rec = await this.read(id);
          if (!rec || rec.revokedAt !== null || !matchesWhere(rec, where)) return false;
          rec.revokedAt = now;
          await this.write(rec, 'flushed');
          return true;
        });
        if (changed) n++;
      });
      if (n > 0 && this.fsync) await syncDir(this.recordsDir);
      return n;
    });
  }

  /** With a subject, that user's index (cost: the user's records); without, every record file. In id order; the cursor is the last id looked at. */
  list(query: ListQuery): Promise<ListPage> {
    return this.io('list', async () => {
      const ids = query.subject !== undefined ? await this.candidates('subject', query.subject) : (await this.ids()).sort();
      let i = indexAfter(ids, query.cursor);
      const records: TokenRecord[] = [];
      // Read in chunks no larger than what the page still needs, so a page never overshoots its limit.
      while (i < ids.length && records.length < query.limit) {
        const chunk = ids.slice(i, i + Math.min(PARALLEL, query.limit - records.length));
        for (const rec of await Promise.all(chunk.map(id => this.read(id)))) if (rec && matchesQuery(rec, query)) records.push(rec);
        i += chunk.length;
      }
      return { records, cursor: i < ids.length && i > 0 ? ids[i - 1]! : null };
    });
  }

  /**
   * Deletes the records dead at `now` (revoked, or expired), each under its lock, then its index
   * entries. Also: takes over locks of dead processes (undoing their unfinished rotations),
   * re-indexes live records missing an index entry (written by an earlier version sharing the
   * directory), removes index entries whose record is gone or moved and empty index directories,
   * ended counters, and temp files and break files older than `staleLockMs`. Idempotent, so several
   * processes may purge at once. Stops early when the store is closed.
   */
  purgeExpired(now: number): Promise<number> {
    return this.io('purgeExpired', async () => {
      this.rebuildIndexes();
      await this.recoverLocks();
      let n = 0;
      /** The live records seen: id -> the start of their subject and family hashes, for the index sweep. */
      const live = new Map<string, string>();
      await eachParallel(await this.ids(), PARALLEL, async id => {
        this.checkOpen();
        // Unreadable records are left alone: during a rolling upgrade they may be a newer
        // version's records, which this version must not delete.
        const raw = await this.read(id);
        if (!raw) return this.dropEmpty(id);
        if (isLive(raw, now)) {
          live.set(id, `${keyHash(raw.subject).slice(0, 12)}${keyHash(raw.family).slice(0, 12)}`);
          if (this.indexed && !(await this.index.has(id, raw.subject, raw.family))) await this.withLock(id, () => this.reindex(id));
          return;
        }
        const removed = await this.withLock(id, async () => {
          const rec = await this.read(id);
          if (!rec || isLive(rec, now)) return false;
          await fs.rm(this.file(id), { force: true });
          await this.index.remove(id, keyHash(rec.subject), keyHash(rec.family));
          return true;
        });
        if (removed) n++;
      });
      await this.sweepIndex(live);
      await this.purgeCounters(now);
      // Leftover temp files from a crashed writer.
      for (const t of await fs.readdir(this.tmpDir)) {
        const p = join(this.tmpDir, t);
        const st = await fs.stat(p).catch(() => null);
        if (st && Date.now() - st.mtimeMs > this.staleLockMs) await fs.rm(p, { force: true });
      }
      await purgeBreakFiles(this.locks);
      return n;
    });
  }

  /** Removes the record file if it is empty and older than `staleLockMs`: what a power loss leaves of an unflushed write (no version writes an empty record). */
  private async dropEmpty(id: string): Promise<void> {
    const old = async (): Promise<boolean> => {
      const st = await fs.stat(this.file(id)).catch(() => null);
      return st !== null && st.size === 0 && Date.now() - st.mtimeMs > this.staleLockMs;
    };
    if (await old()) await this.withLock(id, async () => (await old()) && fs.rm(this.file(id), { force: true }));
  }

  private checkOpen(): void {
    if (this.closed) throw new StoreError('file store is closed');
  }

  /** Adds the index entries of a present record (under its lock). */
  private async reindex(id: string): Promise<void> {
    const rec = await this.read(id);
    if (rec === null) return;
    const { changed } = await this.index.add(id, rec.subject, rec.family);
    if (this.fsync) await syncDirs(changed);
  }

  /**
   * Removes the index entries whose record is absent or has another subject or family (left by a
   * crash, a failed write, or a put that moved the record), then each index directory left empty.
   * An entry not explained by the live records seen is judged under its record's lock, because
   * put and rotate add entries before the record, under that lock; and only once older than
   * `staleLockMs`, because imports add them without it.
   */
  private async sweepIndex(live: Map<string, string>): Promise<void> {
    for await (const [kind, hash] of this.index.buckets()) {
      this.checkOpen();
      const entries = await this.index.entries(kind, hash);
      const at = kind === 'subject' ? 0 : 12;
      let gone = 0;
      for (const id of entries) {
        if (live.get(id)?.slice(at, at + 12) === hash.slice(0, 12)) continue;
        if (!ID_RE.test(id)) {
          await this.index.drop(kind, hash, id).catch(() => {}); // not an entry this store writes
          gone++;
          continue;
        }
        const filedHere = (state: TokenRecord | 'absent' | 'unreadable'): boolean =>
          state === 'unreadable' || (state !== 'absent' && keyHash(kind === 'subject' ? state.subject : state.family) === hash);
        // Young entries may belong to an import in flight (imports take no lock): left for the next purge.
        const written = await this.index.writtenAt(kind, hash, id);
        if (written !== null && Date.now() - written <= this.staleLockMs) continue;
        const dropped = await this.withLock(id, async () => {
          if (filedHere(await this.readState(id))) return false;
          await this.index.drop(kind, hash, id);
          // An import (which takes no lock) reusing this old entry may have linked the record
          // meanwhile: read again after the removal, and put the entry back if it belongs. Either
          // this read sees the record, or the import's own check after its link sees the entry
          // gone and adds it again. (An import stalled past staleLockMs between a new entry and
          // its link is re-indexed by the next purge.)
          const after = await this.readState(id);
          if (!filedHere(after)) return true;
          if (after !== 'unreadable' && after !== 'absent') await this.index.add(id, after.subject, after.family);
          return false;
        });
        if (dropped) gone++;
      }
      if (gone === entries.length) await this.index.dropIfEmpty(kind, hash);
    }
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
      await eachParallel(records, IMPORT_PARALLEL, async record => {
        if (await this.create(record)) n++;
      });
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
      // Synced: a secret lost to a power loss would end every session.
      const tmp = await writeTemp(this.tmpDir, 'secret', candidate, this.fsync);
      try {
        await fs.link(tmp, target);
        if (this.fsync) await syncDir(this.dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        await fs.rm(tmp, { force: true });
      }
      return (await fs.readFile(target, 'utf8')).trim();
    });
  }

  /**
   * Change notices for the record cache, from every process on this machine sharing the directory
   * (this one's writes included): `fs.watch` on `records/` (lib/watch.ts). Resolves once the
   * watch is set; rejects on a network file system (changes made on other machines send no
   * event) or when the watch cannot be set (inotify limits). `state(false)` when notices may be
   * missed (watcher error, directory replaced, changes seen without events), `state(true)` once a
   * new watch works; `changed(null)` when events may have been dropped (a burst, a stalled loop).
   */
  watch(listener: ChangeListener): Promise<() => Promise<void>> {
    return this.io('watch', async () => {
      const w = new RecordsWatch(this.recordsDir, listener, recordIdOf);
      await w.start();
      if (this.closed) {
        w.stop();
        throw new StoreError('file store is closed');
      }
      this.watches.add(w);
      return async () => {
        w.stop();
        this.watches.delete(w);
      };
    });
  }

  /** Stops the purge timer (waiting for a purge in progress, which stops early) and every watch, and fails every later call. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    await this.schedule.stop();
    await this.rebuilding;
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
