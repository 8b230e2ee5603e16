/** The request's credentials, read once: the Authorization bearer and the session cookies (duplicates included). */
import type { CookieJar } from './cookie-jar.js';
import { findCookies, type CookieLookup } from './lib/cookies.js';
import { reject } from './reject.js';
import type { HttpRequest } from './types.js';

export interface Credentials {
  /** The token of an `Authorization: Bearer` header, when there is one. */
  readonly bearer: string | undefined;
  readonly access: CookieLookup;
  /** Always absent in sliding mode (there is no refresh cookie). */
  readonly refresh: CookieLookup;
}

const BEARER = /^Bearer[ ]+(\S+)\s*$/i;

export function readCredentials(req: HttpRequest, jar: CookieJar): Credentials {
  const authz = req.header('authorization');
  const bearer = authz === undefined ? undefined : BEARER.exec(authz)?.[1];
  const [access, refresh] = findCookies(req.header('cookie'), jar.accessName, jar.refreshName);
  return { bearer, access, refresh };
}

/** The refresh cookie's value; a duplicated refresh cookie is an invalid token. */
export function refreshTokenOf(c: Credentials): string | undefined {
  if (c.refresh.status === 'duplicate') throw reject('TOKEN_INVALID', 'duplicate-refresh-cookie', 'all');
  return c.refresh.status === 'found' ? c.refresh.value : undefined;
}
