/**
 * Nothing usable at rest, per store (packages/core/src/lib/at-rest.ts), proved against each real
 * backend: memory, file, Redis, PostgreSQL and DynamoDB (dynalite).
 *
 * - Read: a raw dump of the store's storage, read as an attacker with read access would (files,
 *   keys, rows, a Scan; not the store API), holds none of the secrets the tokens carry; with the
 *   signing secret and every token-like string of the dump, every forged session, access, refresh,
 *   API or job token is refused (401), while the genuine tokens still authenticate.
 * - Write: a record changed through the store's own `put` (roles, subject, scopes, another user's
 *   fields and MAC, no MAC) makes its genuine token refused with SESSION_ENDED (`record-tampered`),
 *   never authenticated as the changed identity; the untouched sessions keep working.
 *
 * Redis and PostgreSQL are skipped loudly when absent and fail under CI, like the store suites.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fs, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { inspect } from 'node:util';
import dynalite from 'dynalite';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  MemoryStore,
  createTessera,
  sessionIdOf,
  type AuthResult,
  type HttpRequest,
  type Tessera,
  type TesseraEvent,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import { RedisStore } from '@tessera/store-redis';
import { postgresStore } from '../../packages/store-postgres/src/index.js';
import { dynamoDbStore, type DynamoDbStore } from '../../packages/store-dynamodb/src/index.js';
import { ScanCommand } from '../../packages/store-dynamodb/src/lib/aws.js';
import { postgresAvailable, redisAvailable } from '../../packages/testkit/src/services.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

/** The signing secret: the attacker is assumed to have it too. */
const SECRET = `at-rest-signing-secret-${randomBytes(16).toString('hex')}`;
const PEER = '203.0.113.7';
const ALICE = { id: 'alice', name: 'Alice', roles: ['user'] };
const BOB = { id: 'bob', name: 'Bob', roles: ['user'] };
/** What an attacker with write access would like alice to be. */
const ALICE_ADMIN = { ...ALICE, roles: ['admin'] };
/** Token-like substrings of a dump: everything an attacker could try as a secret. */
const TOKEN_LIKE = /[A-Za-z0-9_-]{16,}/g;
/** The secret part of API and job tokens (api-tokens.ts, jobs.ts). */
const SECRET_PART = /^[A-Za-z0-9_-]{32,128}$/;

// ------------------------------------------------------------------------------ the backends

interface Backend {
  /** A store instance on the backend's storage: each server and the attacker get their own (memory: the one instance). */
  open(): Promise<TokenStore>;
  /** Everything an attacker with read access to the storage sees, as text (not through the store API). */
  dump(): Promise<string>;
  cleanup(): Promise<void>;
}

function memoryBackend(): Backend {
  const store = new MemoryStore();
  return {
    open: async () => store,
    // Nothing but the process holds it: the exported records, and the whole object graph of the
    // store (records, indexes, meta values, secret, counters), private fields included.
    dump: async () => {
      const parts: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await store.exportRecords(cursor, 1000);
        parts.push(JSON.stringify(page.records));
        cursor = page.cursor;
      } while (cursor !== null);
      parts.push(inspect(store, { depth: null, showHidden: true, maxArrayLength: null, maxStringLength: null, breakLength: Infinity }));
      return parts.join('\n');
    },
    cleanup: async () => {},
  };
}

function fileBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-at-rest-'));
  const walk = async (d: string, out: string[]): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p, out);
      else out.push(`${relative(dir, p)}\n${await fs.readFile(p, 'utf8').catch(() => '')}`);
    }
  };
  return {
    open: async () => new FileStore({ dir, fsync: false, purgeInterval: false }),
    // Every file under the directory, recursively, with its path (index entries are file names).
    dump: async () => {
      const out: string[] = [];
      await walk(dir, out);
      return out.join('\n');
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

const REDIS_URL = 'redis://127.0.0.1:6379';
const redisSkip = await redisAvailable(REDIS_URL);

function redisBackend(): Backend {
  const prefix = `tessera-test:${randomBytes(6).toString('hex')}:at-rest:`;
  let admin: Awaited<ReturnType<typeof connectAdmin>> | undefined;
  const connectAdmin = async () => {
    const c = createClient({ url: `${REDIS_URL}/0` });
    c.on('error', () => {});
    await c.connect();
    return c;
  };
  const keys = async (): Promise<string[]> => {
    admin ??= await connectAdmin();
    const all: string[] = [];
    for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) all.push(...batch);
    return all;
  };
  return {
    open: async () => new RedisStore({ url: `${REDIS_URL}/0`, prefix }),
    // Every key under the prefix with its value, whatever its type.
    dump: async () => {
      const c = (admin ??= await connectAdmin());
      const out: string[] = [];
      for (const key of await keys()) {
        const type = await c.type(key);
        let value: unknown;
        if (type === 'string') value = await c.get(key);
        else if (type === 'hash') value = await c.hGetAll(key);
        else if (type === 'set') value = await c.sMembers(key);
        else if (type === 'zset') value = await c.zRange(key, 0, -1);
        else if (type === 'list') value = await c.lRange(key, 0, -1);
        else if (type === 'none') continue; // expired between SCAN and TYPE
        else throw new Error(`redis dump: key of unexpected type ${type}`);
        out.push(`${key} (${type})\n${typeof value === 'string' ? value : JSON.stringify(value)}`);
      }
      return out.join('\n');
    },
    cleanup: async () => {
      const all = await keys();
      if (all.length > 0) await admin!.del(all);
      await admin!.close();
    },
  };
}

const PG_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgSkip = await postgresAvailable(PG_URL);

function postgresBackend(): Backend {
  const table = `tt_atrest_${process.pid}_${Date.now().toString(36)}`;
  let pool: pg.Pool | undefined;
  /** Every table the store created: its name starts with the store's table name (records, _meta, _counters). */
  const tables = async (): Promise<string[]> => {
    pool ??= new pg.Pool({ connectionString: PG_URL, max: 1 });
    const r = await pool.query<{ table_name: string }>(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND left(table_name, length($1)) = $1 ORDER BY table_name',
      [table],
    );
    return r.rows.map(row => row.table_name);
  };
  return {
    open: async () => {
      const store = postgresStore({ url: PG_URL, table });
      await store.setup();
      return store;
    },
    dump: async () => {
      const names = await tables();
      if (names.length < 2) throw new Error(`postgres dump: expected the store's tables, found ${names.join(', ')}`);
      const out: string[] = [];
      for (const t of names) {
        const rows = await pool!.query<{ row: string }>(`SELECT row_to_json(t)::text AS row FROM "${t}" t`);
        out.push(`${t}\n${rows.rows.map(r => r.row).join('\n')}`);
      }
      return out.join('\n');
    },
    cleanup: async () => {
      for (const t of await tables()) await pool!.query(`DROP TABLE IF EXISTS "${t}"`);
      await pool!.end();
    },
  };
}

function dynamoBackend(): Backend {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
  let endpoint: string | undefined;
  let reader: DynamoDbStore | undefined;
  const table = `tessera_atrest_${process.pid}_${Date.now().toString(36)}`;
  const open = async (): Promise<DynamoDbStore> => {
    if (endpoint === undefined) {
      await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
      endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    }
    const store = dynamoDbStore({ table, endpoint, region: 'us-east-1', accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' });
    await store.setup();
    return store;
  };
  return {
    open,
    // A raw, paginated Scan of the whole table through the store's own client: every item, every attribute.
    dump: async () => {
      reader ??= await open();
      const items: unknown[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const res = await reader.client.send(new ScanCommand({ TableName: table, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start as never } : {}) }));
        items.push(...(res.Items ?? []));
        start = res.LastEvaluatedKey;
      } while (start !== undefined);
      return items.map(i => JSON.stringify(i)).join('\n');
    },
    cleanup: async () => {
      await reader?.close();
      if (endpoint !== undefined) await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}

// ------------------------------------------------------------------------------ helpers

function req(init: { cookie?: string; bearer?: string } = {}): HttpRequest {
  const headers: Record<string, string> = {};
  if (init.cookie !== undefined) headers.cookie = init.cookie;
  if (init.bearer !== undefined) headers.authorization = `Bearer ${init.bearer}`;
  return { method: 'GET', path: '/api/me', header: name => headers[name], ip: PEER, secure: false, body: async () => undefined };
}

/** The value of the named cookie among a result's Set-Cookie values. */
function cookieOf(r: AuthResult, name: string): string {
  if (!r.ok) throw new Error(`expected a session, got ${r.error.code} (${r.error.reason})`);
  const c = r.cookies.find(v => v.startsWith(`${name}=`));
  if (c === undefined) throw new Error(`no ${name} cookie set`);
  return c.slice(name.length + 1, c.indexOf(';') === -1 ? undefined : c.indexOf(';'));
}

/** What a request got: `200 <subject> <roles>` or `<status> <code> <reason>`. */
function outcome(r: AuthResult): string {
  if (r.ok) return `200 ${r.session.subject} ${JSON.stringify((r.session.user as { roles?: unknown }).roles ?? null)}`;
  return `${r.reply.status} ${r.error.code} ${r.error.reason}`;
}

function decode(jwt: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = jwt.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')), payload: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')) };
}

/** HS256 with the signing secret (the server's HMAC key is the secret's UTF-8 bytes): what an attacker holding it can sign. */
function sign(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${input}.${createHmac('sha256', Buffer.from(SECRET, 'utf8')).update(input).digest('base64url')}`;
}

/** A genuine token with some claims replaced, re-signed. */
function forge(genuine: string, claims: Record<string, unknown>): string {
  const { header, payload } = decode(genuine);
  return sign(header, { ...payload, ...claims });
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('base64url');

/** Registers the suite, or skips it loudly (a failing test under CI), like `defineStoreSuite`. */
function atRestSuite(make: () => Backend, name: string, skip: string | false): void {
  const title = `nothing usable at rest: ${name}`;
  if (typeof skip === 'string') {
    const ci = process.env.CI;
    if (ci && ci !== 'false' && ci !== '0') {
      describe(title, () => {
        it('has its service available (required under CI)', () => {
          throw new Error(`The ${name} at-rest suite needs its service under CI, but: ${skip}`);
        });
      });
      return;
    }
    console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING the ${name} at-rest suite: ${skip}\n!! These tests did not run. Under CI (CI set) they fail instead.\n${'!'.repeat(78)}\n`);
    describe.skip(title, () => defineCases(make));
    return;
  }
  describe(title, () => defineCases(make));
}

// ------------------------------------------------------------------------------ the cases

function defineCases(make: () => Backend): void {
  let backend: Backend;
  let sliding: Tessera;
  let pair: Tessera;
  /** The attacker's own store instance on the same storage. */
  let attacker: TokenStore;
  const events: TesseraEvent[] = [];
  const logs: string[] = [];
  const t = {} as {
    aliceSession: string;
    bobSession: string;
    aliceAccess: string;
    aliceRefresh: string;
    /** Alice's first refresh token, rotated out since (its jti is a stored record id). */
    aliceRefreshOld: string;
    bobAccess: string;
    bobRefresh: string;
    api: string;
    apiId: string;
    apiSecret: string;
    job: string;
    jobId: string;
    jobSecret: string;
  };

  const logger = {
    info: (obj: object, msg?: string) => void logs.push(`${msg ?? ''} ${JSON.stringify(obj)}`),
    warn: (obj: object, msg?: string) => void logs.push(`${msg ?? ''} ${JSON.stringify(obj)}`),
    error: (obj: object, msg?: string) => void logs.push(`${msg ?? ''} ${JSON.stringify(obj)}`),
  };
  // No record cache: each request reads the store, so each write is judged by the very next request.
  // (With it, a write made through another instance counts once its change notice lands: the record
  // cache's own tests cover that window.)
  const common = { secret: SECRET, verifyCredentials: () => null, onEvent: (e: TesseraEvent) => void events.push(e), logger, recordCacheSize: 0 };

  const asSliding = (token: string) => sliding.authenticate(req({ cookie: `${sliding.options.cookie.name}=${token}` }));
  const asAccess = (token: string) => pair.authenticate(req({ cookie: `${pair.options.cookie.name}=${token}` }));
  /** Only the refresh cookie: the core rotates it (or refuses). */
  const asRefresh = (token: string) => pair.authenticate(req({ cookie: `${pair.options.refreshCookie.name}=${token}` }));
  const asBearer = (token: string) => sliding.authenticate(req({ bearer: token }));

  const sidOf = (jwt: string) => decode(jwt).payload.sid as string;
  const idOf = (jwt: string) => sessionIdOf(sidOf(jwt));

  /** Every genuine credential, as who it must authenticate. */
  async function genuineOutcomes(): Promise<Record<string, string>> {
    return {
      aliceSession: outcome(await asSliding(t.aliceSession)),
      bobSession: outcome(await asSliding(t.bobSession)),
      aliceAccess: outcome(await asAccess(t.aliceAccess)),
      bobAccess: outcome(await asAccess(t.bobAccess)),
      api: outcome(await asBearer(t.api)),
      job: outcome(await asBearer(t.job)),
    };
  }
  const GENUINE = {
    aliceSession: '200 alice ["user"]',
    bobSession: '200 bob ["user"]',
    aliceAccess: '200 alice ["user"]',
    bobAccess: '200 bob ["user"]',
    api: '200 alice ["user"]',
    job: '200 alice ["user"]',
  };

  /** Writes `change(record)` through the attacker's `put`; returns the untouched record, for `restore`. */
  async function tamper(id: string, change: (r: TokenRecord) => TokenRecord): Promise<TokenRecord> {
    const original = await attacker.get(id);
    if (original === null) throw new Error(`no record ${id}`);
    await attacker.put(change(structuredClone(original)));
    return original;
  }
  const restore = (original: TokenRecord) => attacker.put(original);

  /** The rejection event a refusal left, for its reason. */
  const lastRejection = () => [...events].reverse().find(e => e.type === 'rejected') as Extract<TesseraEvent, { type: 'rejected' }> | undefined;

  beforeAll(async () => {
    backend = make();
    sliding = createTessera({ ...common, store: await backend.open() });
    pair = createTessera({ ...common, store: await backend.open(), mode: 'pair', refreshThrottle: false });
    attacker = await backend.open();

    t.aliceSession = cookieOf(await sliding.issue(req(), ALICE), sliding.options.cookie.name);
    t.bobSession = cookieOf(await sliding.issue(req(), BOB), sliding.options.cookie.name);
    const aliceP = await pair.issue(req(), ALICE);
    t.aliceRefreshOld = cookieOf(aliceP, pair.options.refreshCookie.name);
    // One rotation, so the store also holds a rotated-out refresh record.
    const rotated = await asRefresh(t.aliceRefreshOld);
    t.aliceAccess = cookieOf(rotated, pair.options.cookie.name);
    t.aliceRefresh = cookieOf(rotated, pair.options.refreshCookie.name);
    const bobP = await pair.issue(req(), BOB);
    t.bobAccess = cookieOf(bobP, pair.options.cookie.name);
    t.bobRefresh = cookieOf(bobP, pair.options.refreshCookie.name);
    t.api = (await sliding.createApiToken({ user: ALICE, label: 'reports', scopes: ['reports:read'] })).token;
    t.job = (await sliding.createJobToken({ user: ALICE, jobId: 'nightly-report' })).token;
    [, t.apiId, t.apiSecret] = /^tsr_([^.]+)\.(.+)$/.exec(t.api)!;
    [, t.jobId, t.jobSecret] = /^tsj_([^.]+)\.(.+)$/.exec(t.job)!;
  });

  afterAll(async () => {
    await sliding?.close().catch(() => {});
    await pair?.close().catch(() => {});
    await attacker?.close().catch(() => {});
    await backend?.cleanup();
  });

  it('the genuine tokens authenticate as who they were issued to', async () => {
    expect(await genuineOutcomes()).toEqual(GENUINE);
    expect(t.aliceSession.split('.')).toHaveLength(3);
    expect(sidOf(t.aliceRefresh)).toBe(sidOf(t.aliceAccess));
  });

  it('a raw dump of the storage holds none of the secrets the tokens carry', async () => {
    const dump = await backend.dump();
    // The dump is the real thing: every record, its user and its MAC are in it.
    const ids = [idOf(t.aliceSession), idOf(t.bobSession), idOf(t.aliceAccess), idOf(t.bobAccess), t.apiId, t.jobId, decode(t.aliceRefresh).payload.jti as string, decode(t.aliceRefreshOld).payload.jti as string];
    for (const id of ids) {
      expect(dump).toContain(id);
      const record = (await attacker.get(id))!;
      if (record.kind !== 'refresh') expect(dump).toContain(record.mac); // refresh records carry none
    }
    expect(dump).toContain('Alice');
    expect(dump).toContain(sha256(t.apiSecret)); // only the hash of an API token's secret
    expect(dump).toContain(sha256(t.jobSecret));

    const secrets: Record<string, string> = {
      'signing secret': SECRET,
      'alice session key (sid)': sidOf(t.aliceSession),
      'bob session key (sid)': sidOf(t.bobSession),
      'alice pair session key (sid)': sidOf(t.aliceAccess),
      'bob pair session key (sid)': sidOf(t.bobAccess),
      'API token secret': t.apiSecret,
      'job token secret': t.jobSecret,
      'API token': t.api,
      'job token': t.job,
    };
    for (const [name, jwt] of Object.entries({ aliceSession: t.aliceSession, bobSession: t.bobSession, aliceAccess: t.aliceAccess, aliceRefresh: t.aliceRefresh, aliceRefreshOld: t.aliceRefreshOld, bobAccess: t.bobAccess, bobRefresh: t.bobRefresh })) {
      secrets[`${name} token`] = jwt;
      secrets[`${name} token payload`] = jwt.split('.')[1]!;
      secrets[`${name} token signature`] = jwt.split('.')[2]!;
    }
    const leaked = Object.entries(secrets).filter(([, s]) => dump.includes(s)).map(([name]) => name);
    expect(leaked).toEqual([]);
  });

  it('with the signing secret and every string of the dump, every forged token is refused (401) and the genuine ones still work', async () => {
    const dump = await backend.dump();
    const candidates = [...new Set(dump.match(TOKEN_LIKE) ?? [])];
    expect(candidates.length).toBeGreaterThan(10);

    // The forger is exact: re-signing a genuine token's header and claims gives that very token,
    // and a token it signs with a genuine key (the sid) is accepted. Only the key is missing.
    for (const jwt of [t.aliceSession, t.aliceAccess, t.aliceRefresh]) expect(forge(jwt, {})).toBe(jwt);
    const now = Math.floor(Date.now() / 1000);
    expect(outcome(await asSliding(forge(t.aliceSession, { jti: 'forged-with-the-real-key', iat: now })))).toBe('200 alice ["user"]');
    expect(outcome(await asAccess(forge(t.aliceAccess, { jti: 'forged-with-the-real-key', iat: now })))).toBe('200 alice ["user"]');

    const refreshJtis = [decode(t.aliceRefresh).payload.jti as string, decode(t.bobRefresh).payload.jti as string];
    const attempts: Array<[string, () => Promise<AuthResult>]> = [];
    for (const c of candidates) {
      attempts.push([`session sid=${c}`, () => asSliding(forge(t.aliceSession, { sid: c }))]);
      attempts.push([`session as bob sid=${c}`, () => asSliding(forge(t.bobSession, { sid: c }))]);
      attempts.push([`access sid=${c}`, () => asAccess(forge(t.aliceAccess, { sid: c }))]);
      // A refresh token naming a stored refresh record (its jti is the record id): the sid is still missing.
      for (const jti of refreshJtis) attempts.push([`refresh jti=${jti} sid=${c}`, () => asRefresh(forge(t.aliceRefresh, { sid: c, jti }))]);
      if (SECRET_PART.test(c)) {
        attempts.push([`tsr_${t.apiId}.${c}`, () => asBearer(`tsr_${t.apiId}.${c}`)]);
        attempts.push([`tsj_${t.jobId}.${c}`, () => asBearer(`tsj_${t.jobId}.${c}`)]);
      }
    }
    const accepted: string[] = [];
    await inParallel(attempts, 8, async ([what, attempt]) => {
      const r = await attempt();
      if (r.ok || r.reply.status !== 401) accepted.push(`${what}: ${outcome(r)}`);
    });
    expect(accepted).toEqual([]);
    expect(attempts.length).toBeGreaterThan(candidates.length * 5);
    expect(await genuineOutcomes()).toEqual(GENUINE);
    expect(outcome(await asRefresh(t.bobRefresh))).toBe('200 bob ["user"]'); // bob's refresh token still rotates
  }, 60_000);

  /** The genuine token is refused as a tampered record, never authenticated as the changed identity; bob's sessions are untouched. */
  async function expectTampered(present: () => Promise<AuthResult>): Promise<void> {
    const r = await present();
    expect(outcome(r)).toBe('401 SESSION_ENDED record-tampered');
    expect(lastRejection()).toMatchObject({ code: 'SESSION_ENDED', reason: 'record-tampered' });
    expect(outcome(await asSliding(t.bobSession))).toBe('200 bob ["user"]');
    expect(outcome(await asAccess(t.bobAccess))).toBe('200 bob ["user"]');
  }

  it("a write giving alice's session the admin role is detected: her token is refused", async () => {
    const id = idOf(t.aliceSession);
    const original = await tamper(id, r => ({ ...r, user: { ...r.user!, roles: ['admin'] } }));
    expect((await attacker.get(id))!.user).toEqual(ALICE_ADMIN);
    await expectTampered(() => asSliding(t.aliceSession));
    await restore(original);
    expect(outcome(await asSliding(t.aliceSession))).toBe('200 alice ["user"]');
  });

  it("a write making alice's session bob's (subject, user) is detected", async () => {
    const id = idOf(t.aliceSession);
    const original = await tamper(id, r => ({ ...r, subject: 'bob' }));
    await expectTampered(() => asSliding(t.aliceSession));
    await restore(original);
    await tamper(id, r => ({ ...r, subject: 'bob', user: { ...BOB } }));
    await expectTampered(() => asSliding(t.aliceSession));
    await restore(original);
    expect(outcome(await asSliding(t.aliceSession))).toBe('200 alice ["user"]');
  });

  it("bob's record fields and MAC copied onto alice's record id are refused; so is a record without a MAC", async () => {
    const id = idOf(t.aliceSession);
    const bob = (await attacker.get(idOf(t.bobSession)))!;
    const original = await tamper(id, r => ({ ...r, user: bob.user!, subject: bob.subject, mac: bob.mac! }));
    await expectTampered(() => asSliding(t.aliceSession));
    // The whole of bob's record under alice's id.
    await attacker.put({ ...structuredClone(bob), id, family: id });
    await expectTampered(() => asSliding(t.aliceSession));
    await restore(original);
    const { mac: _mac, ...unsigned } = original;
    await attacker.put({ ...unsigned, user: ALICE_ADMIN });
    await expectTampered(() => asSliding(t.aliceSession));
    await restore(original);
    expect(outcome(await asSliding(t.aliceSession))).toBe('200 alice ["user"]');
  });

  it('a write to an API token record (scopes, user) is detected; so is one to a job token record', async () => {
    const original = await tamper(t.apiId, r => ({ ...r, scopes: ['admin'] }));
    await expectTampered(() => asBearer(t.api));
    await restore(original);
    const ok = await asBearer(t.api);
    expect(ok.ok && ok.session.scopes).toEqual(['reports:read']);
    await tamper(t.apiId, r => ({ ...r, scopes: null }));
    await expectTampered(() => asBearer(t.api));
    await tamper(t.apiId, r => ({ ...r, scopes: ['reports:read'], subject: 'bob', user: { ...BOB } }));
    await expectTampered(() => asBearer(t.api));
    await tamper(t.apiId, r => ({ ...r, subject: 'alice', user: ALICE_ADMIN }));
    await expectTampered(() => asBearer(t.api));
    await restore(original);
    expect(outcome(await asBearer(t.api))).toBe('200 alice ["user"]');

    const job = await tamper(t.jobId, r => ({ ...r, user: ALICE_ADMIN }));
    await expectTampered(() => asBearer(t.job));
    await tamper(t.jobId, r => ({ ...r, user: { ...ALICE }, jobId: 'other-job' }));
    await expectTampered(() => asBearer(t.job));
    await restore(job);
    expect(outcome(await asBearer(t.job))).toBe('200 alice ["user"]');
  });

  it("pair mode: a write to alice's session record refuses her access and her refresh token alike", async () => {
    const id = idOf(t.aliceAccess);
    const original = await tamper(id, r => ({ ...r, user: ALICE_ADMIN }));
    await expectTampered(() => asAccess(t.aliceAccess));
    await expectTampered(() => asRefresh(t.aliceRefresh));
    await tamper(id, r => ({ ...r, subject: 'bob', user: { ...BOB } }));
    await expectTampered(() => asAccess(t.aliceAccess));
    await expectTampered(() => asRefresh(t.aliceRefresh));
    await restore(original);
    expect(outcome(await asAccess(t.aliceAccess))).toBe('200 alice ["user"]');
  });

  it("pair mode: a refresh record rewritten to name bob's session still refreshes only as alice", async () => {
    // Refresh records carry no MAC: the session they refresh is the one the token's sid names.
    const jti = decode(t.aliceRefresh).payload.jti as string;
    await tamper(jti, r => ({ ...r, subject: 'bob', family: idOf(t.bobAccess) }));
    const r = await asRefresh(t.aliceRefresh);
    expect(outcome(r)).toBe('200 alice ["user"]');
    const access = cookieOf(r, pair.options.cookie.name);
    expect(sidOf(access)).toBe(sidOf(t.aliceAccess));
    expect(outcome(await asAccess(access))).toBe('200 alice ["user"]');
    expect(outcome(await asAccess(t.bobAccess))).toBe('200 bob ["user"]');
  });

  it('no secret reached the logs or events', async () => {
    expect(logs.some(l => l.includes('record-tampered'))).toBe(true);
    const text = `${logs.join('\n')}\n${JSON.stringify(events)}`;
    const secrets = [SECRET, sidOf(t.aliceSession), sidOf(t.bobSession), sidOf(t.aliceAccess), sidOf(t.bobAccess), t.apiSecret, t.jobSecret, t.aliceSession, t.aliceAccess, t.aliceRefresh];
    expect(secrets.filter(s => text.includes(s))).toEqual([]);
  });
}

atRestSuite(memoryBackend, 'memory', false);
atRestSuite(fileBackend, 'file', false);
atRestSuite(redisBackend, 'redis', redisSkip);
atRestSuite(postgresBackend, 'postgres', pgSkip);
atRestSuite(dynamoBackend, 'dynamodb (dynalite)', false);
