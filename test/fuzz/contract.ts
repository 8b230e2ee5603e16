/** The fuzz oracles: what any reply of a mounted app may be, and when a presented token counts as the genuine one. */
import { ERRORS, type ErrorCode } from '@tessera/core';
import type { Reply } from './http-client.js';

/** Every status the contract answers with on these routes (503 is the store's, and the store here never fails). */
export const CONTRACT_STATUSES: ReadonlySet<number> = new Set([200, 204, 400, 401, 403, 429]);

/** Why `r` is not a contract reply, or null when it is. */
export function contractViolation(r: Reply): string | null {
  if (r.status === 0) return `no reply: ${r.error ?? 'unknown'}`;
  if (!CONTRACT_STATUSES.has(r.status)) return `status ${r.status} is not a contract status`;
  if (r.status === 204) return r.body === '' ? null : 'a 204 with a body';
  let body: unknown;
  try {
    body = JSON.parse(r.body);
  } catch {
    return `status ${r.status} with a body that is not JSON (${JSON.stringify(redactTokens(r.body).slice(0, 80))})`;
  }
  if (r.status === 200) return typeof body === 'object' && body !== null && !Array.isArray(body) ? null : 'a 200 whose body is not a JSON object';
  const keys = typeof body === 'object' && body !== null ? Object.keys(body) : [];
  const error = (body as { error?: unknown }).error as { code?: unknown; message?: unknown } | undefined;
  if (keys.length !== 1 || keys[0] !== 'error' || typeof error !== 'object' || error === null) return `error body is not { error }: ${redactTokens(JSON.stringify(body)).slice(0, 120)}`;
  if (Object.keys(error).sort().join(',') !== 'code,message') return `error object has other keys: ${Object.keys(error).join(',')}`;
  const code = error.code;
  if (typeof code !== 'string' || !Object.hasOwn(ERRORS, code)) return `unknown error code ${JSON.stringify(code)}`;
  const spec = ERRORS[code as ErrorCode];
  if (spec.status !== r.status) return `${code} answered with ${r.status}, the contract says ${spec.status}`;
  if (error.message !== spec.message) return `${code} with message ${JSON.stringify(error.message)}`;
  return null;
}

/**
 * The HTTP parser's answer to bytes it refuses, before any app code runs: Node's bare
 * `400 Bad Request` (no body), or Fastify's client-error reply in its place.
 */
export function isParserRefusal(r: Reply): boolean {
  if (r.status !== 400) return false;
  return (r.body === '' && r.headers['content-type'] === undefined) || r.body === '{"error":"Bad Request","message":"Client Error","statusCode":400}';
}

/** A base64url segment's bytes, strictly: only the URL alphabet, no padding, no impossible length; null otherwise. */
export function strictB64url(seg: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]*$/.test(seg) || seg.length % 4 === 1) return null;
  return Buffer.from(seg, 'base64url');
}

/**
 * Whether `candidate` decodes, segment by segment, to exactly the bytes of `genuine`. Base64url
 * leaves 2 or 4 unused bits in a segment's last character, so a few spellings of one token decode
 * alike: the one change that may still authenticate.
 */
export function sameBytes(candidate: string, genuine: string): boolean {
  const a = candidate.split('.');
  const b = genuine.split('.');
  if (a.length !== 3 || b.length !== 3) return false;
  for (let i = 0; i < 3; i++) {
    const x = strictB64url(a[i]!);
    const y = strictB64url(b[i]!);
    if (x === null || y === null || !x.equals(y)) return false;
  }
  return true;
}

/** What a server reads from a cookie value: RFC 6265 allows one pair of surrounding double quotes. */
export function unquoteCookieValue(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

/** Text for a failure message with anything token-shaped cut out: test output is scanned for tokens, and must not carry any. */
export function redactTokens(text: string): string {
  return text.replace(/[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, '<token>').replace(/ts[rj]_[A-Za-z0-9_.-]+/g, '<token>');
}
