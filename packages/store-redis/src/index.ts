/**
 * Redis store: one JSON value per record, indexes per subject and per family, and every
 * read-modify-write (touch, rotate, countReuse, revoke, purge) in a Lua script so it is atomic
 * across all the servers sharing the instance. Works with a node-redis (v4+) or an ioredis client,
 * or connects itself from a `redis://` / `rediss://` URL.
 *
 * Keys (prefix default `tessera:`):
 *   `<prefix>r:<id>`       record JSON, expiring two minutes after its `expiresAt` (no TTL when null;
 *                          see KEY_MARGIN_SECONDS: the caller's `now` judges expiry, Redis collects)
 *   `<prefix>s:<subject>`  set of record ids of one user
 *   `<prefix>f:<family>`   set of the other record ids of one login (refresh tokens); the login's
 *                          root record, whose id is the family (the session), is not listed
 *   `<prefix>secret`       the auto-generated instance secret (SET NX)
 *   `<prefix>m:<key>`      a meta value (getMeta / setMeta)
 *   `<prefix>c:<key>`      an attempt counter (hit): a hash { count, resetAt }, expiring with its window
 *
 * Change notices (`watch`): a connection of their own per watch tracks `<prefix>r:` with Redis
 * client-side caching in broadcasting mode (CLIENT TRACKING ... BCAST) and maps the invalidated
 * keys back to record ids; lib/watch.ts, which also fails closed when that connection drops.
 */
import { ConfigError } from '@tessera/core';
import {
  checkLimit,
  indexAfter,
  COUNTER_KEY_RE,
  StoreError,
  matchesQuery,
  type ChangeListener,
  type HitResult,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core/store';
import { commandsFor, commandsForUrl, type Commands, type RedisClientLike } from './lib/conn.js';
import { isIoRedisCluster, isNodeRedisCluster } from './lib/cluster-conn.js';
import { decodeRecord, encodeRecord } from './lib/codec.js';
import { DecodeCache, escapeGlob, expiryArg, isNoScript, keepWatch, reason, toArray, toStrings } from './lib/util.js';
import { resolveTls, type RedisTlsOptions } from './lib/tls.js';
import { clientLinks, TrackingWatch, urlLinks, type LinkSource } from './lib/watch.js';
import { CLEAN_INDEX, COUNT, COUNT_REUSE, HIT, IMPORT, INIT_SECRET, PURGE, PUT, PUT_MANY, REVOKE, ROTATE, TOUCH, type Script } from './lib/scripts.js';

export type { RedisClientLike, NodeRedisClientLike, IoRedisClientLike } from './lib/conn.js';
export type { RedisTlsOptions, PemInput } from './lib/tls.js';
export { RedisClusterStore, redisClusterStore, type RedisClusterStoreOptions, type RedisClusterClientLike, type NodeRedisClusterLike, type IoRedisClusterLike, type NodeRedisMasterLike } from './cluster.js';

export interface RedisStoreOptions {
  /**
   * A connected node-redis (v4+) or ioredis client. The store never closes it. Commands fail at
   * once (STORE_UNAVAILABLE) while it is not connected instead of waiting in its offline queue.
   */
  client?: RedisClientLike;
  /**
   * `redis://[user:password@]host[:port][/db]` or `rediss://...` (TLS): the store owns this connection.
   * A `rediss://` URL may carry the `tls` settings as query parameters:
   * `?ca=/path/ca.pem&cert=/path/client.pem&key=/path/client.key&servername=name&rejectUnauthorized=false`.
   */
  url?: string;
  /**
   * TLS settings for a `rediss://` URL (URL only): CA, client certificate and key (mutual TLS),
   * servername, rejectUnauthorized (default true). Fields given here win over the URL's. Default:
   * the server's certificate must chain to Node's bundled CAs and name the URL's host.
   * With `client`, configure TLS on your client instead.
   */
  tls?: RedisTlsOptions;
  /** Key prefix, so several apps can share one Redis. Default `tessera:`. */
  prefix?: string;
  /** Milliseconds to wait for the connection, TCP/TLS and handshake (URL only). Default 2000. */
  connectTimeoutMs?: number;
}

const SCAN_COUNT = '1000';
/**
 * putMany and importRecords: records per script call, and script calls in flight on the connection.
 * A call of 250 blocks Redis for 1 to 2 ms; against 100, sending a record costs Node about 1.4 µs
 * instead of 1.9 (measured), and Node's CPU bounds a switch into Redis as much as Redis's does.
 */
const PUT_PER_CALL = 250;
const PUT_IN_FLIGHT = 4;
/** countRecords: SCAN steps (of SCAN_COUNT keys) per script call, which blocks Redis for a few ms at most. */
const COUNT_STEPS = '20';
/** exportRecords: the cursor state once the SCAN is complete. */
const SCAN_DONE = '';

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}


/**
 * An export cursor: the SCAN cursor alone, or (when a SCAN reply overran the page) a JSON array of
 * the SCAN cursor (SCAN_DONE once complete) and the ids scanned but not yet returned.
 */
function parseExportCursor(cursor: string | null): { scan: string; ids: string[] } {
  if (cursor === null) return { scan: '0', ids: [] };
  if (/^[1-9]\d*$/.test(cursor)) return { scan: cursor, ids: [] };
  let v: unknown;
  try {
    v = JSON.parse(cursor);
  } catch {
    v = null;
  }
  if (!Array.isArray(v) || v.length < 2 || !v.every(x => typeof x === 'string') || !/^(\d*)$/.test(v[0])) {
    throw new RangeError('exportRecords: not a cursor of this store');
  }
  return { scan: v[0], ids: v.slice(1) };
}

/** Tests only: `store[WATCHES]()` lists the store's watches (their connection name and client id). Not part of the API. */
const WATCHES = Symbol.for('tessera.store-redis.watches');

export class RedisStore implements TokenStore {
  readonly prefix: string;
  private readonly cmd: Commands;
  /** Where watch connections come from, or why there can be none. */
  private readonly links: LinkSource | Error;
  /** The watches in force (`watch`), stopped by `close()`. */
  private readonly watches = new Set<TrackingWatch>();
  private closed = false;

  constructor(options: RedisStoreOptions) {
    const prefix = options.prefix ?? 'tessera:';
    if (typeof prefix !== 'string') throw new ConfigError('store.prefix', 'must be a string');
    this.prefix = prefix;
    if (options.client !== undefined && options.url !== undefined) throw new ConfigError('store', 'give the Redis store either `client` or `url`, not both');
    if (options.client !== undefined) {
      if (options.tls !== undefined) throw new ConfigError('store.tls', 'applies to a connection the store makes from `url`; configure TLS on your own client');
      // Cluster clients also pass the single-client checks: node-redis's would then fail every command, ioredis's every two-key script.
      if (isNodeRedisCluster(options.client) || isIoRedisCluster(options.client)) {
        throw new ConfigError('store.client', 'is a Redis Cluster client: use RedisClusterStore (redisClusterStore) for a cluster');
      }
      this.cmd = commandsFor(options.client);
      this.links = clientLinks(options.client);
    } else {
      if (typeof options.url !== 'string' || !/^rediss?:\/\//i.test(options.url)) {
        throw new ConfigError('store.url', 'must be a redis:// or rediss:// URL');
      }
      const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
      if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs < 1) throw new ConfigError('store.connectTimeoutMs', 'must be a positive integer');
      const { url, tls } = resolveTls(options.url, options.tls);
      this.cmd = commandsForUrl({ url, connectTimeoutMs, tls });
      this.links = urlLinks({ url, connectTimeoutMs, tls });
    }
    Object.defineProperty(this, WATCHES, { value: () => [...this.watches] });
  }

  private key(kind: 'r' | 's' | 'f' | 'm', name: string): string {
    return `${this.prefix}${kind}:${name}`;
  }

  /** Runs `fn`; any failure (connection, closed client, Redis error) surfaces as StoreError. */
  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('redis store is closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      const why = reason(err);
      // A redis:// URL (or client) pointing at one node of a Redis Cluster: keys on other nodes answer MOVED.
      const hint = /^(MOVED|ASK) \d+ |non local key in a cluster node/i.test(why) ? ' (this Redis is a node of a Redis Cluster: use RedisClusterStore or a redis+cluster:// URL)' : '';
      throw new StoreError(`redis store ${op} failed: ${why}${hint}`, { cause: err });
    }
  }

  private async eval(script: Script, args: string[]): Promise<unknown> {
    try {
      return await this.cmd.call(['EVALSHA', script.sha, '0', this.prefix, ...args]);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return this.cmd.call(['EVAL', script.source, '0', this.prefix, ...args]);
    }
  }

  /** Every key matching `<prefix><kind>:*`, in batches (SCAN may repeat a key; callers dedupe when it matters). */
  private async *scan(kind: 'r' | 's' | 'f'): AsyncGenerator<string[]> {
    const match = `${escapeGlob(this.prefix)}${kind}:*`;
    let cursor = '0';
    do {
      const reply = toArray(await this.cmd.call(['SCAN', cursor, 'MATCH', match, 'COUNT', SCAN_COUNT]));
      cursor = String(reply[0]);
      const keys = toStrings(reply[1]);
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }

  private async scanIds(): Promise<string[]> {
    const ids = new Set<string>();
    const skip = this.key('r', '').length;
    for await (const keys of this.scan('r')) for (const k of keys) ids.add(k.slice(skip));
    return [...ids];
  }

  private putArgs(record: TokenRecord): string[] {
    return [record.id, encodeRecord(record), record.subject, record.family, expiryArg(record.expiresAt)];
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.run('get', async () => this.decoded.decode(await this.cmd.call(['GET', this.key('r', id)]), id));
  }

  /** The last decoded value per id, reused when Redis returns the same bytes (lib/util.ts). */
  private readonly decoded = new DecodeCache();

  put(record: TokenRecord): Promise<void> {
    return this.run('put', async () => {
      await this.eval(PUT, this.putArgs(record));
    });
  }

  /**
   * Bulk write for migrations: records go in batches of PUT_PER_CALL per script call, with several
   * calls pipelined on the connection at once, so encoding, the network and Redis overlap. Each
   * record is written as by `put`; the whole is not transactional: after a failure, part of the
   * records may be written (writing them again is harmless).
   */
  putMany(records: readonly TokenRecord[]): Promise<void> {
    return this.run('putMany', async () => {
      // Last write wins per id, as with successive puts.
      const byId = new Map<string, TokenRecord>();
      for (const r of records) {
        byId.delete(r.id);
        byId.set(r.id, r);
      }
      await this.pipelined(PUT_MANY, [...byId.values()]);
    });
  }

  /**
   * Runs `script` over `records`, PUT_PER_CALL per call with PUT_IN_FLIGHT calls pipelined; records
   * of one user (and login) are sent together, so each call updates their index sets once.
   * Returns the sum of the calls' replies.
   */
  private async pipelined(script: Script, records: readonly TokenRecord[]): Promise<number> {
    const sorted = [...records].sort((a, b) => cmp(a.subject, b.subject) || cmp(a.family, b.family));
    let next = 0;
    let total = 0;
    const worker = async (): Promise<void> => {
      while (next < sorted.length) {
        const batch = sorted.slice(next, (next += PUT_PER_CALL));
        const args: string[] = [];
        for (const r of batch) args.push(...this.putArgs(r));
        const n = Number(await this.eval(script, args)); // (not `total += await …`: that reads total before the await)
        total += n;
      }
    };
    await Promise.all(Array.from({ length: PUT_IN_FLIGHT }, worker));
    return total;
  }

  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    const mode = expiresAt === undefined ? 'keep' : expiresAt === null ? 'null' : String(expiresAt);
    return this.run('touch', async () => Number(await this.eval(TOUCH, [id, String(lastSeenAt), mode])) === 1);
  }

  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    return this.run('rotate', async (): Promise<RotateResult> => {
      const reply = toArray(await this.eval(ROTATE, [usedId, String(now), ...this.putArgs(next)]));
      const status = String(reply[0]);
      if (status === 'rotated') return { status };
      if (status === 'conflict') return { status, current: reply.length > 1 ? decodeRecord(reply[1], usedId) : null };
      throw new Error(`unexpected rotate reply ${JSON.stringify(status).slice(0, 40)}`);
    });
  }

  countReuse(id: string, limit: number): Promise<boolean> {
    return this.run('countReuse', async () => Number(await this.eval(COUNT_REUSE, [id, String(limit)])) === 1);
  }

  /** One script: read the window, then HINCRBY, or start a window (HSET + EXPIRE), atomically. */
  hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    return this.run('hit', async () => {
      if (!COUNTER_KEY_RE.test(key)) throw new StoreError('redis store: counter key must be [A-Za-z0-9:_-]');
      const reply = toArray(await this.eval(HIT, [key, String(windowSeconds), String(now), String(by)]));
      return { count: Number(reply[0]), resetAt: Number(reply[1]) };
    });
  }

  revoke(where: RevokeWhere, now: number): Promise<number> {
    return this.run('revoke', async () => {
      const at = String(now);
      if ('id' in where) return Number(await this.eval(REVOKE, [at, 'id', where.id]));
      if ('subject' in where) return Number(await this.eval(REVOKE, [at, 'subject', where.subject]));
      if ('family' in where) return Number(await this.eval(REVOKE, [at, 'family', where.family]));
      let n = 0;
      const skip = this.key('r', '').length;
      for await (const keys of this.scan('r')) {
        // A repeated key is harmless: an already revoked record is not counted again.
        n += Number(await this.eval(REVOKE, [at, 'all', '', ...keys.map(k => k.slice(skip))]));
      }
      return n;
    });
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.run('list', async () => {
      const ids =
        query.subject !== undefined ? [...new Set(toStrings(await this.cmd.call(['SMEMBERS', this.key('s', query.subject)])))] : await this.scanIds();
      ids.sort();
      let i = indexAfter(ids, query.cursor);
      const records: TokenRecord[] = [];
      while (i < ids.length && records.length < query.limit) {
        const chunk = ids.slice(i, i + Math.min(Math.max(query.limit - records.length, 10), 500));
        const values = toArray(await this.cmd.call(['MGET', ...chunk.map(id => this.key('r', id))]));
        for (let j = 0; j < chunk.length && records.length < query.limit; j++, i++) {
          const rec = decodeRecord(values[j], chunk[j]!);
          if (rec && matchesQuery(rec, query)) records.push(rec);
        }
      }
      return { records, cursor: i < ids.length && i > 0 ? ids[i - 1]! : null };
    });
  }

  /**
   * Redis drops records two minutes after their `expiresAt` by itself; this deletes the records
   * that are revoked or expired at `now` (but still held), and index members whose record is gone.
   * Returns how many records it deleted.
   */
  purgeExpired(now: number): Promise<number> {
    return this.run('purgeExpired', async () => {
      let n = 0;
      const skip = this.key('r', '').length;
      for await (const keys of this.scan('r')) n += Number(await this.eval(PURGE, [String(now), ...keys.map(k => k.slice(skip))]));
      for (const kind of ['s', 'f'] as const) {
        for await (const keys of this.scan(kind)) await this.eval(CLEAN_INDEX, keys);
      }
      return n;
    });
  }

  /**
   * SCANs the store's record keys and reads each page with one MGET. A record present throughout
   * the scan appears at least once (SCAN's guarantee); one may appear twice, should Redis resize
   * its key table meanwhile. SCAN's COUNT is a hint: keys of a reply that overruns the page ride
   * in the cursor to the next page. Unreadable values are skipped.
   */
  exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    return this.run('exportRecords', async () => {
      checkLimit(limit);
      let { scan, ids } = parseExportCursor(cursor);
      const match = `${escapeGlob(this.prefix)}r:*`;
      const skip = this.key('r', '').length;
      // At least half a page unless the scan ends: other keys sharing the database thin out SCAN replies.
      while (scan !== SCAN_DONE && ids.length < limit / 2) {
        const reply = toArray(await this.cmd.call(['SCAN', scan, 'MATCH', match, 'COUNT', String(Math.max(limit - ids.length, 10))]));
        scan = String(reply[0]) === '0' ? SCAN_DONE : String(reply[0]);
        for (const k of toStrings(reply[1])) ids.push(k.slice(skip));
      }
      const page = ids.slice(0, limit);
      const rest = ids.slice(limit);
      const values = page.length > 0 ? toArray(await this.cmd.call(['MGET', ...page.map(id => this.key('r', id))])) : [];
      const records: TokenRecord[] = [];
      for (let i = 0; i < page.length; i++) {
        const rec = decodeRecord(values[i], page[i]!);
        if (rec !== null) records.push(rec);
      }
      const next = rest.length > 0 ? JSON.stringify([scan, ...rest]) : scan === SCAN_DONE ? null : scan;
      return { records, cursor: next };
    });
  }

  /**
   * Put-if-absent per record (SET NX in a script, which also indexes the records it wrote), in
   * pipelined script calls like putMany. A record already expired is not written (Redis would
   * drop it at once) and not counted. Returns how many were written.
   */
  importRecords(records: readonly TokenRecord[]): Promise<number> {
    return this.run('importRecords', () => this.pipelined(IMPORT, records));
  }

  /** Counts the record keys with SCAN inside Redis; exact unless Redis resizes its key table meanwhile (a key may then count twice). */
  countRecords(): Promise<number> {
    return this.run('countRecords', async () => {
      const match = `${escapeGlob(this.prefix)}r:*`;
      let cursor = '0';
      let n = 0;
      do {
        const reply = toArray(await this.eval(COUNT, [cursor, match, SCAN_COUNT, COUNT_STEPS]));
        cursor = String(reply[0]);
        n += Number(reply[1]);
      } while (cursor !== '0');
      return n;
    });
  }

  getMeta(key: string): Promise<string | null> {
    return this.run('getMeta', async () => {
      const value = await this.cmd.call(['GET', this.key('m', key)]);
      return typeof value === 'string' ? value : null;
    });
  }

  setMeta(key: string, value: string | null): Promise<void> {
    return this.run('setMeta', async () => {
      await this.cmd.call(value === null ? ['DEL', this.key('m', key)] : ['SET', this.key('m', key), value]);
    });
  }

  initSecret(candidate: string): Promise<string> {
    return this.run('initSecret', async () => String(await this.eval(INIT_SECRET, [candidate])));
  }

  /**
   * Change notices for the record cache, from every process sharing this Redis (this one's writes
   * included): Redis client-side caching in broadcasting mode on a connection of its own (from the
   * URL, or the given client's `duplicate()`), tracking the record keys (lib/watch.ts). Resolves
   * once tracking is set; rejects when it cannot be (Redis before 6, ACL, no `duplicate()`, Redis
   * Cluster). `state(false)` as soon as that connection drops, errors or stops answering PINGs,
   * `state(true)` once a new one tracks again; `changed(null)` on FLUSHALL / FLUSHDB.
   */
  watch(listener: ChangeListener): Promise<() => Promise<void>> {
    return this.run('watch', async () => {
      if (this.links instanceof Error) throw this.links;
      return keepWatch(new TrackingWatch(this.links, this.prefix, listener), this.watches, () => this.closed);
    });
  }

  /** Stops the store and every watch; quits the connection only when the store made it from a URL. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    await this.cmd.close();
  }
}

export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options);
}
