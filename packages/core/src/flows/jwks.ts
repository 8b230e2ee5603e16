/** The `/jwks` route (EdDSA / ES256 only): the public keys that verify this server's tokens, for other services. */
import type { Context } from '../context.js';
import { JWKS_MAX_AGE } from '../keyring.js';
import { jsonReply } from '../reply.js';
import type { HttpReply, JsonObject } from '../types.js';

/**
 * `{ keys: [...] }`: public JWKs only (kid, alg, use: 'sig'; never `d`), the signing key first.
 * Cacheable, but briefly: a key added ahead of a rotation must reach verifiers' caches before it
 * signs, and a key dropped from the keyring must stop being trusted soon after.
 */
export async function jwksReply(ctx: Context): Promise<HttpReply> {
  const keys = await ctx.keys.jwks();
  const reply = jsonReply(200, { keys: keys as unknown as JsonObject[] });
  reply.headers = reply.headers.map(([name, value]) => (name === 'cache-control' ? [name, `public, max-age=${JWKS_MAX_AGE}`] : [name, value]));
  return reply;
}
