import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 128-bit random id, base64url (22 chars). */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}

export function sha256(input: string | Uint8Array): string {
  return createHash('sha256').update(input).digest('base64url');
}

/** Constant-time string comparison (lengths compared via fixed-size digests). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}
