/**
 * DynamoDB store `setup()` encryption settings: the SSESpecification that goes out on the wire in
 * CreateTable (captured from the SDK's serialized HTTP request), against dynalite started here on a
 * loopback port (it accepts the specification but does not report encryption back); and the
 * check of a table that already exists, with DescribeTable's SSEDescription set as real DynamoDB
 * reports it (dynalite reports none).
 */
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { afterAll, describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tessera/core';
import { DynamoDbStore, type DynamoDbSse, type DynamoDbStoreOptions } from '../../packages/store-dynamodb/src/index.js';
import type { TableDescription } from '../../packages/store-dynamodb/src/lib/aws.js';


process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const server = dynalite({ createTableMs: 0, deleteTableMs: 0 });
await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const stores: DynamoDbStore[] = [];
afterAll(async () => {
  for (const s of stores) await s.close().catch(() => {});
  await new Promise<void>(resolve => server.close(() => resolve()));
});

let tableCount = 0;
function store(over: Partial<DynamoDbStoreOptions> = {}): DynamoDbStore {
  const s = new DynamoDbStore({
    table: `tessera_sse_${process.pid}_${++tableCount}`,
    endpoint,
    region: 'us-east-1',
    accessKeyId: 'AKIDTEST',
    secretAccessKey: 'test-secret-key',
    ...over,
  });
  stores.push(s);
  return s;
}

type Sent = { target: string; body: Record<string, unknown> };

/** Records every request the store's client sends, as serialized for the wire (operation and JSON body). */
function capture(s: DynamoDbStore): Sent[] {
  const sent: Sent[] = [];
  s.client.middlewareStack.add(
    next => async args => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      const target = req.headers?.['x-amz-target'] ?? '';
      const raw = typeof req.body === 'string' ? req.body : req.body instanceof Uint8Array ? new TextDecoder().decode(req.body) : undefined;
      if (raw === undefined) throw new Error(`unexpected request body type ${typeof req.body}`);
      sent.push({ target: target.replace(/^DynamoDB_\d+\./, ''), body: JSON.parse(raw) as Record<string, unknown> });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'tesseraCaptureRequest' },
  );
  return sent;
}

/** Makes DescribeTable report `sse` as the table's encryption, as DynamoDB does (dynalite reports none). */
function reportSse(s: DynamoDbStore, sse: SSEDescription): void {
  s.client.middlewareStack.add(
    next => async args => {
      const out = await next(args);
      const table = (out.output as { Table?: { SSEDescription?: SSEDescription } }).Table;
      if (table) table.SSEDescription = sse;
      return out;
    },
    { step: 'initialize', name: 'tesseraReportSse' },
  );
}

type SSEDescription = NonNullable<TableDescription['SSEDescription']>;

const createTable = (sent: Sent[]) => sent.filter(r => r.target === 'CreateTable');
const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('dynamodb store setup(): encryption at rest (SSESpecification)', () => {
  it('sends no SSESpecification by default or for aws-owned: DynamoDB’s default, the AWS-owned key', async () => {
    for (const sse of [undefined, 'aws-owned' as const]) {
      const s = store(sse ? { sse } : {});
      const sent = capture(s);
      await s.setup();
      expect(createTable(sent)).toHaveLength(1);
      expect(createTable(sent)[0]!.body).not.toHaveProperty('SSESpecification');
      expect(createTable(sent)[0]!.body.TableName).toBe(s.table);
    }
  });

  it('sends KMS with the AWS managed key for kms (and {}), and the customer managed key for { kmsKeyId }', async () => {
    const cases: Array<[DynamoDbSse, Record<string, unknown>]> = [
      ['kms', { Enabled: true, SSEType: 'KMS' }],
      [{}, { Enabled: true, SSEType: 'KMS' }],
      [{ kmsKeyId: KEY_ARN }, { Enabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY_ARN }],
      [{ kmsKeyId: 'alias/tessera-sessions' }, { Enabled: true, SSEType: 'KMS', KMSMasterKeyId: 'alias/tessera-sessions' }],
    ];
    for (const [sse, expected] of cases) {
      const s = store({ sse });
      const sent = capture(s);
      await s.setup();
      expect(createTable(sent).map(r => r.body.SSESpecification)).toEqual([expected]);
      // The table was made and works.
      await s.setMeta('probe', 'ok');
      expect(await s.getMeta('probe')).toBe('ok');
    }
  });

  it('setup({ sse }) overrides the store option', async () => {
    const s = store({ sse: 'aws-owned' });
    const sent = capture(s);
    await s.setup({ sse: { kmsKeyId: KEY_ARN } });
    expect(createTable(sent)[0]!.body.SSESpecification).toEqual({ Enabled: true, SSEType: 'KMS', KMSMasterKeyId: KEY_ARN });
  });

  it('refuses bad sse values with a ConfigError, at construction and in setup', async () => {
    for (const sse of ['KMS', 'aes256', 42, null, [], { kmsKeyId: '' }, { kmsKeyId: 'has space' }, { keyId: KEY_ARN }]) {
      expect(() => store({ sse: sse as never })).toThrow(ConfigError);
    }
    expect(() => store({ sse: { kmsKeyId: 'x y' } })).toThrow(/sse\.kmsKeyId: must be a KMS key id/);
    await expect(store().setup({ sse: 'customer' as never })).rejects.toThrow(/setup sse: must be 'aws-owned', 'kms' or \{ kmsKeyId/);
  });
});

describe('dynamodb store setup(): a table that already exists keeps its encryption', () => {
  /** A table made first without SSE, then set up again by a store asking for `sse`. */
  async function existing(sse: DynamoDbSse, reported?: SSEDescription): Promise<{ s: DynamoDbStore; sent: Sent[]; result: Promise<void> }> {
    const first = store();
    await first.setup();
    const s = store({ table: first.table, sse });
    if (reported) reportSse(s, reported);
    const sent = capture(s);
    return { s, sent, result: s.setup() };
  }

  it('refuses KMS asked for on a table encrypted with the AWS-owned key, saying how to change it, and sends no CreateTable', async () => {
    const { s, sent, result } = await existing({ kmsKeyId: KEY_ARN });
    await expect(result).rejects.toThrow(ConfigError);
    await expect(result).rejects.toThrow(
      new RegExp(`encrypted with the AWS-owned key .*not with the KMS key asked for; .*aws dynamodb update-table --table-name ${s.table} --sse-specification Enabled=true,SSEType=KMS,KMSMasterKeyId=${KEY_ARN}`),
    );
    expect(createTable(sent)).toHaveLength(0);
  });

  it('accepts a table reporting the KMS key asked for (by ARN or key id), refuses another key', async () => {
    const kms: SSEDescription = { Status: 'ENABLED', SSEType: 'KMS', KMSMasterKeyArn: KEY_ARN };
    await (await existing({ kmsKeyId: KEY_ARN }, kms)).result;
    await (await existing({ kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' }, kms)).result;
    await (await existing('kms', kms)).result;
    // An alias cannot be resolved without KMS: accepted when the table is KMS-encrypted at all.
    await (await existing({ kmsKeyId: 'alias/tessera-sessions' }, kms)).result;
    const other = await existing({ kmsKeyId: 'arn:aws:kms:us-east-1:111122223333:key/ffffffff-0000-0000-0000-000000000000' }, kms);
    await expect(other.result).rejects.toThrow(/sse\.kmsKeyId: .*encrypted with the KMS key arn:aws:kms:.*1234abcd.*, not arn:aws:kms:.*ffffffff/);
    const disabled = await existing('kms', { Status: 'DISABLED', SSEType: 'KMS', KMSMasterKeyArn: KEY_ARN });
    await expect(disabled.result).rejects.toThrow(/encrypted with KMS \(DISABLED\)/);
  });

  it('leaves a table alone when no KMS is asked for (aws-owned never downgrades a KMS table)', async () => {
    await (await existing('aws-owned', { Status: 'ENABLED', SSEType: 'KMS', KMSMasterKeyArn: KEY_ARN })).result;
    await (await existing('aws-owned')).result;
  });
});
