import { createHash } from 'node:crypto';
import { kidOf, type IssueOptions, type Session, type User } from '@tessera/core';

export const SECRET = 'conformance-secret-0123456789-abcdefghijklmnop';
export const SECRET_KID = kidOf(SECRET);

/** The suite's users; `name` and `role` are this suite's own fields (it declares no `User` augmentation, so apps' own stay theirs). */
export type FixtureUser = User & { name: string; role?: string };

export const USERS: Record<string, { password: string; user: FixtureUser }> = {
  alice: { password: 'wonderland', user: { id: 'alice', name: 'Alice' } },
  bob: { password: 'builder', user: { id: 'bob', name: 'Bob' } },
  root: { password: 'administrator', user: { id: 'root', name: 'Root', role: 'admin' } },
};

export async function verifyCredentials(input: { username: string; password: string }): Promise<User | null> {
  const u = USERS[input.username];
  return u && u.password === input.password ? u.user : null;
}


/** The user named by an HTTP Basic `Authorization` header (`Basic base64(user:password)`) with the right password, else null. For the mounts' POST /auth/basic. */
export function basicLogin(header: string | undefined): FixtureUser | null {
  const m = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header ?? '');
  if (!m) return null;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  const name = decoded.slice(0, colon);
  const entry = Object.hasOwn(USERS, name) ? USERS[name] : undefined;
  return entry && entry.password === decoded.slice(colon + 1) ? entry.user : null;
}

/** For the mounts' POST /auth/basic: an `X-Upstream-Token` header is handed to `issue` as `{ credentials: { upstreamToken } }`. */
export function basicIssueOptions(header: string | undefined): IssueOptions | undefined {
  return header ? { credentials: { upstreamToken: header } } : undefined;
}

/** For the mounts' GET /api/credentials: a digest of `session.credentials()` (never the credentials themselves), or null. */
export function credentialsDigest(session: Session): string | null {
  const c = session.credentials();
  return c === null ? null : createHash('sha256').update(JSON.stringify(c)).digest('base64url');
}

/** The body the mounts answer a bad or missing Basic credential with (the contract's LOGIN_FAILED, written by the app). */
export const BASIC_LOGIN_FAILED = { error: { code: 'LOGIN_FAILED', message: 'Invalid credentials.' } } as const;
