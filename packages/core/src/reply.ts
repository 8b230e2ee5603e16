/** The one writer: turns flow outcomes into status, headers (Set-Cookie included) and a JSON body. */
import { ERRORS, type ErrorCode } from './errors.js';
import type { HttpReply, JsonObject } from './types.js';

const JSON_HEADERS: readonly [string, string][] = [
  ['content-type', 'application/json; charset=utf-8'],
  ['cache-control', 'no-store'],
];

function withCookies(base: readonly [string, string][], cookies: readonly string[]): [string, string][] {
  const headers: [string, string][] = [...base];
  for (const c of cookies) headers.push(['set-cookie', c]);
  return headers;
}

/** The Set-Cookie values of a reply. */
export function setCookiesOf(reply: HttpReply): string[] {
  return reply.headers.filter(([name]) => name === 'set-cookie').map(([, value]) => value);
}

export function jsonReply(status: number, body: JsonObject, cookies: readonly string[] = []): HttpReply {
  return { status, headers: withCookies(JSON_HEADERS, cookies), body };
}

export function emptyReply(status: number, cookies: readonly string[] = []): HttpReply {
  return { status, headers: withCookies([['cache-control', 'no-store']], cookies), body: null };
}

/**
 * The contract body `{ error: { code, message } }`; the message is fixed per code, never the internal reason.
 * `retryAfter` (seconds, TOO_MANY_ATTEMPTS) becomes the `Retry-After` header.
 */
export function errorReply(code: ErrorCode, cookies: readonly string[] = [], retryAfter?: number): HttpReply {
  const reply = jsonReply(ERRORS[code].status, { error: { code, message: ERRORS[code].message } }, cookies);
  if (code === 'STORE_UNAVAILABLE') reply.headers.push(['retry-after', '1']);
  else if (retryAfter !== undefined) reply.headers.push(['retry-after', String(retryAfter)]);
  return reply;
}
