/** The keyring: first key signs, every key verifies; each key carries a `kid` derived from it. */
import { createHash, randomBytes } from 'node:crypto';
import { ConfigError } from './errors.js';
import type { TokenStore } from './store.js';

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

/**
 * Loads the instance secret from the store, generating and storing one on first start. Every
 * process sharing the store ends up with the same secret (the store's `initSecret` is atomic).
 */
export async function secretFromStore(store: TokenStore): Promise<string> {
  if (typeof store.initSecret !== 'function') {
    throw new ConfigError('secret', 'no secret configured and this store cannot keep one; set `secret` (at least 32 bytes)');
  }
  const secret = await store.initSecret(generateSecret());
  if (typeof secret !== 'string' || Buffer.byteLength(secret) < 32) {
    throw new ConfigError('secret', 'the secret kept in the store is unusable (shorter than 32 bytes)');
  }
  return secret;
}
