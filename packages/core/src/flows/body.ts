/** Reading a request body as JSON: any failure (too large, truncated, malformed) is a 400, never a 500. */
import { reject } from '../reject.js';
import type { HttpRequest } from '../types.js';

/** `application/json` or any `+json` type, parameters allowed. */
const JSON_TYPE = /^\s*application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;

/**
 * The parsed body; undefined when there is none. A raw body must be declared JSON: a `text/plain`
 * body is what a cross-site HTML form can send without a preflight, so it is refused.
 */
export async function readJsonBody(req: HttpRequest): Promise<unknown> {
  let body: unknown;
  try {
    body = await req.body();
  } catch {
    throw reject('BAD_REQUEST', 'body-unreadable', 'none');
  }
  if (typeof body === 'string' || body instanceof Uint8Array) {
    const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
    if (text.trim() === '') return undefined;
    if (!JSON_TYPE.test(req.header('content-type') ?? '')) throw reject('BAD_REQUEST', 'content-type', 'none');
    try {
      return JSON.parse(text);
    } catch {
      throw reject('BAD_REQUEST', 'body-json', 'none');
    }
  }
  return body;
}
