/**
 * Signing keys: the keyring (first key signs, every key verifies, each named by a `kid` derived
 * from it) and its bootstrap, from the options or, when no secret is configured, generated once
 * and kept in the store so a cluster sharing the store agrees on it.
 */
import { describeStore } from './logger.js';
import { createHash, randomBytes } from 'node:crypto';
import { ConfigError, StoreError } from './errors.js';
import { redact } from './events.js';
import type { ResolvedOptions } from './options.js';
import { deadline } from './lib/deadline.js';
import { reject } from './reject.js';
import type { TokenStore } from './store.js';
import { TokenCodec } from './token.js';
import type { Emit } from './context.js';

export interface Key {
  kid: string;
  material: Uint8Array;
}

export interface KeyRing {
  signing: Key;
  byKid: Map<string, Key>;
}

/** Non-reversible key id: a short digest, so tokens name their key without revealing it. */
export function kidOf(secret: string): string {
  return createHash('sha256').update('tessera-kid\0').update(secret).digest('base64url').slice(0, 12);
}

export function buildKeyRing(secrets: string[]): KeyRing {
  const keys = secrets.map(s => ({ kid: kidOf(s), material: new Uint8Array(Buffer.from(s, 'utf8')) }));
  const byKid = new Map<string, Key>();
  for (const k of keys) if (!byKid.has(k.kid)) byKid.set(k.kid, k);
  return { signing: keys[0]!, byKid };
}

/** A fresh 256-bit secret, base64url (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export class Keys {
  /** Set once the keys are known; the hot path reads it without awaiting. */
  codec: TokenCodec | undefined;
  private loading: Promise<TokenCodec> | undefined;

  constructor(
    private readonly o: ResolvedOptions,
    private readonly store: TokenStore,
    private readonly emit: Emit,
    private readonly failed: (operation: string, message: string) => void = () => {},
  ) {
    if (o.secrets) this.codec = this.makeCodec(o.secrets);
    else if (typeof store.initSecret !== 'function') {
      throw new ConfigError('secret', 'no secret configured and this store cannot keep one; set `secret` (at least 32 bytes)');
    }
  }

  private makeCodec(secrets: string[]): TokenCodec {
    const o = this.o;
    return new TokenCodec(buildKeyRing(secrets), {
      algorithm: o.algorithm,
      issuer: o.issuer,
      audience: o.audience,
      clockTolerance: o.clockTolerance,
      maxTokenBytes: o.maxTokenBytes,
      cacheSize: o.verifiedCacheSize,
    });
  }

  /** Loads the keys; rejects with a clear start-up error (ConfigError or StoreError) when they can't be had. */
  load(): Promise<TokenCodec> {
    if (this.codec) return Promise.resolve(this.codec);
    this.loading ??= this.fromStore().then(
      codec => (this.codec = codec),
      err => {
        this.loading = undefined; // the next request tries again
        throw err;
      },
    );
    return this.loading;
  }

  /** The keys for a request: any failure to load them is a 503 STORE_UNAVAILABLE refusal, never a 500. */
  async forRequest(): Promise<TokenCodec> {
    if (this.codec) return this.codec;
    try {
      return await this.load();
    } catch (err) {
      const message = redact(err instanceof Error ? err.message : String(err));
      this.failed('initSecret', message);
      this.emit(() => ({ type: 'store-error', at: this.o.clock(), operation: 'initSecret', message }));
      throw reject('STORE_UNAVAILABLE', 'secret-unavailable', 'none');
    }
  }

  private async fromStore(): Promise<TokenCodec> {
    let secret: unknown;
    const candidate = generateSecret();
    try {
      secret = await deadline(this.store.initSecret!(candidate), this.o.storeTimeout * 1000, 'initSecret');
    } catch (err) {
      throw new StoreError(`could not load the generated secret from the store: ${redact(err instanceof Error ? err.message : String(err))}`);
    }
    // Never echo what the store returned: it may be a secret, or garbage that looks like one.
    // A crash can leave NUL bytes or whitespace; a generated secret is base64url, so refuse controls and spaces.
    if (typeof secret !== 'string' || Buffer.byteLength(secret, 'utf8') < 32 || /[\x00-\x20\x7f]/.test(secret)) {
      throw new ConfigError(
        'secret',
        'the generated secret kept in the store is unusable (not a string of at least 32 bytes); remove it from the store or set `secret`',
      );
    }
    // Say where the key went, never what it is: whoever can read the store can sign tokens.
    this.o.logger.info(
      { store: describeStore(this.store) },
      secret === candidate ? 'no secret configured: generated a signing secret and kept it in the store' : 'no secret configured: using the signing secret kept in the store',
    );
    return this.makeCodec([secret]);
  }
}
