/**
 * Redis Cluster store: the records and indexes of the single-node store (index.ts), laid out so
 * that every Lua script touches one key, hence one slot, and every operation that spans several
 * slots is a sequence of single-slot steps in an order that neither loses nor resurrects anything.
 * Works with a node-redis (v4+) cluster or an ioredis Cluster, or connects itself from seed nodes
 * (`nodes`, or a `redis+cluster://h1:p1,h2:p2/?prefix=` URL).
 *
 * Keys (prefix default `tessera:`; `{...}` is the hash tag that picks the slot):
 *   `<prefix>r:{<id>}`       record JSON (codec.ts), expiring two minutes after its `expiresAt`
 *   `<prefix>s:{<subject>}`  sorted set of the record ids of one user
 *   `<prefix>f:{<family>}`   sorted set of the other record ids of one login (the root record,
 *                            whose id is the family, is not listed)
 *   `<prefix>secret`, `<prefix>m:<key>`, `<prefix>c:<key>`: the secret, meta values and attempt
 *                            counters, one key each, as in the single-node store
 * An index member's score is the time (Redis' clock, µs) it was last added, and only grows; index
 * sets outlive their longest-lived member, as in the single-node store.
 *
 * Atomic (one script on one slot): get, countReuse, hit, initSecret, revoke by id, the rotation's
 * compare-and-set, touch without a new expiry, each record's import (SET NX) and purge.
 *
 * Ordered (several single-slot steps; the reasoning for each):
 *
 * - Index first, record second (put, import, rotate's successor). A reader finds records through
 *   the index sets and checks each record itself, so an index member whose record is absent is
 *   harmless, while a record missing from its index would escape revoke-by-user/login. So the
 *   member is added (A1), then the record written (W), then the member added again (A2) before the
 *   call returns. A2 closes the one gap a cleaner could open: purgeExpired removes a member whose
 *   record is absent only if the member's score is unchanged since it read it (UNINDEX), so a
 *   removal that lands after A2 finds a newer score and does nothing, and one that lands before
 *   A2 is undone by it. A member A1 created for a record that was then not written (import of a
 *   present id, a lost rotation) is removed the same way, by its score. The cleaner also leaves
 *   members younger than a minute.
 *
 * - Touch with a new expiry: the index sets are extended to cover it first, then the record gets it
 *   (the script checks the subject and family the sets were chosen by); so an index set never
 *   expires before a member.
 *
 * - Rotate: A1 and W of the successor, then the compare-and-set on the used record's slot (the
 *   single point that decides the one winner, under any number of concurrent calls) alongside A2,
 *   then, when it lost, the successor is deleted (if still what was written, or that revoked by a
 *   concurrent revoke) and its new index members removed by score, before `conflict` is returned:
 *   nothing written. (A2 beside the compare-and-set rather than before it: a cleaner could only have
 *   removed A1's member had the rotation stalled for a minute between A1 and W.) A successor exists
 *   before the used record can point to it, so a loser's `current.replacedBy` always leads to a
 *   stored record. A crash between W and the deletion leaves a live successor no token names (its
 *   id is random and never handed out); it expires or is purged with its expiry.
 *
 * - Revoke by user or login: for a login, its root record (the session) first; then read the index
 *   set, revoke each member (a script per record, which checks the record's own subject/family),
 *   and read the set again until it shows no id not yet seen. Why a rotation racing it cannot leave
 *   a live successor: a successor S of a used record U is indexed (A1) before the compare-and-set
 *   on U, and the compare-and-set fails once U is revoked. So if U's rotation won, it won before
 *   the revoke reached U, hence S was in the set before that pass ended, and the next read finds
 *   it; if it lost, S is deleted. (Independently, such an S is never usable: the core's pair
 *   refresh first touches the session record (flows/pair.ts), and touch never revives the revoked
 *   session; every request checks the session record too.) Revoke all: SCAN every master, revoke
 *   each record, and scan again while the last pass revoked anything: a successor created during
 *   a pass is present for the whole of the next.
 *
 * - purgeExpired / list without a subject / exportRecords / countRecords: SCAN of every master.
 *   Purge deletes dead records (one script each), then removes index members whose record is gone,
 *   by score as above. Export's cursor names the master and its SCAN cursor; a record present for
 *   the whole export appears at least once while the cluster's topology holds still (a failover or
 *   resharding meanwhile may repeat or miss records: run it again).
 *
 * Reads and writes go to the masters only (a replica may lag behind a revocation). Change notices
 * (`watch`): a tracking connection on every node (lib/cluster-watch.ts).
 */
import { ConfigError } from '@tessera/core';
import {
  checkLimit,
  indexAfter,
  COUNTER_KEY_RE,
  StoreError,
  matchesQuery,
  type HitResult,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type ChangeListener,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core/store';
import { ClusterWatch } from './lib/cluster-watch.js';
import { clusterCommandsFor, OwnedClusterCommands, parseClusterUrl, type ClusterCommands, type MasterCommands, type RedisClusterClientLike } from './lib/cluster-conn.js';
import { decodeRecord, encodeRecord } from './lib/codec.js';
import { DecodeCache, escapeGlob, expiryArg, isNoScript, keepWatch, reason, toArray, toStrings } from './lib/util.js';
import { COUNT, HIT, INIT_SECRET, type Script } from './lib/scripts.js';
import { COUNT_REUSE, DELETE_IF, IMPORT, INDEX, PURGE, PUT, REVOKE, ROTATE, TOUCH, UNINDEX } from './lib/cluster-scripts.js';

export type { RedisClusterClientLike, NodeRedisClusterLike, IoRedisClusterLike, NodeRedisMasterLike } from './lib/cluster-conn.js';

export interface RedisClusterStoreOptions {
  /**
   * A connected node-redis (v4+) cluster (`createCluster`) or ioredis `Cluster`. The store never
   * closes it. Reads must go to masters (ioredis: `scaleReads: 'master'`, the default).
   */
  client?: RedisClusterClientLike;
  /**
   * Seed nodes the store connects to itself (and closes): `['redis://[user:password@]host:port', ...]`;
   * the rest of the cluster is discovered. Credentials of the first URL that has them apply to every node.
   */
  nodes?: readonly string[];
  /** `redis+cluster://[user:password@]host:port[,host:port...][/?prefix=...]`: seed nodes in one URL (the store owns the connection). */
  url?: string;
  /** Key prefix, so several apps can share one cluster. No `{` or `}`. Default `tessera:` (or the URL's `?prefix=`). */
  prefix?: string;
  /** Milliseconds to wait for the cluster connection (discovery and every master; `nodes`/`url` only). Default 2000. */
  connectTimeoutMs?: number;
}

const SCAN_COUNT = '1000';
/** Single-slot steps in flight at once for one call (revoke of many records, purge, import). */
const IN_FLIGHT = 256;
/** importRecords / putMany: records per batch of index-write-index steps. */
const WRITE_BATCH = 500;
/** countRecords: SCAN steps (of SCAN_COUNT keys) per script call on a master. */
const COUNT_STEPS = '20';
/** Revoke by user/login: the index set is read again until it shows nothing new, at most this often. */
const MAX_INDEX_PASSES = 8;
/** Revoke all: SCAN passes while the last one revoked anything, at most this many. */
const MAX_SCAN_PASSES = 4;
/** purgeExpired leaves index members added less than this long ago (µs, Redis' clock). */
const CLEAN_MIN_AGE_US = String(60_000_000);
/** purgeExpired: index sets cleaned at once. */
const CLEAN_SETS_IN_FLIGHT = 16;
/** touch with a new expiry: retries when the record's subject/family changed under it. */
const TOUCH_TRIES = 3;

/** Runs fn over items, at most `limit` at once; results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function sum(ns: readonly number[]): number {
  let n = 0;
  for (const x of ns) n += x;
  return n;
}

/** ZRANGE ... WITHSCORES as (member, score) pairs, from a RESP2 flat array or RESP3 pairs. */
function scoredMembers(reply: unknown): Array<[string, string]> {
  const a = toArray(reply);
  const out: Array<[string, string]> = [];
  if (a.length > 0 && Array.isArray(a[0])) {
    for (const p of a) out.push([String((p as unknown[])[0]), String((p as unknown[])[1])]);
  } else {
    for (let i = 0; i + 1 < a.length; i += 2) out.push([String(a[i]), String(a[i + 1])]);
  }
  return out;
}

/** Subject and family of a stored value, read loosely (the script checks them again). */
function indexFields(raw: unknown): { subject: string; family: string } | null {
  if (typeof raw !== 'string') return null;
  try {
    const v = JSON.parse(raw) as { subject?: unknown; family?: unknown };
    return typeof v?.subject === 'string' && typeof v.family === 'string' ? { subject: v.subject, family: v.family } : null;
  } catch {
    return null;
  }
}

/**
 * An export cursor: JSON [master address ('' once every master is scanned), SCAN cursor on it,
 * ids scanned but not yet returned...].
 */
function parseExportCursor(cursor: string | null): { node: string | null; scan: string; ids: string[] } {
  if (cursor === null) return { node: null, scan: '0', ids: [] };
  let v: unknown;
  try {
    v = JSON.parse(cursor);
  } catch {
    v = null;
  }
  if (!Array.isArray(v) || v.length < 2 || !v.every(x => typeof x === 'string') || !/^\d+$/.test(v[1])) {
    throw new RangeError('exportRecords: not a cursor of this store');
  }
  return { node: v[0], scan: v[1], ids: v.slice(2) };
}

/** An index member to add: the set, the id, and the record's expiry. */
interface IndexEntry {
  set: string;
  id: string;
  exp: string;
}

/** Where INDEX left a member: its score, and whether it was new (0 score: not added). */
interface Indexed {
  set: string;
  id: string;
  score: string;
  created: boolean;
}

/** Tests only: `store[CLEAN_MIN_AGE] = '0'` lets purgeExpired clean index members of any age. Not part of the API. */
const CLEAN_MIN_AGE = Symbol.for('tessera.store-redis.cluster.cleanMinAgeUs');
/** Tests only: `store[WATCHES]()` lists the store's watches (their nodes and connections). Not part of the API. */
const WATCHES = Symbol.for('tessera.store-redis.watches');

export class RedisClusterStore implements TokenStore {
  readonly prefix: string;
  private readonly cmd: ClusterCommands;
  private closed = false;
  /** The watches in force (`watch`), stopped by `close()`. */
  private readonly watches = new Set<ClusterWatch>();
  private [CLEAN_MIN_AGE] = CLEAN_MIN_AGE_US;

  constructor(options: RedisClusterStoreOptions) {
    if (options === null || typeof options !== 'object') throw new ConfigError('store', 'give the Redis Cluster store options: { client } or { nodes } or { url }');
    const given = (['client', 'nodes', 'url'] as const).filter(k => options[k] !== undefined);
    if (given.length !== 1) {
      throw new ConfigError('store', given.length === 0 ? 'give the Redis Cluster store `client`, `nodes` or `url`' : `give the Redis Cluster store one of ${given.map(k => `\`${k}\``).join(', ')}, not several`);
    }
    let prefix = options.prefix;
    if (options.client !== undefined) {
      if (options.connectTimeoutMs !== undefined) throw new ConfigError('store.connectTimeoutMs', 'applies to a connection the store makes (`nodes` or `url`)');
      this.cmd = clusterCommandsFor(options.client);
    } else {
      const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
      if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs < 1) throw new ConfigError('store.connectTimeoutMs', 'must be a positive integer');
      let seeds: Array<{ host: string; port: number }>;
      let username: string | undefined;
      let password: string | undefined;
      if (options.url !== undefined) {
        if (typeof options.url !== 'string') throw new ConfigError('store.url', 'must be a redis+cluster:// URL');
        const parsed = parseClusterUrl(options.url);
        seeds = parsed.nodes;
        ({ username, password } = parsed);
        if (parsed.prefix !== undefined) {
          if (prefix !== undefined && prefix !== parsed.prefix) throw new ConfigError('store.prefix', 'differs from the URL\'s ?prefix=: give it once');
          prefix = parsed.prefix;
        }
      } else {
        if (!Array.isArray(options.nodes) || options.nodes.length === 0) throw new ConfigError('store.nodes', 'must be a non-empty list of redis://host:port URLs');
        seeds = [];
        for (const n of options.nodes) {
          if (typeof n !== 'string' || !/^redis:\/\//i.test(n)) {
            throw new ConfigError('store.nodes', /^rediss:\/\//i.test(String(n)) ? 'TLS: pass a cluster client configured for TLS as `client`' : 'each node must be a redis://host:port URL');
          }
          let u: URL;
          try {
            u = new URL(n);
          } catch {
            throw new ConfigError('store.nodes', 'each node must be a redis://host:port URL');
          }
          if (u.port === '' || u.hostname === '') throw new ConfigError('store.nodes', 'each node must be a redis://host:port URL (the port is required)');
          if (u.pathname !== '' && u.pathname !== '/' && u.pathname !== '/0') throw new ConfigError('store.nodes', 'a Redis Cluster has database 0 only: leave the path out');
          seeds.push({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) });
          if (username === undefined && password === undefined && (u.username !== '' || u.password !== '')) {
            try {
              if (u.username !== '') username = decodeURIComponent(u.username);
              if (u.password !== '') password = decodeURIComponent(u.password);
            } catch {
              throw new ConfigError('store.nodes', 'has a malformed %-escape in its credentials');
            }
          }
        }
      }
      this.cmd = new OwnedClusterCommands({ nodes: seeds, username, password, connectTimeoutMs });
    }
    prefix ??= 'tessera:';
    if (typeof prefix !== 'string') throw new ConfigError('store.prefix', 'must be a string');
    // A brace in the prefix would become the hash tag of every key: the whole store in one slot.
    if (/[{}]/.test(prefix)) throw new ConfigError('store.prefix', 'must not contain { or } (Redis Cluster hash tags)');
    this.prefix = prefix;
    Object.defineProperty(this, WATCHES, { value: () => [...this.watches] });
  }

  private rkey(id: string): string {
    return `${this.prefix}r:{${id}}`;
  }

  private skey(subject: string): string {
    return `${this.prefix}s:{${subject}}`;
  }

  private fkey(family: string): string {
    return `${this.prefix}f:{${family}}`;
  }

  /** The index entries of a record: its user's set, and its login's set unless it is the login's root. */
  private entries(r: { id: string; subject: string; family: string; expiresAt: number | null }): IndexEntry[] {
    const exp = expiryArg(r.expiresAt);
    const out: IndexEntry[] = [{ set: this.skey(r.subject), id: r.id, exp }];
    if (r.family !== r.id) out.push({ set: this.fkey(r.family), id: r.id, exp });
    return out;
  }

  /** Runs `fn`; any failure (connection, closed client, Redis error) surfaces as StoreError. */
  private async run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreError('redis store is closed');
    try {
      return await fn();
    } catch (err) {
      if (err instanceof StoreError) throw err;
      throw new StoreError(`redis cluster store ${op} failed: ${reason(err)}`, { cause: err });
    }
  }

  /** Runs a script on the master of `key`'s slot; `key` is its only key (KEYS[1]). */
  private async eval(script: Script, key: string, args: string[]): Promise<unknown> {
    try {
      return await this.cmd.call(key, ['EVALSHA', script.sha, '1', key, ...args]);
    } catch (err) {
      if (!isNoScript(err)) throw err;
      return this.cmd.call(key, ['EVAL', script.source, '1', key, ...args]);
    }
  }

  /** Adds index entries (one INDEX call per set, all sets at once). */
  private async index(entries: readonly IndexEntry[]): Promise<Indexed[]> {
    const bySet = new Map<string, IndexEntry[]>();
    for (const e of entries) {
      const list = bySet.get(e.set);
      if (list) list.push(e);
      else bySet.set(e.set, [e]);
    }
    const groups = [...bySet];
    const replies = await mapLimit(groups, IN_FLIGHT, ([set, list]) => this.eval(INDEX, set, list.flatMap(e => [e.id, e.exp])));
    const out: Indexed[] = [];
    groups.forEach(([set, list], g) => {
      const reply = toArray(replies[g]);
      list.forEach((e, i) => {
        const score = String(reply[2 * i] ?? 0);
        if (score !== '0') out.push({ set, id: e.id, score, created: Number(reply[2 * i + 1]) === 1 });
      });
    });
    return out;
  }

  /** Removes index members by score (each only if its score is still the one given). */
  private async unindex(members: ReadonlyArray<{ set: string; id: string; score: string }>, minAgeUs = ''): Promise<number> {
    const bySet = new Map<string, string[]>();
    for (const m of members) {
      const list = bySet.get(m.set);
      if (list) list.push(m.id, m.score);
      else bySet.set(m.set, [m.id, m.score]);
    }
    return sum(await mapLimit([...bySet], IN_FLIGHT, async ([set, pairs]) => Number(await this.eval(UNINDEX, set, [minAgeUs, ...pairs]))));
  }

  /** Members of an index set. */
  private async members(set: string): Promise<string[]> {
    return toStrings(await this.cmd.call(set, ['ZRANGE', set, '0', '-1']));
  }

  /** Every key matching `pattern` on `master`, in batches (SCAN may repeat a key). */
  private async *scanMaster(master: MasterCommands, pattern: string): AsyncGenerator<string[]> {
    let cursor = '0';
    do {
      const reply = toArray(await master.call(['SCAN', cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT]));
      cursor = String(reply[0]);
      const keys = toStrings(reply[1]);
      if (keys.length > 0) yield keys;
    } while (cursor !== '0');
  }

  /** Every key matching `<prefix><kind>:{*}` on every master. */
  private async *scan(kind: 'r' | 's' | 'f'): AsyncGenerator<string[]> {
    const pattern = `${escapeGlob(this.prefix)}${kind}:{*}`;
    for (const master of await this.cmd.masters()) yield* this.scanMaster(master, pattern);
  }

  /** The id (subject, family) inside a key `<prefix><kind>:{<name>}`. */
  private nameOf(key: string): string {
    return key.slice(this.prefix.length + 3, -1);
  }

  private async scanIds(): Promise<string[]> {
    const ids = new Set<string>();
    for await (const keys of this.scan('r')) for (const k of keys) ids.add(this.nameOf(k));
    return [...ids];
  }

  private async readRecords(ids: readonly string[]): Promise<unknown[]> {
    return mapLimit(ids, IN_FLIGHT, id => this.cmd.call(this.rkey(id), ['GET', this.rkey(id)]));
  }

  get(id: string): Promise<TokenRecord | null> {
    return this.run('get', async () => this.decoded.decode(await this.cmd.call(this.rkey(id), ['GET', this.rkey(id)]), id));
  }

  /** The last decoded value per id, reused when Redis returns the same bytes (lib/util.ts); its subject and family also spare touch a read. */
  private readonly decoded = new DecodeCache();

  /**
   * Index, write, index again (see the top comment), for a batch of records with distinct ids.
   * `mode` put overwrites; import writes only absent ids. Returns how many were written.
   */
  private async writeBatch(records: readonly TokenRecord[], mode: 'put' | 'import'): Promise<number> {
    if (records.length === 0) return 0;
    const entries = records.flatMap(r => this.entries(r));
    const first = await this.index(entries);
    const script = mode === 'put' ? PUT : IMPORT;
    const results = await mapLimit(records, IN_FLIGHT, async r => Number(await this.eval(script, this.rkey(r.id), [encodeRecord(r), expiryArg(r.expiresAt)])));
    const written = new Set<string>();
    records.forEach((r, i) => {
      if (results[i] === 1) written.add(r.id);
    });
    await Promise.all([
      this.index(entries.filter(e => written.has(e.id))),
      // Members this batch created for records it did not write (present, or already past expiry).
      this.unindex(first.filter(m => m.created && !written.has(m.id))),
    ]);
    return written.size;
  }

  put(record: TokenRecord): Promise<void> {
    return this.run('put', async () => {
      await this.writeBatch([record], 'put');
    });
  }

  /**
   * Bulk write for migrations, each record as by `put`, WRITE_BATCH at a time with their steps in
   * flight together. Not transactional: after a failure part may be written (again is harmless).
   */
  putMany(records: readonly TokenRecord[]): Promise<void> {
    return this.run('putMany', async () => {
      const byId = new Map<string, TokenRecord>();
      for (const r of records) {
        byId.delete(r.id);
        byId.set(r.id, r);
      }
      const all = [...byId.values()];
      for (let i = 0; i < all.length; i += WRITE_BATCH) await this.writeBatch(all.slice(i, i + WRITE_BATCH), 'put');
    });
  }

  /**
   * Put-if-absent per record (SET NX on its slot); only records written stay in their index sets.
   * A record already expired past the key margin is not written and not counted.
   */
  importRecords(records: readonly TokenRecord[]): Promise<number> {
    return this.run('importRecords', async () => {
      // One write per id per batch: the first occurrence, as successive SET NX would keep.
      const seen = new Set<string>();
      const unique = records.filter(r => !seen.has(r.id) && seen.add(r.id));
      let n = 0;
      for (let i = 0; i < unique.length; i += WRITE_BATCH) n += await this.writeBatch(unique.slice(i, i + WRITE_BATCH), 'import');
      return n;
    });
  }

  touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    const mode = expiresAt === undefined ? 'keep' : expiresAt === null ? 'null' : String(expiresAt);
    return this.run('touch', async () => {
      if (mode === 'keep') return Number(toArray(await this.eval(TOUCH, this.rkey(id), [String(lastSeenAt), mode, '', '']))[0]) === 1;
      // The index sets must cover the new expiry before the record gets it: find them first.
      let fields: { subject: string; family: string } | null = this.decoded.last(id);
      if (fields === null) fields = indexFields(await this.cmd.call(this.rkey(id), ['GET', this.rkey(id)]));
      for (let attempt = 0; attempt < TOUCH_TRIES && fields !== null; attempt++) {
        const { subject, family } = fields;
        const added = await this.index(this.entries({ id, subject, family, expiresAt: expiresAt ?? null }));
        const reply = toArray(await this.eval(TOUCH, this.rkey(id), [String(lastSeenAt), mode, subject, family]));
        const status = Number(reply[0]);
        if (status === 1) return true;
        // Not touched: take back the members this call created (the record is absent or not live).
        await this.unindex(added.filter(m => m.created));
        if (status === 0) return false;
        fields = { subject: String(reply[1]), family: String(reply[2]) };
      }
      return false;
    });
  }

  rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    return this.run('rotate', async (): Promise<RotateResult> => {
      // The successor and its index members first; then the compare-and-set decides.
      const entries = this.entries(next);
      const first = await this.index(entries);
      const json = encodeRecord(next);
      await this.eval(PUT, this.rkey(next.id), [json, expiryArg(next.expiresAt)]);
      const [reply, second] = await Promise.all([this.eval(ROTATE, this.rkey(usedId), [String(now), next.id]), this.index(entries)]);
      const a = toArray(reply);
      const status = String(a[0]);
      if (status === 'rotated') return { status };
      if (status !== 'conflict') throw new Error(`unexpected rotate reply ${JSON.stringify(status).slice(0, 40)}`);
      // Lost: nothing may remain of the successor.
      await this.eval(DELETE_IF, this.rkey(next.id), [json]);
      const created = new Set(first.filter(m => m.created).map(m => m.set));
      await this.unindex(second.filter(m => created.has(m.set)));
      return { status, current: a.length > 1 ? decodeRecord(a[1], usedId) : null };
    });
  }

  countReuse(id: string, limit: number): Promise<boolean> {
    return this.run('countReuse', async () => Number(await this.eval(COUNT_REUSE, this.rkey(id), [String(limit)])) === 1);
  }

  /** The single-node store's script, unchanged: its one key is `<prefix>c:<key>`. */
  hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    return this.run('hit', async () => {
      if (!COUNTER_KEY_RE.test(key)) throw new StoreError('redis store: counter key must be [A-Za-z0-9:_-]');
      const reply = toArray(await this.eval(HIT, `${this.prefix}c:${key}`, [this.prefix, key, String(windowSeconds), String(now), String(by)]));
      return { count: Number(reply[0]), resetAt: Number(reply[1]) };
    });
  }

  private async revokeOne(id: string, at: string, field: string, value: string): Promise<number> {
    return Number(await this.eval(REVOKE, this.rkey(id), [at, field, value]));
  }

  /** Revokes the members of an index set, reading it again until it shows no new id (see the top comment). */
  private async revokeIndexed(set: string, at: string, field: 'subject' | 'family', value: string): Promise<number> {
    const seen = new Set<string>();
    let n = 0;
    for (let pass = 0; pass < MAX_INDEX_PASSES; pass++) {
      const ids = (await this.members(set)).filter(id => !seen.has(id));
      if (ids.length === 0) break;
      for (const id of ids) seen.add(id);
      n += sum(await mapLimit(ids, IN_FLIGHT, id => this.revokeOne(id, at, field, value)));
    }
    return n;
  }

  revoke(where: RevokeWhere, now: number): Promise<number> {
    return this.run('revoke', async () => {
      const at = String(now);
      if ('id' in where) return this.revokeOne(where.id, at, 'id', where.id);
      if ('subject' in where) return this.revokeIndexed(this.skey(where.subject), at, 'subject', where.subject);
      if ('family' in where) {
        // The root (the session) first: from then on no refresh of this login gets past its touch.
        const root = await this.revokeOne(where.family, at, 'family', where.family);
        return root + (await this.revokeIndexed(this.fkey(where.family), at, 'family', where.family));
      }
      let n = 0;
      for (let pass = 0; pass < MAX_SCAN_PASSES; pass++) {
        let m = 0;
        for await (const keys of this.scan('r')) m += sum(await mapLimit(keys, IN_FLIGHT, k => this.revokeOne(this.nameOf(k), at, 'all', '')));
        n += m;
        if (m === 0) break;
      }
      return n;
    });
  }

  list(query: ListQuery): Promise<ListPage> {
    return this.run('list', async () => {
      const ids = query.subject !== undefined ? [...new Set(await this.members(this.skey(query.subject)))] : await this.scanIds();
      ids.sort();
      let i = indexAfter(ids, query.cursor);
      const records: TokenRecord[] = [];
      while (i < ids.length && records.length < query.limit) {
        const chunk = ids.slice(i, i + Math.min(Math.max(query.limit - records.length, 10), 500));
        const values = await this.readRecords(chunk);
        for (let j = 0; j < chunk.length && records.length < query.limit; j++, i++) {
          const rec = decodeRecord(values[j], chunk[j]!);
          if (rec && matchesQuery(rec, query)) records.push(rec);
        }
      }
      return { records, cursor: i < ids.length && i > 0 ? ids[i - 1]! : null };
    });
  }

  /**
   * Deletes the records revoked or expired at `now` (Redis drops them itself two minutes past their
   * expiry), then index members whose record is gone (by score, and only members added more than a
   * minute ago). Returns how many records it deleted.
   */
  purgeExpired(now: number): Promise<number> {
    return this.run('purgeExpired', async () => {
      let n = 0;
      for await (const keys of this.scan('r')) n += sum(await mapLimit(keys, IN_FLIGHT, async k => Number(await this.eval(PURGE, k, [String(now)]))));
      // Only members old enough by this clock are read (UNINDEX checks their age again by Redis' clock).
      const minAge = Number(this[CLEAN_MIN_AGE]);
      const cutoff = minAge === 0 ? '+inf' : `(${Date.now() * 1000 - minAge}`;
      for (const kind of ['s', 'f'] as const) {
        for await (const sets of this.scan(kind)) {
          await mapLimit(sets, CLEAN_SETS_IN_FLIGHT, async set => {
            const members = scoredMembers(await this.cmd.call(set, ['ZRANGE', set, '-inf', cutoff, 'BYSCORE', 'WITHSCORES']));
            const exists = await mapLimit(members, IN_FLIGHT, async ([id]) => Number(await this.cmd.call(this.rkey(id), ['EXISTS', this.rkey(id)])));
            const gone = members.filter((_, i) => exists[i] === 0).map(([id, score]) => ({ set, id, score }));
            if (gone.length > 0) await this.unindex(gone, this[CLEAN_MIN_AGE]);
          });
        }
      }
      return n;
    });
  }

  /**
   * SCANs the record keys of each master in turn (by address), reading each page's records. A
   * record present for the whole export appears at least once while the topology holds still; it
   * may appear twice (SCAN). Keys of a reply that overruns the page ride in the cursor.
   */
  exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    return this.run('exportRecords', async () => {
      checkLimit(limit);
      let { node, scan, ids } = parseExportCursor(cursor);
      const masters = await this.cmd.masters();
      // Resume at the master named (or, should it be gone, the next by address, from its start).
      let i = node === null ? 0 : node === '' ? masters.length : masters.findIndex(m => m.address >= node!);
      if (i < 0) i = masters.length;
      if (node !== null && node !== '' && masters[i]?.address !== node) scan = '0';
      const pattern = `${escapeGlob(this.prefix)}r:{*}`;
      // At least half a page unless the scan ends: other keys sharing the cluster thin out SCAN replies.
      while (i < masters.length && ids.length < limit / 2) {
        const reply = toArray(await masters[i]!.call(['SCAN', scan, 'MATCH', pattern, 'COUNT', String(Math.max(limit - ids.length, 10))]));
        scan = String(reply[0]);
        for (const k of toStrings(reply[1])) ids.push(this.nameOf(k));
        if (scan === '0') i++;
      }
      const page = ids.slice(0, limit);
      const rest = ids.slice(limit);
      const values = await this.readRecords(page);
      const records: TokenRecord[] = [];
      for (let j = 0; j < page.length; j++) {
        const rec = decodeRecord(values[j], page[j]!);
        if (rec !== null) records.push(rec);
      }
      const done = i >= masters.length;
      const next = done && rest.length === 0 ? null : JSON.stringify([done ? '' : masters[i]!.address, done ? '0' : scan, ...rest]);
      return { records, cursor: next };
    });
  }

  /** Counts the record keys with SCAN inside each master (the single-node store's script); exact unless a master resizes its key table meanwhile. */
  countRecords(): Promise<number> {
    return this.run('countRecords', async () => {
      const pattern = `${escapeGlob(this.prefix)}r:{*}`;
      const counts = await Promise.all(
        (await this.cmd.masters()).map(async master => {
          let cursor = '0';
          let n = 0;
          do {
            const args = [this.prefix, cursor, pattern, SCAN_COUNT, COUNT_STEPS];
            let reply: unknown;
            try {
              reply = await master.call(['EVALSHA', COUNT.sha, '0', ...args]);
            } catch (err) {
              if (!isNoScript(err)) throw err;
              reply = await master.call(['EVAL', COUNT.source, '0', ...args]);
            }
            const r = toArray(reply);
            cursor = String(r[0]);
            n += Number(r[1]);
          } while (cursor !== '0');
          return n;
        }),
      );
      return sum(counts);
    });
  }

  getMeta(key: string): Promise<string | null> {
    return this.run('getMeta', async () => {
      const k = `${this.prefix}m:${key}`;
      const value = await this.cmd.call(k, ['GET', k]);
      return typeof value === 'string' ? value : null;
    });
  }

  setMeta(key: string, value: string | null): Promise<void> {
    return this.run('setMeta', async () => {
      const k = `${this.prefix}m:${key}`;
      await this.cmd.call(k, value === null ? ['DEL', k] : ['SET', k, value]);
    });
  }

  /** The single-node store's script, unchanged: its one key is `<prefix>secret`. */
  initSecret(candidate: string): Promise<string> {
    return this.run('initSecret', async () => String(await this.eval(INIT_SECRET, `${this.prefix}secret`, [this.prefix, candidate])));
  }

  /**
   * Change notices for the record cache, from every process sharing this cluster: a tracking
   * connection of the store's own on every node, masters and replicas (each names the record keys
   * written on it), set up again whenever `CLUSTER NODES` lists other nodes or roles
   * (lib/cluster-watch.ts). Resolves once every node tracks; rejects when one cannot (Redis before
   * 6, ACL, a caller's client without connections to every node). `state(false)` as soon as any
   * node's connection drops or the node list changes, `state(true)` once every node tracks again.
   */
  watch(listener: ChangeListener): Promise<() => Promise<void>> {
    return this.run('watch', () => keepWatch(new ClusterWatch(this.cmd.watchSource(), this.prefix, listener), this.watches, () => this.closed));
  }

  /** Stops the store and every watch; quits the connections only when the store made them (`nodes` / `url`). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    await this.cmd.close();
  }
}

export function redisClusterStore(options: RedisClusterStoreOptions): RedisClusterStore {
  return new RedisClusterStore(options);
}
