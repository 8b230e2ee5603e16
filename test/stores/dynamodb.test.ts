/**
 * DynamoDB store: the shared conformance suite against dynalite (an in-memory DynamoDB
 * emulator started here on a random loopback port), plus DynamoDB-specific behaviour.
 */
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tessera/core';
import { isStoreError, type TokenRecord } from '@tessera/core/store';
import { DynamoDbStore, dynamoDbStore, type DynamoDbStoreOptions } from '../../packages/store-dynamodb/src/index.js';
import {
  DeleteItemCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
} from '../../packages/store-dynamodb/src/lib/aws.js';
import { toAttr, type Item } from '../../packages/store-dynamodb/src/lib/marshal.js';
import { defineStoreSuite } from '../../packages/testkit/src/store-suite.js';
import { silentServer, timed } from '../../packages/testkit/src/services.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
afterAll(() => new Promise<void>(resolve => server.close(() => resolve())));

let tableCount = 0;
function options(over: Partial<DynamoDbStoreOptions> = {}): DynamoDbStoreOptions {
  return {
    table: `tessera_${process.pid}_${++tableCount}`,
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'AKIDTEST',
    secretAccessKey: 'test-secret-key',
    ...over,
  };
}

/**
 * Writes `raw` as the record item of `id`, bypassing the store: a JSON object becomes one
 * attribute per field (as another writer or an older schema could have left it); anything else
 * becomes an item with just a `raw` string.
 */
async function writeRaw(store: DynamoDbStore, id: string, raw: string): Promise<void> {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    v = undefined;
  }
  const item: Item = { pk: { S: `R#${id}` }, sk: { S: 'R' } };
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) item[k] = toAttr(x);
  } else {
    item.raw = { S: raw };
  }
  await store.client.send(new PutItemCommand({ TableName: store.table, Item: item }));
}

defineStoreSuite(
  'dynamodb (dynalite)',
  async () => {
    const store = dynamoDbStore(options());
    await store.setup();
    return store;
  },
  {
    skip: false,
    writeRaw,
    readRaw: async (store, id) => {
      const res = await store.client.send(new GetItemCommand({ TableName: store.table, Key: { pk: { S: `R#${id}` }, sk: { S: 'R' } }, ConsistentRead: true }));
      return res.Item ? JSON.stringify(res.Item) : null;
    },
  },
);

const T = Math.floor(Date.now() / 1000);
function rec(id: string, over: Partial<TokenRecord> = {}): TokenRecord {
  return { id, kind: 'refresh', subject: 'u1', family: 'f1', createdAt: T - 10, lastSeenAt: T - 10, expiresAt: T + 3600, revokedAt: null, ...over };
}

async function rawGet(store: DynamoDbStore, pk: string, sk: string): Promise<Item | undefined> {
  const res = await store.client.send(new GetItemCommand({ TableName: store.table, Key: { pk: { S: pk }, sk: { S: sk } }, ConsistentRead: true }));
  return res.Item;
}

async function partition(store: DynamoDbStore, pk: string): Promise<string[]> {
  const res = await store.client.send(
    new QueryCommand({
      TableName: store.table,
      KeyConditionExpression: 'pk = :p',
      ExpressionAttributeValues: { ':p': { S: pk } },
      ConsistentRead: true,
    }),
  );
  return (res.Items ?? []).map(i => i.sk!.S!).sort();
}

async function withStore(fn: (store: DynamoDbStore) => Promise<void>, over: Partial<DynamoDbStoreOptions> = {}): Promise<void> {
  const store = dynamoDbStore(options(over));
  try {
    await store.setup();
    await fn(store);
  } finally {
    await store.close();
  }
}

describe('dynamodb store: unreachable endpoint and options', () => {
  it('rejects with STORE_UNAVAILABLE within 3 s when nothing listens (and never echoes the secret key)', async () => {
    const store = dynamoDbStore(options({ endpoint: 'http://127.0.0.1:1', maxAttempts: 2, connectTimeoutMs: 1000, requestTimeoutMs: 1500 }));
    try {
      const calls: Array<() => Promise<unknown>> = [() => store.get('x'), () => store.setup(), () => store.rotate('x', rec('y'), T)];
      for (const call of calls) {
        const r = await timed(call());
        expect(r.ms).toBeLessThan(3000);
        expect(isStoreError(r.error)).toBe(true);
        expect((r.error as { code?: string }).code).toBe('STORE_UNAVAILABLE');
        expect((r.error as Error).message).not.toContain('test-secret-key');
      }
    } finally {
      await store.close();
    }
  });

  it('does not hang on an endpoint that accepts connections but never answers', async () => {
    const silent = await silentServer();
    const port = silent.port;
    const store = dynamoDbStore(options({ endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1, requestTimeoutMs: 1000 }));
    try {
      const r = await timed(store.get('x'));
      expect(isStoreError(r.error)).toBe(true);
      expect(r.ms).toBeLessThan(3000);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  it('validates options at construction', () => {
    expect(() => dynamoDbStore({ table: 'x' })).toThrow(ConfigError);
    expect(() => dynamoDbStore({ table: 'bad name!' })).toThrow(ConfigError);
    expect(() => dynamoDbStore({ table: 'tokens', accessKeyId: 'AKID' })).toThrow(ConfigError);
    expect(() => dynamoDbStore({ table: 'tokens', profile: 'p', accessKeyId: 'a', secretAccessKey: 'b' })).toThrow(ConfigError);
    expect(() => dynamoDbStore({ table: 'tokens', ttlMarginSeconds: -1 })).toThrow(ConfigError);
  });
});

describe('dynamodb store: specifics', () => {
  it('creates nothing until setup(); setup() is idempotent and makes a pk/sk PAY_PER_REQUEST table', async () => {
    const store = dynamoDbStore(options());
    try {
      const before = await timed(store.get('x'));
      expect(isStoreError(before.error)).toBe(true);
      expect((before.error as Error).message).toContain('setup()');
      await expect(store.client.send(new DescribeTableCommand({ TableName: store.table }))).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
      await store.setup();
      await store.setup();
      await Promise.all([store.setup(), store.setup()]);
      const d = (await store.client.send(new DescribeTableCommand({ TableName: store.table }))).Table!;
      expect(d.TableStatus).toBe('ACTIVE');
      expect(d.KeySchema).toEqual([
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ]);
      expect(d.BillingModeSummary?.BillingMode ?? 'PAY_PER_REQUEST').toBe('PAY_PER_REQUEST');
      await store.put(rec('kept'));
      await store.setup();
      expect((await store.get('kept'))?.id).toBe('kept');
    } finally {
      await store.close();
    }
  });

  it('writes a record item, subject and family index items, and ttl = expiresAt + margin; stale index items are ignored, then purged', () =>
    withStore(
      async store => {
        await store.put(rec('r1', { subject: 'alice', family: 'fam1' }));
        await store.put(rec('k1', { kind: 'api', subject: 'alice', family: 'k1', expiresAt: null, secretHash: 'h' }));
        const item = await rawGet(store, 'R#r1', 'R');
        expect(item).toMatchObject({ id: { S: 'r1' }, kind: { S: 'refresh' }, subject: { S: 'alice' }, ttl: { N: String(T + 3600 + 60) } });
        expect(item?.revokedAt).toBeUndefined(); // null fields are absent
        expect((await rawGet(store, 'R#k1', 'R'))?.ttl).toBeUndefined(); // never expires: no TTL
        expect(await partition(store, 'S#alice')).toEqual(['k1', 'r1']);
        expect(await partition(store, 'F#fam1')).toEqual(['r1']);
        // touch moves the ttl with expiresAt, and removes it for "never"
        await store.touch('r1', T, T + 7200);
        expect((await rawGet(store, 'R#r1', 'R'))?.ttl).toEqual({ N: String(T + 7200 + 60) });
        await store.touch('r1', T + 1, null);
        expect((await rawGet(store, 'R#r1', 'R'))?.ttl).toBeUndefined();
        // moving a record to another subject leaves a stale index item that reads ignore ...
        await store.put(rec('r1', { subject: 'bob', family: 'fam2' }));
        expect(await partition(store, 'S#alice')).toEqual(['k1', 'r1']);
        expect(await partition(store, 'S#bob')).toEqual(['r1']);
        expect((await store.list({ subject: 'alice', limit: 10 })).records.map(r => r.id)).toEqual(['k1']);
        await expect(store.revoke({ subject: 'alice' }, T)).resolves.toBe(1);
        expect((await store.get('r1'))?.revokedAt).toBeNull();
        // ... and purge removes once the record is gone and the expiry it carries has passed
        await store.revoke({ id: 'r1' }, T);
        await expect(store.purgeExpired(T)).resolves.toBe(2);
        expect(await partition(store, 'S#bob')).toEqual([]);
        expect(await partition(store, 'S#alice')).toEqual(['r1']);
        await store.purgeExpired(T + 3600);
        expect(await partition(store, 'S#alice')).toEqual([]);
        expect(await partition(store, 'F#fam1')).toEqual([]);
      },
      { ttlMarginSeconds: 60 },
    ));

  it('touch refuses an expired record instead of resurrecting it, and never moves lastSeenAt back', () =>
    withStore(async store => {
      await store.put(rec('old', { expiresAt: T - 1 }));
      await expect(store.touch('old', T, T + 3600)).resolves.toBe(false);
      expect((await store.get('old'))?.expiresAt).toBe(T - 1);
      await store.put(rec('s', { lastSeenAt: T }));
      await expect(store.touch('s', T - 100, T + 5000)).resolves.toBe(true);
      const got = await store.get('s');
      expect(got?.lastSeenAt).toBe(T);
      expect(got?.expiresAt).toBe(T + 5000);
    }));

  it('purgeExpired drops index items left behind by TTL deletions, keeping those of live records', () =>
    withStore(async store => {
      await store.put(rec('gone', { subject: 'carol', family: 'fg', expiresAt: T + 10 }));
      await store.put(rec('live', { subject: 'carol', family: 'fl', expiresAt: T + 10 }));
      await store.touch('live', T, T + 9999); // record extended; its index items still carry T + 10
      // DynamoDB TTL removes the record item only:
      await store.client.send(new DeleteItemCommand({ TableName: store.table, Key: { pk: { S: 'R#gone' }, sk: { S: 'R' } } }));
      await expect(store.purgeExpired(T)).resolves.toBe(0); // not past the carried expiry yet
      expect(await partition(store, 'S#carol')).toEqual(['gone', 'live']);
      await expect(store.purgeExpired(T + 20)).resolves.toBe(0);
      expect(await partition(store, 'S#carol')).toEqual(['live']);
      expect(await partition(store, 'F#fg')).toEqual([]);
      expect(await partition(store, 'F#fl')).toEqual(['live']);
      expect((await store.list({ subject: 'carol', limit: 10 })).records.map(r => r.id)).toEqual(['live']);
    }));

  it('a family revoke racing rotations never leaves a live record in the family', () =>
    withStore(async store => {
      const failures: string[] = [];
      for (let round = 0; round < 40; round++) {
        const family = `race${round}`;
        await store.put(rec(`u${round}`, { family }));
        const [rotated] = await Promise.all([
          store.rotate(`u${round}`, rec(`n${round}`, { family }), T),
          new Promise(r => setTimeout(r, round % 4)).then(() => store.revoke({ family }, T)),
        ]);
        const items = await partition(store, `F#${family}`);
        for (const id of items) {
          const r = await store.get(id);
          if (r && r.revokedAt === null) failures.push(`round ${round}: ${id} live after revoke (rotate said ${rotated.status})`);
        }
      }
      expect(failures).toEqual([]);
    }));

  it('lists the whole table with a Scan, skipping index and meta items', () =>
    withStore(async store => {
      await store.initSecret!('s3cret');
      for (let i = 0; i < 5; i++) await store.put(rec(`x${i}`, { subject: `s${i}`, family: `f${i}` }));
      const page = await store.list({ limit: 50 });
      expect(page.records.map(r => r.id).sort()).toEqual(['x0', 'x1', 'x2', 'x3', 'x4']);
      expect(page.cursor).toBeNull();
      const scanned = await store.client.send(new ScanCommand({ TableName: store.table }));
      expect(scanned.Count).toBe(5 * 3 + 1);
    }));

  it('putMany writes records with their index items (BatchWriteItem) and reports its rate', () =>
    withStore(async store => {
      const N = 5000;
      const records = Array.from({ length: N }, (_, i) =>
        rec(`bulk${i}`, { kind: 'session', subject: `user${i % 50}`, family: `bulk${i}`, user: { id: `user${i % 50}` } }),
      );
      const t0 = performance.now();
      await expect(store.putMany([...records, { ...records[0]!, lastSeenAt: T }])).resolves.toBe(N);
      const ms = performance.now() - t0;
      console.log(`dynamodb (dynalite) putMany: ${N} records (${N * 3} items) in ${ms.toFixed(0)} ms = ${Math.round((N / ms) * 1000)} records/s`);
      expect((await store.get('bulk0'))?.lastSeenAt).toBe(T); // the last duplicate won
      expect(await store.get('bulk4321')).toEqual(records[4321]);
      const mine = await store.list({ subject: 'user7', limit: 1000 });
      expect(mine.records).toHaveLength(N / 50);
      await expect(store.revoke({ subject: 'user7' }, T)).resolves.toBe(N / 50);
    }), 120_000);
});
