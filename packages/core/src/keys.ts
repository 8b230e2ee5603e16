/**
 * Signing keys: the keyring (first key signs, every key verifies, each named by a `kid` derived
 * from it) and its bootstrap: from the options (`secret` for HMAC; `keys`, or a key pair derived
 * from `secret`, for EdDSA / ES256) or, when neither is configured, from the secret generated
 * once into the store (so a cluster sharing the store agrees on it) and the rotatable keyring
 * kept beside it, which a server re-reads now and then and whenever a token names a kid it lacks.
 */
import { describeStore } from './logger.js';
import { createHash, createPublicKey, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { ConfigError, StoreError } from './errors.js';
import { redact } from './events.js';
import type { ResolvedOptions } from './options.js';
import type { Algorithm } from './option-table.js';
import { deadline } from './lib/deadline.js';
import { deriveKey, isAsymmetric, publicJwk, type AsymmetricAlgorithm, type PublicJwk } from './lib/key-material.js';
import {
  INITIAL_ID,
  KEYRING_META,
  KEYRING_REFRESH_SECONDS,
  UNKNOWN_KID_REREAD_SECONDS,
  hmacSecretFor,
  liveEntries,
  parseKeyring,
  retireAfter,
  type KeyringDoc,
} from './keyring.js';
import { reject } from './reject.js';
import type { TokenStore } from './store.js';
import { TokenCodec } from './token.js';
import type { Emit } from './context.js';

export interface Key {
  kid: string;
  /** What signs: the HMAC secret's bytes or the private key (a public key given to verify only: that key, never used to sign). */
  material: Uint8Array | KeyObject;
  /** What verifies: the same bytes for HMAC, the public key otherwise. */
  verify: Uint8Array | KeyObject;
  /** EdDSA / ES256: the public JWK `/jwks` publishes. */
  jwk?: PublicJwk;
}

export interface KeyRing {
  signing: Key;
  byKid: Map<string, Key>;
}

/** Non-reversible key id: a short digest, so tokens name their key without revealing it. */
export function kidOf(secret: string): string {
  return createHash('sha256').update('tessera-kid\0').update(secret).digest('base64url').slice(0, 12);
}

function ringOf(keys: Key[]): KeyRing {
  const byKid = new Map<string, Key>();
  for (const k of keys) if (!byKid.has(k.kid)) byKid.set(k.kid, k);
  return { signing: keys[0]!, byKid };
}

/**
 * HMAC: each secret is a key, as a KeyObject: jose imports a KeyObject into WebCrypto once and
 * remembers it, where raw bytes are imported again on every sign and verify.
 */
export function buildKeyRing(secrets: string[]): KeyRing {
  return ringOf(
    secrets.map(s => {
      const key = createSecretKey(Buffer.from(s, 'utf8'));
      return { kid: kidOf(s), material: key, verify: key };
    }),
  );
}

/** EdDSA / ES256: the first key (private) signs; kid = the RFC 7638 thumbprint of the public key. */
export function asymmetricKeyRing(algorithm: AsymmetricAlgorithm, keys: readonly KeyObject[]): KeyRing {
  return ringOf(
    keys.map(k => {
      const jwk = publicJwk(algorithm, k);
      return { kid: jwk.kid, material: k, verify: k.type === 'private' ? createPublicKey(k) : k, jwk };
    }),
  );
}

/**
 * The keys named by `ids` of the keyring whose secret is `root` (see keyring.ts), in order: for
 * HMAC derived secrets (the initial one is `root` itself), else key pairs derived from `root`.
 */
export function keyringOf(algorithm: Algorithm, root: string, ids: readonly string[]): KeyRing {
  if (isAsymmetric(algorithm)) return asymmetricKeyRing(algorithm, ids.map(id => deriveKey(algorithm, root, id)));
  return buildKeyRing(ids.map(id => hmacSecretFor(algorithm, root, id)));
}

/** Configured secrets: HMAC signs with them; EdDSA / ES256 with a key pair derived from each. */
function secretsRing(algorithm: Algorithm, secrets: readonly string[]): KeyRing {
  if (!isAsymmetric(algorithm)) return buildKeyRing([...secrets]);
  return asymmetricKeyRing(algorithm, secrets.map(s => deriveKey(algorithm, s, INITIAL_ID)));
}

/** The kids of the configured keys (`keys`, else `secret`), signing key first; null when the keys are generated into the store. */
export function configuredKids(o: Pick<ResolvedOptions, 'algorithm' | 'keys' | 'secrets'>): string[] | null {
  if (o.keys) return [...asymmetricKeyRing(o.algorithm as AsymmetricAlgorithm, o.keys).byKid.keys()];
  return o.secrets ? [...secretsRing(o.algorithm, o.secrets).byKid.keys()] : null;
}

/** A fresh 256-bit secret, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** As a generated secret must be: a string of at least 32 bytes, no controls or spaces (a crash can leave NUL bytes). */
function usableSecret(secret: unknown): secret is string {
  return typeof secret === 'string' && Buffer.byteLength(secret, 'utf8') >= 32 && !/[\x00-\x20\x7f]/.test(secret);
}

const KID = /^[A-Za-z0-9_-]{1,64}$/;

export class Keys {
  /** EdDSA / ES256: public keys to publish at `/jwks`. */
  readonly asymmetric: boolean;
  /** Milliseconds between two re-reads of a generated keyring while requests come in; tests shorten it. */
  refreshMs = KEYRING_REFRESH_SECONDS * 1000;
  /** Least milliseconds between two re-reads asked for by an unknown kid. */
  rereadMs = UNKNOWN_KID_REREAD_SECONDS * 1000;

  private current: { codec: TokenCodec; ring: KeyRing } | undefined;
  private loading: Promise<TokenCodec> | undefined;
  /** No `secret` and no `keys`: the keys come from the store and may rotate. */
  private readonly generated: boolean;
  /** The store's secret in use. */
  private root: string | undefined;
  /** When the store was last read (Date.now() ms, set as a read starts). */
  private lastRead = -Infinity;
  /** When an unknown kid last made this server re-read (its own budget: periodic re-reads don't spend it). */
  private lastKidRead = -Infinity;
  private rereading: Promise<void> | undefined;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly store: TokenStore,
    private readonly emit: Emit,
    private readonly failed: (operation: string, message: string) => void = () => {},
    /** The store requests use now (a live switch moves it); keys are read there. */
    private readonly storeNow: () => TokenStore = () => store,
  ) {
    this.asymmetric = isAsymmetric(o.algorithm);
    this.generated = o.keys === undefined && o.secrets === undefined;
    if (o.keys) this.install(asymmetricKeyRing(o.algorithm as AsymmetricAlgorithm, o.keys));
    else if (o.secrets) this.install(secretsRing(o.algorithm, o.secrets));
    else if (typeof store.initSecret !== 'function') {
      throw new ConfigError('secret', 'no secret configured and this store cannot keep one; set `secret` (at least 32 bytes)');
    }
  }

  /**
   * The codec, once the keys are known (the hot path reads it without awaiting). Reading it also
   * starts a background re-read of a generated keyring when one is due, so every server learns
   * of a rotation within `refreshMs` while it serves.
   */
  get codec(): TokenCodec | undefined {
    const c = this.current;
    if (c !== undefined && this.generated && this.rereading === undefined && Date.now() - this.lastRead >= this.refreshMs) {
      this.reread().catch(() => {}); // logged inside; the keys in use stay
    }
    return c?.codec;
  }

  /** The public keys `/jwks` publishes (signing key first), never a private part. Keys that can't be loaded: a 503 refusal. */
  async jwks(): Promise<PublicJwk[]> {
    await this.forRequest();
    return [...this.current!.ring.byKid.values()].flatMap(k => (k.jwk ? [k.jwk] : []));
  }

  private install(ring: KeyRing): TokenCodec {
    const o = this.o;
    const codec = new TokenCodec(ring, {
      algorithm: o.algorithm,
      issuer: o.issuer,
      audience: o.audience,
      clockTolerance: o.clockTolerance,
      maxTokenBytes: o.maxTokenBytes,
      cacheSize: o.verifiedCacheSize,
      maxLifetime: { session: o.ttl, access: o.accessTtl, refresh: o.refreshTtl },
      ...(this.generated ? { unknownKid: (kid: string) => this.unknownKid(kid) } : {}),
    });
    this.current = { codec, ring };
    return codec;
  }

  /** Loads the keys; rejects with a clear start-up error (ConfigError or StoreError) when they can't be had. */
  load(): Promise<TokenCodec> {
    if (this.current) return Promise.resolve(this.current.codec);
    this.loading ??= this.fromStore().catch(err => {
      this.loading = undefined; // the next request tries again
      throw err;
    });
    return this.loading;
  }

  /** The keys for a request: any failure to load them is a 503 STORE_UNAVAILABLE refusal, never a 500. */
  async forRequest(): Promise<TokenCodec> {
    const codec = this.codec;
    if (codec) return codec;
    try {
      return await this.load();
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err));
      this.failed('initSecret', message);
      this.emit(() => ({ type: 'store-error', at: this.o.clock(), operation: 'initSecret', message }));
      throw reject('STORE_UNAVAILABLE', 'secret-unavailable', 'none');
    }
  }

  /** The secret and the keyring as the store keeps them; `candidate` is stored first when it keeps no secret. */
  private async readStore(candidate: string): Promise<{ secret: string; doc: KeyringDoc | null }> {
    const store = this.storeNow();
    const ms = this.o.storeTimeout * 1000;
    let secret: unknown;
    let raw: string | null = null;
    try {
      secret = await deadline(store.initSecret!(candidate), ms, 'initSecret');
      if (typeof store.getMeta === 'function') raw = await deadline(store.getMeta(KEYRING_META), ms, 'getMeta');
    } catch (err) {
      throw new StoreError(`could not load the generated secret from the store: ${redact(err instanceof Error ? err.message : String(err))}`);
    }
    // Never echo what the store returned: it may be a secret, or garbage that looks like one.
    if (!usableSecret(secret)) {
      throw new ConfigError(
        'secret',
        'the generated secret kept in the store is unusable (not a string of at least 32 bytes); remove it from the store or set `secret`',
      );
    }
    return { secret, doc: parseKeyring(raw) };
  }

  private ringFrom(root: string, doc: KeyringDoc): KeyRing {
    const ids = liveEntries(doc, this.o.clock(), retireAfter(this.o)).map(k => k.id);
    return keyringOf(this.o.algorithm, root, ids);
  }

  private async fromStore(): Promise<TokenCodec> {
    const candidate = generateSecret();
    this.lastRead = Date.now();
    const { secret, doc } = await this.readStore(candidate);
    if (doc === null) throw new ConfigError('keys', 'the keyring kept in the store (meta value `keyring`) is unusable; remove it (its servers then sign with the initial key again), or set `secret`');
    // Say where the key went, never what it is. Whoever can read the store can sign tokens; they
    // still match no session (records are keyed by hashes, lib/at-rest.ts), but whoever can also
    // write to it can add one: on a store shared over the network that deserves a warning.
    const what = secret === candidate ? 'no secret configured: generated a signing secret and kept it in the store' : 'no secret configured: using the signing secret kept in the store';
    const where = { store: describeStore(this.store) };
    if (this.store.local === true) this.o.logger.info(where, what);
    else this.o.logger.warn(where, `${what}; whoever can write to this store can add a session for any user: on a shared store, set \`secret\` (TESSERA_SECRET) or \`keys\``);
    this.root = secret;
    return this.install(this.ringFrom(secret, doc));
  }

  /**
   * Re-reads the secret and the keyring (one read at a time; callers share it). Passing the
   * secret in use as the candidate puts it back into a store that lost it (a restart without
   * persistence), so the servers converge on one secret instead of splitting.
   */
  private reread(): Promise<void> {
    if (this.rereading) return this.rereading;
    this.lastRead = Date.now();
    const run = async () => {
      const before = this.current!;
      let read: { secret: string; doc: KeyringDoc | null };
      try {
        read = await this.readStore(this.root!);
      } catch (err) {
        const message = redact(err instanceof Error ? err.message : String(err));
        this.o.logger.warn({ operation: 'keyring', message }, 'could not re-read the signing keys from the store; keeping the keys in use');
        this.emit(() => ({ type: 'store-error', at: this.o.clock(), operation: 'keyring', message }));
        return;
      }
      if (read.doc === null) {
        this.o.logger.error({ store: describeStore(this.storeNow()) }, 'the keyring kept in the store (meta value `keyring`) is unusable; keeping the keys in use');
        return;
      }
      const store = describeStore(this.storeNow());
      if (read.secret !== this.root) {
        this.o.logger.warn(
          { store },
          "this server's signing key no longer matches the store's (the store lost or replaced its secret): switching to the store's; tokens this server signed before are refused",
        );
        this.root = read.secret;
      }
      const ring = this.ringFrom(read.secret, read.doc);
      const same = ring.signing.kid === before.ring.signing.kid && [...ring.byKid.keys()].join() === [...before.ring.byKid.keys()].join();
      if (same) return; // keep the codec, and its cache of verified tokens
      if (ring.signing.kid !== before.ring.signing.kid) this.o.logger.info({ store, kid: ring.signing.kid }, 'signing with the key the keyring in the store names now');
      this.install(ring);
    };
    this.rereading = run().finally(() => (this.rereading = undefined));
    return this.rereading;
  }

  /** A token names a kid this server lacks: re-read (at most once per `rereadMs`), in case the keyring moved on. */
  private async unknownKid(kid: string): Promise<Key | undefined> {
    if (!KID.test(kid) || this.current === undefined) return undefined;
    if (this.rereading === undefined) {
      if (Date.now() - this.lastKidRead < this.rereadMs) return undefined;
      this.lastKidRead = Date.now();
    }
    await this.reread();
    return this.current.ring.byKid.get(kid);
  }
}
