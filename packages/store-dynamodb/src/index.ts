/**
 * DynamoDB token store: a single table with a composite key (pk, sk). Record items live under
 * `R#<id>`; index items under `S#<subject>` and `F#<family>` give strongly consistent per-user
 * and per-login lookups without a GSI. Every atomic step is one conditional write; a failed
 * condition is a decision, not an error. The table is created only by `await store.setup()`.
 * See README.md for the layout, TTL and consistency notes and the IAM permissions.
 */
import {
  BatchGetItemCommand,
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  ScanCommand,
  UpdateItemCommand,
  UpdateTimeToLiveCommand,
  type AttributeValue,
  type DynamoDBClientConfig,
  type SSESpecification,
  type TableDescription,
  type WriteRequest,
} from './lib/aws.js';
import { ConfigError } from '@tessera/core';
import {
  checkLimit,
  COUNTER_KEY_RE,
  StoreError,
  isLive,
  type HitResult,
  type ListPage,
  type ListQuery,
  type RevokeWhere,
  type RotateResult,
  type TokenRecord,
  type TokenStore,
} from '@tessera/core/store';
import { errorName, isConditionFailure, toStoreError } from './lib/errors.js';
import { Expr } from './lib/expr.js';
import {
  SECRET_KEY,
  counterKey,
  familyKey,
  fromAttr,
  idOfKey,
  indexItems,
  itemToRecord,
  metaKey,
  recordKey,
  recordToItem,
  subjectKey,
  ttlOf,
  type Item,
} from './lib/marshal.js';

export interface DynamoDbStoreOptions {
  /** An existing client; the store uses it and never destroys it. The connection options below are then ignored. */
  client?: DynamoDBClient;
  /** Table name (3-255 characters: letters, digits, `_`, `-`, `.`). Required. */
  table: string;
  region?: string;
  /** A profile from ~/.aws/config and ~/.aws/credentials (loaded with `fromIni`). */
  profile?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** e.g. `http://127.0.0.1:8000` for DynamoDB Local / dynalite. */
  endpoint?: string;
  /** Strongly consistent reads for get/list/revoke lookups. Default true (the store's guarantees assume it). */
  consistentReads?: boolean;
  /** Attempts per request, first included (SDK retries with backoff). Default 3. */
  maxAttempts?: number;
  /** Milliseconds to establish a connection. Default 2000. */
  connectTimeoutMs?: number;
  /** Milliseconds for a whole request. Default 5000. */
  requestTimeoutMs?: number;
  /** Seconds added to expiresAt for the `ttl` attribute. Default 3600. */
  ttlMarginSeconds?: number;
  /**
   * Encryption at rest of the table `setup()` creates (see DynamoDbSse). Default `'aws-owned'`,
   * DynamoDB's own default; `'kms'` or `{ kmsKeyId }` recommended. `setup({ sse })` overrides it.
   */
  sse?: DynamoDbSse;
}

/**
 * Server-side encryption of the table `setup()` creates (DynamoDB always encrypts at rest; this
 * picks the key), sent as CreateTable's SSESpecification:
 *  - `'aws-owned'`: a key AWS owns and manages for DynamoDB (no SSESpecification: DynamoDB's
 *    default). Free, but invisible to you: no CloudTrail record of its use, no key policy.
 *  - `'kms'`: the AWS managed KMS key `aws/dynamodb` of your account (`{ Enabled: true, SSEType: 'KMS' }`).
 *  - `{ kmsKeyId }`: your own customer managed KMS key (id, ARN or alias ARN), sent as `KMSMasterKeyId`;
 *    you control its policy, rotation and revocation. `{}` is the same as `'kms'`.
 */
export type DynamoDbSse = 'aws-owned' | 'kms' | { kmsKeyId?: string };

/** The SSESpecification for `sse` (undefined: DynamoDB's default, the AWS-owned key); ConfigError on a bad value. */
function sseSpecification(sse: unknown, option = 'sse'): SSESpecification | undefined {
  if (sse === undefined || sse === 'aws-owned') return undefined;
  if (sse === 'kms') return { Enabled: true, SSEType: 'KMS' };
  if (sse !== null && typeof sse === 'object' && !Array.isArray(sse)) {
    const extra = Object.keys(sse).filter(k => k !== 'kmsKeyId');
    if (extra.length > 0) throw new ConfigError(`${option}.${extra[0]}`, 'is not an SSE setting (only kmsKeyId)');
    const id = (sse as { kmsKeyId?: unknown }).kmsKeyId;
    if (id === undefined) return { Enabled: true, SSEType: 'KMS' };
    if (typeof id !== 'string' || !/^[A-Za-z0-9:/_+=,.@-]{1,2048}$/.test(id)) {
      throw new ConfigError(`${option}.kmsKeyId`, 'must be a KMS key id, key ARN, alias name or alias ARN');
    }
    return { Enabled: true, SSEType: 'KMS', KMSMasterKeyId: id };
  }
  throw new ConfigError(option, "must be 'aws-owned', 'kms' or { kmsKeyId: '…' }");
}

/** Whether the key ARN a table reports is the key asked for; undefined when that cannot be told without KMS (an alias). */
function sameKmsKey(wanted: string, arn: string): boolean | undefined {
  if (/^arn:[^:]+:kms:[^:]*:[^:]*:key\//.test(wanted)) return wanted === arn;
  if (/^(mrk-)?[0-9a-f-]{32,36}$/i.test(wanted)) return arn.endsWith(`:key/${wanted}`);
  return undefined;
}

/** In-flight requests for fan-out work (revoke of many records, purge, putMany, importRecords). */
const PARALLEL = 16;
/** Errors that mean "slow down": retried with backoff by importRecords (beyond the SDK's own attempts). */
const THROTTLED = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);
const TABLE_RE = /^[A-Za-z0-9_.-]{3,255}$/;

function positiveInt(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min) throw new ConfigError(name, `must be an integer >= ${min}`);
  return v;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function eachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));


/** An export cursor is the Scan's LastEvaluatedKey, `[pk, sk]` as JSON. */
function parseExportCursor(cursor: string | null): Item | undefined {
  if (cursor === null) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(cursor);
  } catch {
    v = null;
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string') {
    throw new RangeError('exportRecords: not a cursor of this store');
  }
  return { pk: { S: v[0] }, sk: { S: v[1] } };
}

/** ids longer than parseRecord accepts can never be records. */
const validId = (id: string): boolean => typeof id === 'string' && id.length > 0 && id.length <= 256;

export class DynamoDbStore implements TokenStore {
  readonly table: string;
  readonly client: DynamoDBClient;
  private readonly ownsClient: boolean;
  private readonly consistent: boolean;
  private readonly ttlMargin: number;
  private readonly sse: DynamoDbSse | undefined;
  private closed = false;

  constructor(options: DynamoDbStoreOptions) {
    const o = options ?? ({} as DynamoDbStoreOptions);
    if (typeof o.table !== 'string' || !TABLE_RE.test(o.table)) {
      throw new ConfigError('table', 'a DynamoDB table name is required: 3-255 characters of letters, digits, _ - .');
    }
    this.table = o.table;
    this.consistent = o.consistentReads ?? true;
    this.ttlMargin = positiveInt('ttlMarginSeconds', o.ttlMarginSeconds, 3600, 0);
    sseSpecification(o.sse);
    this.sse = o.sse;
    if (o.client) {
      this.client = o.client;
      this.ownsClient = false;
      return;
    }
    if ((o.accessKeyId === undefined) !== (o.secretAccessKey === undefined)) {
      throw new ConfigError('accessKeyId', 'accessKeyId and secretAccessKey go together');
    }
    if (o.profile !== undefined && o.accessKeyId !== undefined) throw new ConfigError('profile', 'give either profile or access keys, not both');
    const requestTimeout = positiveInt('requestTimeoutMs', o.requestTimeoutMs, 5000);
    const config: DynamoDBClientConfig = {
      maxAttempts: positiveInt('maxAttempts', o.maxAttempts, 3),
      requestHandler: {
        connectionTimeout: positiveInt('connectTimeoutMs', o.connectTimeoutMs, 2000),
        requestTimeout,
        // Without this the SDK only logs a warning when requestTimeout passes, and waits on.
        throwOnRequestTimeout: true,
      },
    };
    const region = o.region ?? (o.endpoint !== undefined ? 'us-east-1' : undefined);
    if (region !== undefined) config.region = region;
    if (o.endpoint !== undefined) config.endpoint = o.endpoint;
    if (o.accessKeyId !== undefined) {
      config.credentials = {
        accessKeyId: o.accessKeyId,
        secretAccessKey: o.secretAccessKey!,
        ...(o.sessionToken !== undefined ? { sessionToken: o.sessionToken } : {}),
      };
    } else if (o.profile !== undefined) {
      const profile = o.profile;
      // Loaded lazily: the credential-providers bundle is large and only needed for profiles.
      let provider: (() => Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }>) | undefined;
      config.credentials = async () => {
        if (!provider) {
          const { fromIni } = await import('@aws-sdk/credential-providers');
          provider = fromIni({ profile });
        }
        return provider();
      };
    }
    this.client = new DynamoDBClient(config);
    this.ownsClient = true;
  }

  /** Sends a command; failed conditions return 'condition', any other failure throws StoreError. */
  private async send<T>(op: string, command: object, conditional = false): Promise<T | 'condition'> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    try {
      return (await this.client.send(command as Parameters<DynamoDBClient['send']>[0])) as T;
    } catch (err) {
      if (conditional && isConditionFailure(err)) return 'condition';
      throw toStoreError(op, err);
    }
  }
  private async must<T>(op: string, command: object): Promise<T> {
    return (await this.send<T>(op, command)) as T;
  }

  // ---------------------------------------------------------------- setup

  /**
   * Creates the table (pk S HASH + sk S RANGE, PAY_PER_REQUEST, encrypted with the `sse` key) when
   * missing, waits until it is ACTIVE, and enables TTL on `ttl` (ignored by emulators without TTL
   * support). Idempotent. A table that already exists is never changed; when `sse` asks for KMS and
   * the table reports another encryption (or another key), setup throws ConfigError instead.
   */
  async setup(options: { waitMs?: number; sse?: DynamoDbSse } = {}): Promise<void> {
    const deadline = Date.now() + (options.waitMs ?? 120_000);
    const sse = options.sse !== undefined ? options.sse : this.sse;
    const sseSpec = sseSpecification(sse, options.sse !== undefined ? 'setup sse' : 'sse');
    let desc = await this.describe();
    let created = false;
    if (!desc) {
      try {
        await this.client.send(
          new CreateTableCommand({
            TableName: this.table,
            ...(sseSpec ? { SSESpecification: sseSpec } : {}),
            BillingMode: 'PAY_PER_REQUEST',
            AttributeDefinitions: [
              { AttributeName: 'pk', AttributeType: 'S' },
              { AttributeName: 'sk', AttributeType: 'S' },
            ],
            KeySchema: [
              { AttributeName: 'pk', KeyType: 'HASH' },
              { AttributeName: 'sk', KeyType: 'RANGE' },
            ],
          }),
        );
        created = true;
      } catch (err) {
        if (errorName(err) !== 'ResourceInUseException') throw toStoreError('setup', err);
      }
      desc = await this.describe();
    }
    while (!desc || desc.TableStatus !== 'ACTIVE') {
      if (Date.now() > deadline) throw new StoreError(`dynamodb store: table ${this.table} did not become ACTIVE in time`);
      await sleep(200);
      desc = await this.describe();
    }
    const keys = (desc.KeySchema ?? []).map(k => `${k.AttributeName}:${k.KeyType}`).sort().join(',');
    if (keys !== 'pk:HASH,sk:RANGE') {
      throw new ConfigError('table', `table ${this.table} exists with key schema ${keys}; the store needs pk (HASH) + sk (RANGE), both strings`);
    }
    if (!created && sseSpec) this.checkSse(desc, sseSpec);
    await this.enableTtl();
  }

  /** A table setup() did not create must have the KMS encryption asked for (setup never changes it). */
  private checkSse(desc: TableDescription, wanted: SSESpecification): void {
    const d = desc.SSEDescription;
    const kms = d?.SSEType === 'KMS' && (d.Status === 'ENABLED' || d.Status === 'ENABLING' || d.Status === 'UPDATING');
    const arn = d?.KMSMasterKeyArn;
    const key = wanted.KMSMasterKeyId;
    const fix =
      `setup() does not change an existing table's encryption; change it with: aws dynamodb update-table --table-name ${this.table} ` +
      `--sse-specification Enabled=true,SSEType=KMS${key ? `,KMSMasterKeyId=${key}` : ''}`;
    if (!kms) {
      const current = d?.SSEType ? `${d.SSEType} (${d.Status ?? 'status unknown'})` : "the AWS-owned key (DynamoDB's default)";
      throw new ConfigError('sse', `table ${this.table} exists, encrypted with ${current}, not with the KMS key asked for; ${fix}`);
    }
    if (key && arn && sameKmsKey(key, arn) === false) {
      throw new ConfigError('sse.kmsKeyId', `table ${this.table} exists, encrypted with the KMS key ${arn}, not ${key}; ${fix}`);
    }
  }

  private async describe(): Promise<TableDescription | null> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    try {
      const res = await this.client.send(new DescribeTableCommand({ TableName: this.table }));
      return res.Table ?? null;
    } catch (err) {
      if (errorName(err) === 'ResourceNotFoundException') return null;
      throw toStoreError('setup', err);
    }
  }

  private async enableTtl(): Promise<void> {
    try {
      const d = await this.client.send(new DescribeTimeToLiveCommand({ TableName: this.table }));
      const status = d.TimeToLiveDescription?.TimeToLiveStatus;
      if ((status === 'ENABLED' || status === 'ENABLING') && d.TimeToLiveDescription?.AttributeName === 'ttl') return;
      await this.client.send(
        new UpdateTimeToLiveCommand({ TableName: this.table, TimeToLiveSpecification: { Enabled: true, AttributeName: 'ttl' } }),
      );
    } catch (err) {
      const name = errorName(err);
      // dynalite and some emulators have no TTL API; a table where TTL is already being changed is fine too.
      if (name === 'UnknownOperationException') return;
      if (name === 'ValidationException' && /already|in progress/i.test((err as Error).message)) return;
      throw toStoreError('setup (TTL)', err);
    }
  }

  // ---------------------------------------------------------------- records

  async get(id: string): Promise<TokenRecord | null> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    if (!validId(id)) return null;
    const res = await this.must<{ Item?: Item }>(
      'get',
      new GetItemCommand({ TableName: this.table, Key: recordKey(id), ConsistentRead: this.consistent }),
    );
    return itemToRecord(res.Item);
  }

  /**
   * One BatchWriteItem with the record item and its two index items. put resolves only when all
   * three are written, and a failed put never hands out a token, so a record that briefly lacks
   * its index items is never in use. An overwrite that moves a record to another subject or
   * family leaves the old index item behind: reads check the record itself, and `purgeExpired`
   * removes it once the record is gone and the expiry it carries has passed.
   */
  async put(record: TokenRecord): Promise<void> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    await this.batchWrite('put', [recordToItem(record, this.ttlMargin), ...indexItems(record)].map(Item => ({ PutRequest: { Item } })));
  }

  /**
   * Writes many records with BatchWriteItem (25 items per request, 3 items per record, 16
   * requests in flight), retrying unprocessed items. The last occurrence of a duplicated id wins.
   * Not atomic.
   */
  async putMany(records: Iterable<TokenRecord>): Promise<number> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    const unique = new Map<string, TokenRecord>();
    for (const r of records) unique.set(r.id, r);
    const requests: WriteRequest[] = [];
    for (const r of unique.values()) {
      requests.push({ PutRequest: { Item: recordToItem(r, this.ttlMargin) } });
      for (const Item of indexItems(r)) requests.push({ PutRequest: { Item } });
    }
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
    await eachLimit(chunks, PARALLEL, chunk => this.batchWrite('putMany', chunk));
    return unique.size;
  }

  /** One BatchWriteItem of at most 25 requests, retrying unprocessed items with backoff. */
  private async batchWrite(op: string, requests: WriteRequest[]): Promise<void> {
    let pending = requests;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 8) throw new StoreError(`dynamodb store: ${op}: ${pending.length} items stayed unprocessed (throttled)`);
      if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt));
      const res = await this.must<{ UnprocessedItems?: Record<string, WriteRequest[]> }>(
        op,
        new BatchWriteItemCommand({ RequestItems: { [this.table]: pending } }),
      );
      pending = res.UnprocessedItems?.[this.table] ?? [];
    }
  }

  /** Consistent BatchGetItem of record items by id (100 per request); returns the raw items by id. */
  private async batchGet(op: string, ids: readonly string[], projection?: string[]): Promise<Map<string, Item>> {
    const out = new Map<string, Item>();
    const chunks: string[][] = [];
    const unique = [...new Set(ids)].filter(validId);
    for (let i = 0; i < unique.length; i += 100) chunks.push(unique.slice(i, i + 100));
    await eachLimit(chunks, 4, async chunk => {
      let keys: Item[] = chunk.map(recordKey);
      for (let attempt = 0; keys.length > 0; attempt++) {
        if (attempt > 8) throw new StoreError(`dynamodb store: ${op}: keys stayed unprocessed (throttled)`);
        if (attempt > 0) await sleep(Math.min(1000, 25 * 2 ** attempt));
        const e = new Expr();
        const res = await this.must<{ Responses?: Record<string, Item[]>; UnprocessedKeys?: Record<string, { Keys?: Item[] }> }>(
          op,
          new BatchGetItemCommand({
            RequestItems: {
              [this.table]: {
                Keys: keys,
                ConsistentRead: this.consistent,
                ...(projection ? { ProjectionExpression: projection.map(p => e.n(p)).join(', '), ...e.attrs } : {}),
              },
            },
          }),
        );
        for (const item of res.Responses?.[this.table] ?? []) {
          const id = idOfKey(item);
          if (id !== null) out.set(id, item);
        }
        keys = res.UnprocessedKeys?.[this.table]?.Keys ?? [];
      }
    });
    return out;
  }

  async touch(id: string, lastSeenAt: number, expiresAt?: number | null): Promise<boolean> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    if (!validId(id)) return false;
    const update = (withLastSeen: boolean): UpdateItemCommand | null => {
      const e = new Expr();
      const set: string[] = [];
      const remove: string[] = [];
      if (withLastSeen) set.push(`${e.n('lastSeenAt')} = ${e.num(lastSeenAt)}`);
      if (expiresAt !== undefined) {
        if (expiresAt === null) remove.push(e.n('expiresAt'), e.n('ttl'));
        else set.push(`${e.n('expiresAt')} = ${e.num(expiresAt)}`, `${e.n('ttl')} = ${e.num(ttlOf(expiresAt, this.ttlMargin)!)}`);
      }
      if (!set.length && !remove.length) return null;
      // lastSeenAt only moves forward: an out-of-order touch falls back to updating expiresAt alone.
      const order = withLastSeen ? ` AND (${e.absent('lastSeenAt')} OR ${e.n('lastSeenAt')} <= ${e.num(lastSeenAt)})` : '';
      return new UpdateItemCommand({
        TableName: this.table,
        Key: recordKey(id),
        UpdateExpression: [set.length ? `SET ${set.join(', ')}` : '', remove.length ? `REMOVE ${remove.join(', ')}` : ''].join(' ').trim(),
        ConditionExpression: `${e.live(lastSeenAt)}${order}`,
        ReturnValues: 'ALL_NEW',
        ...e.attrs,
      });
    };
    const first = await this.send<{ Attributes?: Item }>('touch', update(true)!, true);
    if (first !== 'condition') return itemToRecord(first.Attributes) !== null;
    // Not live, or lastSeenAt already later: read to tell them apart.
    const current = await this.get(id);
    if (!current || current.revokedAt !== null || (current.expiresAt !== null && current.expiresAt <= lastSeenAt)) return false;
    const second = update(false);
    if (second === null) return true;
    const res = await this.send<{ Attributes?: Item }>('touch', second, true);
    return res !== 'condition' && itemToRecord(res.Attributes) !== null;
  }

  async rotate(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    if (!validId(usedId)) return { status: 'conflict', current: null };
    // The successor first, unreachable until the claim links it: a claim that commits then always
    // points at a stored record, even when its answer is lost (a reset, a partition). The client's
    // retry with the same token gets that head within grace, as with a store whose rotation is one
    // atomic step, instead of a dangling `replacedBy` the core must take for reuse
    // (REFRESH_REUSED, the login revoked).
    await this.put(next);
    const result = await this.claim(usedId, next, now);
    // Not linked (another caller won, or the record is not rotatable): nothing written. Should
    // the delete fail, the orphan is harmless: no token for it was ever signed.
    if (result.status === 'conflict' && result.current?.replacedBy !== next.id) await this.discard(next).catch(() => {});
    return result;
  }

  /** Deletes a successor that no claim links to (its record and index items). */
  private async discard(next: TokenRecord): Promise<void> {
    const keys = [recordKey(next.id), ...indexItems(next).map(i => ({ pk: i.pk!, sk: i.sk! }))];
    await this.batchWrite('rotate', keys.map(Key => ({ DeleteRequest: { Key } })));
  }

  /** The compare-and-set on the used record, its successor already stored. */
  private async claim(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // The claim: one conditional UpdateItem; exactly one concurrent caller passes it.
      const claim = new Expr();
      const won = await this.send<{ Attributes?: Item }>(
        'rotate',
        new UpdateItemCommand({
          TableName: this.table,
          Key: recordKey(usedId),
          UpdateExpression: `SET ${claim.n('rotatedAt')} = ${claim.num(now)}, ${claim.n('replacedBy')} = ${claim.s(next.id)}, ${claim.n('reuseCount')} = ${claim.num(0)}`,
          ConditionExpression: `${claim.live(now)} AND ${claim.absent('rotatedAt')}`,
          ReturnValues: 'ALL_NEW',
          ...claim.attrs,
        }),
        true,
      );
      if (won !== 'condition') {
        // An unreadable item matched the condition: it is not a record (it stays marked, harmlessly).
        if (itemToRecord(won.Attributes) === null) return { status: 'conflict', current: null };
        return this.completeRotation(usedId, next, now);
      }
      // Lost: read the record that made the condition fail. Should the read find it claimable
      // after all (it appeared, or was put again, in between), claim again: a conflict is only
      // reported with a record that explains it.
      const current = await this.get(usedId);
      // Our own claim: an earlier attempt of this call committed it, but its answer was lost and
      // the SDK sent the claim again (`next.id` is new and known to this call only): a win.
      if (current !== null && current.replacedBy === next.id && current.rotatedAt === now) return this.completeRotation(usedId, next, now);
      if (current === null || !isLive(current, now) || current.rotatedAt != null) return { status: 'conflict', current };
    }
    throw new StoreError('dynamodb store: rotate did not settle (record changing under concurrent writes)');
  }

  /**
   * Counted reuse: one conditional `ADD reuseCount 1` below the limit, so concurrent calls never
   * count past it. A `reuseCount` that is not a number fails the comparison (not counted).
   */
  async countReuse(id: string, limit: number): Promise<boolean> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    // An absent reuseCount counts as 0, and the condition below passes it unchecked.
    if (!validId(id) || !(limit > 0)) return false;
    const e = new Expr();
    const res = await this.send<{ Attributes?: Item }>(
      'countReuse',
      new UpdateItemCommand({
        TableName: this.table,
        Key: recordKey(id),
        UpdateExpression: `ADD ${e.n('reuseCount')} ${e.num(1)}`,
        ConditionExpression: `attribute_exists(${e.n('pk')}) AND (attribute_not_exists(${e.n('reuseCount')}) OR ${e.n('reuseCount')} < ${e.num(limit)})`,
        ReturnValues: 'ALL_NEW',
        ...e.attrs,
      }),
      true,
    );
    return res !== 'condition' && itemToRecord(res.Attributes) !== null;
  }

  /**
   * A fixed-window attempt counter item (`C#<key>`). Counting is one conditional UpdateItem: `ADD
   * hits :by` (creating the item, with its window, when absent) on condition that the window is
   * still open at `now`, so concurrent hits each get their own count. A window that has ended is
   * replaced by a conditional PutItem (on condition it is still ended: of concurrent restarters one
   * wins, the others count on its window). Taking back (`by` < 0) is an ADD conditional on an open
   * window and a count of at least -by; reading is a consistent GetItem. The `ttl` attribute lets
   * DynamoDB delete ended counters; `purgeExpired` also drops them.
   */
  async hit(key: string, windowSeconds: number, now: number, by = 1): Promise<HitResult> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    if (!COUNTER_KEY_RE.test(key)) throw new StoreError('dynamodb store: counter key must be [A-Za-z0-9:_-]');
    const Key = counterKey(key);
    const read = async (): Promise<HitResult> => {
      const res = await this.must<{ Item?: Item }>('hit', new GetItemCommand({ TableName: this.table, Key, ConsistentRead: true }));
      const resetAt = Number(res.Item?.resetAt?.N);
      const hits = Number(res.Item?.hits?.N);
      return Number.isSafeInteger(resetAt) && resetAt > now && Number.isSafeInteger(hits) ? { count: Math.max(0, hits), resetAt } : { count: 0, resetAt: now };
    };
    const out = (attrs: Item | undefined): HitResult => ({ count: Number(attrs?.hits?.N ?? 0), resetAt: Number(attrs?.resetAt?.N ?? now) });
    if (by === 0) return read();
    if (by < 0) {
      const e = new Expr();
      const res = await this.send<{ Attributes?: Item }>(
        'hit',
        new UpdateItemCommand({
          TableName: this.table,
          Key,
          UpdateExpression: `ADD ${e.n('hits')} ${e.num(by)}`,
          ConditionExpression: `${e.n('resetAt')} > ${e.num(now)} AND ${e.n('hits')} >= ${e.num(-by)}`,
          ReturnValues: 'ALL_NEW',
          ...e.attrs,
        }),
        true,
      );
      return res === 'condition' ? read() : out(res.Attributes);
    }
    const resetAt = now + windowSeconds;
    const ttl = ttlOf(resetAt, this.ttlMargin)!;
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = new Expr();
      const counted = await this.send<{ Attributes?: Item }>(
        'hit',
        new UpdateItemCommand({
          TableName: this.table,
          Key,
          UpdateExpression: `SET ${e.n('resetAt')} = if_not_exists(${e.n('resetAt')}, ${e.num(resetAt)}), ${e.n('ttl')} = if_not_exists(${e.n('ttl')}, ${e.num(ttl)}) ADD ${e.n('hits')} ${e.num(by)}`,
          ConditionExpression: `attribute_not_exists(${e.n('pk')}) OR ${e.n('resetAt')} > ${e.num(now)}`,
          ReturnValues: 'ALL_NEW',
          ...e.attrs,
        }),
        true,
      );
      if (counted !== 'condition') return out(counted.Attributes);
      // The window has ended: start a new one, unless another hit just did (then count on it).
      const r = new Expr();
      const restarted = await this.send(
        'hit',
        new PutItemCommand({
          TableName: this.table,
          Item: { ...Key, hits: { N: String(by) }, resetAt: { N: String(resetAt) }, ttl: { N: String(ttl) } },
          ConditionExpression: `attribute_exists(${r.n('pk')}) AND NOT (${r.n('resetAt')} > ${r.num(now)})`,
          ...r.attrs,
        }),
        true,
      );
      if (restarted !== 'condition') return { count: by, resetAt };
    }
    throw new StoreError('dynamodb store: hit did not settle (counter changing under concurrent writes)');
  }

  /**
   * After a won claim (the successor stored before it), re-read the used record. A family or subject
   * revoke that ran concurrently either shows up on the used record here (the successor is then
   * revoked too) or ran its final index query after the successor's index items existed (and
   * revoked it itself), so no successor outlives a revoke of its family.
   */
  private async completeRotation(usedId: string, next: TokenRecord, now: number): Promise<RotateResult> {
    let after: TokenRecord | null;
    try {
      after = await this.get(usedId);
    } catch {
      return { status: 'rotated' }; // rotated and stored; only the revoke cross-check could not run
    }
    if (after && after.revokedAt !== null) {
      // The successor is dead on arrival, so the caller gets what a rotate after the revoke gets.
      await this.revokeOne(next.id, after.revokedAt);
      return { status: 'conflict', current: after };
    }
    return { status: 'rotated' };
  }

  async revoke(where: RevokeWhere, now: number): Promise<number> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    if ('id' in where) return (await this.revokeOne(where.id, now)) ? 1 : 0;
    if ('subject' in where) return this.revokePartition(`S#${where.subject}`, now, 'subject', where.subject);
    if ('family' in where) return this.revokePartition(`F#${where.family}`, now, 'family', where.family);
    if ('all' in where && where.all === true) {
      let n = 0;
      let start: Item | undefined;
      do {
        const e = new Expr();
        const res = await this.must<{ Items?: Item[]; LastEvaluatedKey?: Item }>(
          'revoke',
          new ScanCommand({
            TableName: this.table,
            ConsistentRead: this.consistent,
            FilterExpression: `begins_with(${e.n('pk')}, ${e.s('R#')}) AND ${e.absent('revokedAt')}`,
            ProjectionExpression: `${e.n('pk')}, ${e.n('sk')}`,
            ...(start ? { ExclusiveStartKey: start } : {}),
            ...e.attrs,
          }),
        );
        const ids = (res.Items ?? []).map(idOfKey).filter((x): x is string => x !== null);
        await eachLimit(ids, PARALLEL, async id => {
          if (await this.revokeOne(id, now)) n++;
        });
        start = res.LastEvaluatedKey;
      } while (start);
      return n;
    }
    throw new TypeError('revoke: where must be { id } | { subject } | { family } | { all: true }');
  }

  /** Conditional revoke of one record item; an unreadable item is not counted. */
  private async revokeOne(id: string, now: number, match?: { attr: 'subject' | 'family'; value: string }): Promise<boolean> {
    if (!validId(id)) return false;
    const e = new Expr();
    const res = await this.send<{ Attributes?: Item }>(
      'revoke',
      new UpdateItemCommand({
        TableName: this.table,
        Key: recordKey(id),
        UpdateExpression: `SET ${e.n('revokedAt')} = ${e.num(now)}`,
        ConditionExpression: `attribute_exists(${e.n('pk')}) AND ${e.absent('revokedAt')}${match ? ` AND ${e.n(match.attr)} = ${e.s(match.value)}` : ''}`,
        ReturnValues: 'ALL_NEW',
        ...e.attrs,
      }),
      true,
    );
    return res !== 'condition' && itemToRecord(res.Attributes) !== null;
  }

  /**
   * Revokes every record listed in an index partition. The partition is queried again after each
   * round until no new id shows up, so a successor written during the revoke is caught too.
   */
  private async revokePartition(pk: string, now: number, attr: 'subject' | 'family', value: string): Promise<number> {
    const seen = new Set<string>();
    let n = 0;
    for (let round = 0; round < 10; round++) {
      const fresh = (await this.queryIds('revoke', pk)).filter(id => !seen.has(id));
      if (fresh.length === 0) break;
      for (const id of fresh) seen.add(id);
      await eachLimit(fresh, PARALLEL, async id => {
        if (await this.revokeOne(id, now, { attr, value })) n++;
      });
    }
    return n;
  }

  /** All sort keys (record ids) of an index partition, consistently read. */
  private async queryIds(op: string, pk: string): Promise<string[]> {
    const ids: string[] = [];
    let start: Item | undefined;
    do {
      const e = new Expr();
      const res = await this.must<{ Items?: Item[]; LastEvaluatedKey?: Item }>(
        op,
        new QueryCommand({
          TableName: this.table,
          ConsistentRead: this.consistent,
          KeyConditionExpression: `${e.n('pk')} = ${e.s(pk)}`,
          ProjectionExpression: e.n('sk'),
          ...(start ? { ExclusiveStartKey: start } : {}),
          ...e.attrs,
        }),
      );
      for (const item of res.Items ?? []) if (item.sk?.S !== undefined) ids.push(item.sk.S);
      start = res.LastEvaluatedKey;
    } while (start);
    return ids;
  }

  // ---------------------------------------------------------------- list

  async list(query: ListQuery): Promise<ListPage> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    const limit = query.limit;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('list: limit must be a positive integer');
    const found = query.subject !== undefined ? await this.listSubject(query.subject, query, limit + 1) : await this.listAll(query, limit + 1);
    const records = found.slice(0, limit);
    return { records, cursor: found.length > limit ? records[limit - 1]!.id : null };
  }

  /** Up to `want` records of one subject in id order, after the cursor: the S# partition, then the records. */
  private async listSubject(subject: string, query: ListQuery, want: number): Promise<TokenRecord[]> {
    const found: TokenRecord[] = [];
    let after = query.cursor ?? null;
    for (;;) {
      const e = new Expr();
      const step = Math.min(1000, Math.max(25, (want - found.length) * (query.kind ? 3 : 1)));
      const res = await this.must<{ Items?: Item[]; LastEvaluatedKey?: Item }>(
        'list',
        new QueryCommand({
          TableName: this.table,
          ConsistentRead: this.consistent,
          KeyConditionExpression: `${e.n('pk')} = ${e.s(`S#${subject}`)}${after !== null ? ` AND ${e.n('sk')} > ${e.s(after)}` : ''}`,
          ProjectionExpression: e.n('sk'),
          Limit: step,
          ...e.attrs,
        }),
      );
      const ids = (res.Items ?? []).map(i => i.sk?.S).filter((x): x is string => x !== undefined);
      const items = await this.batchGet('list', ids);
      for (const id of ids) {
        const rec = itemToRecord(items.get(id));
        if (rec && rec.subject === subject && (query.kind === undefined || rec.kind === query.kind)) {
          found.push(rec);
          if (found.length >= want) return found;
        }
      }
      if (!res.LastEvaluatedKey || ids.length === 0) return found;
      after = ids[ids.length - 1]!;
    }
  }

  /** Up to `want` records in table (scan) order after the cursor record. */
  private async listAll(query: ListQuery, want: number): Promise<TokenRecord[]> {
    const found: TokenRecord[] = [];
    let start: Item | undefined = query.cursor ? recordKey(query.cursor) : undefined;
    for (;;) {
      const e = new Expr();
      const res = await this.must<{ Items?: Item[]; LastEvaluatedKey?: Item }>(
        'list',
        new ScanCommand({
          TableName: this.table,
          ConsistentRead: this.consistent,
          FilterExpression: `begins_with(${e.n('pk')}, ${e.s('R#')})${query.kind !== undefined ? ` AND ${e.n('kind')} = ${e.s(query.kind)}` : ''}`,
          Limit: Math.min(1000, Math.max(50, want * 2)),
          ...(start ? { ExclusiveStartKey: start } : {}),
          ...e.attrs,
        }),
      );
      for (const item of res.Items ?? []) {
        const rec = itemToRecord(item);
        if (rec && (query.kind === undefined || rec.kind === query.kind)) {
          found.push(rec);
          if (found.length >= want) return found;
        }
      }
      start = res.LastEvaluatedKey;
      if (!start) return found;
    }
  }

  // ---------------------------------------------------------------- bulk: export, import, count, meta

  /**
   * A consistent Scan of the record items from the cursor (the Scan's LastEvaluatedKey); a record
   * present throughout appears exactly once. A Scan's Limit counts every item read, index and meta
   * items too, so a page is topped up with further Scans until it is at least half full (never
   * over `limit`). Unreadable items are skipped.
   */
  async exportRecords(cursor: string | null, limit: number): Promise<ListPage> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    checkLimit(limit);
    let start = parseExportCursor(cursor);
    const records: TokenRecord[] = [];
    do {
      const e = new Expr();
      const res = await this.must<{ Items?: Item[]; LastEvaluatedKey?: Item }>(
        'exportRecords',
        new ScanCommand({
          TableName: this.table,
          ConsistentRead: this.consistent,
          FilterExpression: `begins_with(${e.n('pk')}, ${e.s('R#')})`,
          Limit: limit - records.length,
          ...(start ? { ExclusiveStartKey: start } : {}),
          ...e.attrs,
        }),
      );
      for (const item of res.Items ?? []) {
        const rec = itemToRecord(item);
        if (rec) records.push(rec);
      }
      start = res.LastEvaluatedKey;
    } while (start && records.length < limit / 2);
    return { records, cursor: start ? JSON.stringify([start.pk?.S ?? '', start.sk?.S ?? '']) : null };
  }

  /**
   * Put-if-absent. BatchWriteItem cannot be conditional, so: first the index items of every record
   * (BatchWriteItem; they are pointers that readers check against the record, so one written for a
   * record that turns out present is harmless), then each record item with a conditional PutItem
   * (`attribute_not_exists(pk)`), PARALLEL in flight, throttled ones retried. Index items first,
   * so no record is ever left without them, even when a call fails half way and is run again (the
   * retry skips the records already written). Returns how many record items were written.
   */
  async importRecords(records: readonly TokenRecord[]): Promise<number> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    // One request per key: BatchWriteItem refuses a batch naming a key twice.
    const index = new Map<string, WriteRequest>();
    for (const r of records) for (const Item of indexItems(r)) index.set(`${Item.pk!.S}\u0000${Item.sk!.S}`, { PutRequest: { Item } });
    const requests = [...index.values()];
    const chunks: WriteRequest[][] = [];
    for (let i = 0; i < requests.length; i += 25) chunks.push(requests.slice(i, i + 25));
    await eachLimit(chunks, PARALLEL, chunk => this.batchWrite('importRecords', chunk));
    let written = 0;
    await eachLimit(records, PARALLEL, async r => {
      if (await this.putIfAbsent(r)) written++;
    });
    return written;
  }

  /** One conditional PutItem of a record item; false when an item with its key exists. Throttling is retried with backoff. */
  private async putIfAbsent(record: TokenRecord): Promise<boolean> {
    const item = recordToItem(record, this.ttlMargin);
    for (let attempt = 0; ; attempt++) {
      const e = new Expr();
      try {
        const res = await this.send(
          'importRecords',
          new PutItemCommand({ TableName: this.table, Item: item, ConditionExpression: `attribute_not_exists(${e.n('pk')})`, ...e.attrs }),
          true,
        );
        return res !== 'condition';
      } catch (err) {
        const cause = (err as { cause?: unknown }).cause;
        if (attempt >= 8 || !THROTTLED.has(errorName(cause) ?? '')) throw err;
        await sleep(Math.min(1000, 25 * 2 ** attempt));
      }
    }
  }

  /**
   * An estimate: DescribeTable's ItemCount (which DynamoDB refreshes about every six hours) over
   * the three items each record has. When that reads 0 (a new table, or an emulator that does not
   * keep it) or DescribeTable is not allowed, an exact COUNT Scan of the record items instead
   * (which reads the whole table).
   */
  async countRecords(): Promise<number> {
    let items = 0;
    try {
      items = (await this.describe())?.ItemCount ?? 0;
    } catch (err) {
      // A role without dynamodb:DescribeTable (the runtime needs none) counts by Scan.
      if (errorName((err as { cause?: unknown }).cause) !== 'AccessDeniedException') throw err;
    }
    if (items > 0) return Math.round(items / 3);
    let n = 0;
    let start: Item | undefined;
    do {
      const e = new Expr();
      const res = await this.must<{ Count?: number; LastEvaluatedKey?: Item }>(
        'countRecords',
        new ScanCommand({
          TableName: this.table,
          Select: 'COUNT',
          FilterExpression: `begins_with(${e.n('pk')}, ${e.s('R#')})`,
          ...(start ? { ExclusiveStartKey: start } : {}),
          ...e.attrs,
        }),
      );
      n += res.Count ?? 0;
      start = res.LastEvaluatedKey;
    } while (start);
    return n;
  }

  async getMeta(key: string): Promise<string | null> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    const res = await this.must<{ Item?: Item }>('getMeta', new GetItemCommand({ TableName: this.table, Key: metaKey(key), ConsistentRead: true }));
    const value = res.Item?.value?.S;
    return typeof value === 'string' ? value : null;
  }

  async setMeta(key: string, value: string | null): Promise<void> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    if (value === null) await this.must('setMeta', new DeleteItemCommand({ TableName: this.table, Key: metaKey(key) }));
    else await this.must('setMeta', new PutItemCommand({ TableName: this.table, Item: { ...metaKey(key), value: { S: value } } }));
  }

  // ---------------------------------------------------------------- purge, secret, close

  /**
   * Scans the table and deletes records revoked or expired at `now` (conditionally, so a record
   * touched meanwhile survives) with their index items; also drops index items whose record is
   * gone (deleted by DynamoDB TTL) once the expiry they carry has passed. Returns how many
   * records were deleted.
   */
  async purgeExpired(now: number): Promise<number> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    let deleted = 0;
    let start: Item | undefined;
    do {
      const res = await this.must<{ Items?: Item[]; LastEvaluatedKey?: Item }>(
        'purgeExpired',
        new ScanCommand({
          TableName: this.table,
          ConsistentRead: this.consistent,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      const dead: Item[] = [];
      const orphanCandidates: Item[] = [];
      const endedCounters: Item[] = [];
      for (const item of res.Items ?? []) {
        const pk = item.pk?.S ?? '';
        if (pk.startsWith('R#')) {
          const revoked = item.revokedAt !== undefined && item.revokedAt.NULL === undefined;
          const exp = item.expiresAt?.N !== undefined ? Number(item.expiresAt.N) : null;
          if (revoked || (exp !== null && exp <= now)) dead.push(item);
        } else if (pk.startsWith('S#') || pk.startsWith('F#')) {
          const exp = item.expiresAt?.N !== undefined ? Number(item.expiresAt.N) : null;
          if (exp !== null && exp <= now) orphanCandidates.push(item);
        } else if (pk.startsWith('C#')) {
          const reset = item.resetAt?.N !== undefined ? Number(item.resetAt.N) : null;
          if (reset !== null && reset <= now) endedCounters.push(item);
        }
      }
      await eachLimit(dead, PARALLEL, async item => {
        const e = new Expr();
        const gone = await this.send(
          'purgeExpired',
          new DeleteItemCommand({
            TableName: this.table,
            Key: { pk: item.pk!, sk: item.sk! },
            ConditionExpression: `attribute_exists(${e.n('pk')}) AND ((attribute_exists(${e.n('revokedAt')}) AND NOT attribute_type(${e.n('revokedAt')}, ${e.s('NULL')})) OR ${e.n('expiresAt')} <= ${e.num(now)})`,
            ...e.attrs,
          }),
          true,
        );
        if (gone === 'condition') return;
        deleted++;
        const id = idOfKey(item)!;
        const subject = item.subject?.S;
        const family = item.family?.S;
        const keys: WriteRequest[] = [];
        if (subject !== undefined) keys.push({ DeleteRequest: { Key: subjectKey(subject, id) } });
        if (family !== undefined) keys.push({ DeleteRequest: { Key: familyKey(family, id) } });
        if (keys.length) await this.batchWrite('purgeExpired', keys);
      });
      if (orphanCandidates.length) {
        const present = await this.batchGet(
          'purgeExpired',
          orphanCandidates.map(i => i.sk?.S ?? ''),
          ['pk', 'sk'],
        );
        const orphans = orphanCandidates.filter(i => !present.has(i.sk?.S ?? ''));
        await eachLimit(orphans, PARALLEL, async item => {
          const e = new Expr();
          // Only if unchanged: a put that re-created the record rewrites the index item first.
          await this.send(
            'purgeExpired',
            new DeleteItemCommand({
              TableName: this.table,
              Key: { pk: item.pk!, sk: item.sk! },
              ConditionExpression: `${e.n('expiresAt')} = ${e.v(item.expiresAt!)}`,
              ...e.attrs,
            }),
            true,
          );
        });
      }
      // Ended attempt counters (not counted: they are not records); only if still ended, as a hit may have restarted one.
      await eachLimit(endedCounters, PARALLEL, async item => {
        const e = new Expr();
        await this.send(
          'purgeExpired',
          new DeleteItemCommand({ TableName: this.table, Key: { pk: item.pk!, sk: item.sk! }, ConditionExpression: `${e.n('resetAt')} <= ${e.num(now)}`, ...e.attrs }),
          true,
        );
      });
      start = res.LastEvaluatedKey;
    } while (start);
    return deleted;
  }

  async initSecret(candidate: string): Promise<string> {
    if (this.closed) throw new StoreError('dynamodb store is closed');
    const e = new Expr();
    const put = await this.send(
      'initSecret',
      new PutItemCommand({
        TableName: this.table,
        Item: { ...SECRET_KEY, value: { S: candidate } },
        ConditionExpression: `attribute_not_exists(${e.n('pk')})`,
        ...e.attrs,
      }),
      true,
    );
    if (put !== 'condition') return candidate;
    const res = await this.must<{ Item?: Item }>('initSecret', new GetItemCommand({ TableName: this.table, Key: SECRET_KEY, ConsistentRead: true }));
    const value = res.Item?.value ? fromAttr(res.Item.value) : undefined;
    if (typeof value !== 'string') throw new StoreError('dynamodb store: the stored instance secret is unreadable');
    return value;
  }

  /** Destroys the client when the store created it; a client given in the options is left alone. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) this.client.destroy();
  }
}

export function dynamoDbStore(options: DynamoDbStoreOptions): DynamoDbStore {
  return new DynamoDbStore(options);
}

export type { AttributeValue };
