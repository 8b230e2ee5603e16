/**
 * Sealing (`safePassword`): a record's user object and credentials, encrypted (AES-256-GCM) and
 * bound to the record, so the store holds only the user id and a seal changed, moved to another
 * record or left under a changed subject does not open. Every writer of a record with a user calls
 * `sealUser`; every reader opens it with `openRecord`. Opened seals are cached per sealed value:
 * one decryption per record version.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Context } from './context.js';
import { ConfigError } from './errors.js';
import { storableJson, storableUser } from './lib/json-user.js';
import type { Logger } from './logger.js';
import { reject } from './reject.js';
import { freezeRecord, type TokenRecord } from './store.js';
import type { Credentials, User, Verified } from './types.js';

/** The format: `v1.<kid>.<iv>.<ciphertext>.<tag>`, base64url parts. */
const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** At most one warning per reason in this many seconds (a tampered record fails every request that presents it). */
const WARN_EVERY = 10;

/** What a seal holds. */
export interface Opened {
  readonly user: User;
  readonly credentials: Credentials | null;
}

/** The record fields bound into a seal as associated data. */
type Bound = Pick<TokenRecord, 'id' | 'kind' | 'subject' | 'tenant'>;

interface Entry extends Opened {
  readonly id: string;
  readonly kind: TokenRecord['kind'];
  readonly subject: string;
  readonly tenant: string | null;
}

interface SealKey {
  readonly kid: string;
  readonly key: Buffer;
}

/** Non-reversible id of a password, so a seal names the key that opens it (distinct from the signing `kid`). */
export function sealKid(password: string): string {
  return createHash('sha256').update('tessera-seal-kid\0').update(password).digest('base64url').slice(0, 12);
}

// The password is high-entropy (at least 32 characters), so a fast KDF is enough: HKDF-SHA256.
function sealKey(password: string): SealKey {
  return { kid: sealKid(password), key: Buffer.from(hkdfSync('sha256', password, 'tessera-seal', 'tessera seal v1: AES-256-GCM', 32)) };
}

function aad(r: Bound): Buffer {
  return Buffer.from(JSON.stringify(['tessera-seal', VERSION, r.kind, r.id, r.subject, r.tenant ?? null]), 'utf8');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The opened plaintext, or null when it is not what `seal` writes. */
function parseOpened(text: string, subject: string): Opened | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isPlainObject(v) || !isPlainObject(v.user) || v.user.id !== subject) return null;
  if (v.credentials !== undefined && v.credentials !== null && !isPlainObject(v.credentials)) return null;
  return { user: v.user as unknown as User, credentials: (v.credentials as Credentials | undefined) ?? null };
}

/** The keyring (first seals, all open), the cache of opened seals and the throttled warning. One per instance. */
export class Sealer {
  /** Whether `safePassword` is set. */
  readonly on: boolean;
  private readonly sealing: SealKey | undefined;
  private readonly byKid = new Map<string, SealKey>();
  private readonly cache = new Map<string, Entry>();
  private readonly warned = new Map<string, { at: number; suppressed: number }>();

  constructor(
    passwords: readonly string[] | undefined,
    private readonly cacheSize: number,
    private readonly logger: Logger,
    private readonly now: () => number,
  ) {
    const keys = (passwords ?? []).map(sealKey);
    for (const k of keys) if (!this.byKid.has(k.kid)) this.byKid.set(k.kid, k);
    this.sealing = keys[0];
    this.on = keys.length > 0;
  }

  /** Seals `value` to `record` with the first password. */
  seal(record: Bound, value: Opened): string {
    const k = this.sealing!;
    const iv = randomBytes(IV_BYTES);
    const c = createCipheriv('aes-256-gcm', k.key, iv, { authTagLength: TAG_BYTES });
    c.setAAD(aad(record));
    const plain = JSON.stringify(value.credentials === null ? { user: value.user } : value);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    const sealed = `${VERSION}.${k.kid}.${iv.toString('base64url')}.${body.toString('base64url')}.${c.getAuthTag().toString('base64url')}`;
    this.remember(sealed, record, value);
    return sealed;
  }

  /** What `record`'s seal holds, or the reason it does not open. */
  open(record: TokenRecord): Opened | string {
    const sealed = record.sealed;
    if (sealed == null) return 'seal-missing';
    const hit = this.cache.get(sealed);
    // A hit counts only for the record it was opened for: a blob copied elsewhere is decrypted (and fails).
    if (hit !== undefined && hit.id === record.id && hit.kind === record.kind && hit.subject === record.subject && hit.tenant === (record.tenant ?? null)) return hit;
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) return 'seal-malformed';
    const key = this.byKid.get(parts[1]!);
    if (key === undefined) return 'seal-unknown-key';
    const iv = Buffer.from(parts[2]!, 'base64url');
    const tag = Buffer.from(parts[4]!, 'base64url');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return 'seal-malformed';
    let text: string;
    try {
      const d = createDecipheriv('aes-256-gcm', key.key, iv, { authTagLength: TAG_BYTES });
      d.setAAD(aad(record));
      d.setAuthTag(tag);
      text = Buffer.concat([d.update(Buffer.from(parts[3]!, 'base64url')), d.final()]).toString('utf8');
    } catch {
      return 'seal-failed';
    }
    const value = parseOpened(text, record.subject);
    if (value === null) return 'seal-malformed';
    return this.remember(sealed, record, value);
  }

  /** One line per reason per WARN_EVERY seconds, with the count left out; never a value. */
  warn(reason: string, kind: TokenRecord['kind']): void {
    const t = this.now();
    const seen = this.warned.get(reason);
    if (seen && t - seen.at < WARN_EVERY) {
      seen.suppressed++;
      return;
    }
    this.warned.set(reason, { at: t, suppressed: 0 });
    this.logger.warn({ reason, kind, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, "a record's seal did not open (changed or moved in the store, or sealed with a password no longer configured): its session is treated as ended");
  }

  /** Frozen: the cache hands one value to many requests. */
  private remember(sealed: string, record: Bound, value: Opened): Entry {
    const entry: Entry = freezeRecord({ user: value.user, credentials: value.credentials, id: record.id, kind: record.kind, subject: record.subject, tenant: record.tenant ?? null });
    if (this.cacheSize > 0) {
      if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
      this.cache.set(sealed, entry);
    }
    return entry;
  }
}

/**
 * The user and credentials as they will be stored, checked before anything is written:
 * JSON copies, and credentials refused without `safePassword` (they are never kept in plaintext).
 */
export function sealable(ctx: Context, user: User, credentials?: Credentials | null): Opened {
  const u = storableUser(user);
  if (credentials === undefined || credentials === null) return { user: u, credentials: null };
  if (!ctx.sealer.on) {
    throw new ConfigError('safePassword', 'credentials were handed over, and they are kept only sealed: set safePassword (TESSERA_SAFE_PASSWORD)');
  }
  if (!isPlainObject(credentials)) throw new TypeError('credentials must be a JSON object');
  return { user: u, credentials: storableJson(credentials, 'credentials', 'the credentials') };
}

/**
 * Puts the user (and credentials) into a record about to be written; the one way every session,
 * API-token and job record gets its user. With `safePassword`: `user` becomes `{ id }` and `sealed`
 * the encrypted `{ user, credentials }`, bound to the record's kind, id, subject and tenant, so
 * call it last, once those are final. Without: `user` is the JSON copy; credentials are refused.
 * Returns the user as stored (for a reply body).
 */
export function sealUser(ctx: Context, record: TokenRecord, user: User, credentials?: Credentials | null): User {
  const value = sealable(ctx, user, credentials);
  if (value.user.id !== record.subject) throw new TypeError("sealUser: the user's id must be the record's subject");
  if (!ctx.sealer.on) {
    record.user = value.user;
    return value.user;
  }
  record.user = { id: value.user.id };
  record.sealed = ctx.sealer.seal(record, value);
  return value.user;
}

/**
 * The user and credentials of a record read from the store; null when sealing is off and the
 * record is not sealed (its `user` is the user). A seal that does not open (changed, moved to
 * another record, bound to another subject, sealed with a password no longer configured, or
 * absent while sealing is on) ends the session: SESSION_ENDED, and a warning with no value in it.
 */
export function openRecord(ctx: Context, record: TokenRecord): Opened | null {
  const s = ctx.sealer;
  if (!s.on && record.sealed == null) return null;
  const r = s.on ? s.open(record) : 'seal-unconfigured';
  if (typeof r !== 'string') return r;
  s.warn(r, record.kind);
  throw reject('SESSION_ENDED', r, record.kind === 'session' ? 'all' : 'none', record.family, record.subject);
}

/** `verifyCredentials`' result as user and credentials: a value with no `id` and a `user` object is `{ user, credentials }`. */
export function splitVerified(v: Verified | null | undefined): { user: User | null; credentials: Credentials | null } {
  if (v === null || v === undefined) return { user: null, credentials: null };
  if (isPlainObject(v) && !('id' in v) && isPlainObject((v as { user?: unknown }).user)) {
    const pair = v as { user: User; credentials?: Credentials | null };
    return { user: pair.user, credentials: pair.credentials ?? null };
  }
  return { user: v as User, credentials: null };
}
