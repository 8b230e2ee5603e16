import { expect } from '@jest/globals';
import { ERRORS, type ErrorCode } from '@tessera/core';
import type { TestApp } from '../adapter-suite.js';
import { setCookies, type SetCookie } from '../cookies.js';

export function expectError(res: { status: number; body: unknown; headers: Record<string, unknown> }, code: ErrorCode): void {
  expect({ status: res.status, body: res.body }).toEqual({
    status: ERRORS[code].status,
    body: { error: { code, message: ERRORS[code].message } },
  });
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
}

export function cookiesOf(res: { headers: Record<string, unknown> }): SetCookie[] {
  return setCookies(res.headers);
}

export function expires(now: number, maxAge: number): string {
  return new Date((now + maxAge) * 1000).toUTCString();
}

export const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT';

export function clearedCookie(name: string, path = '/', extra = ''): string {
  return `${name}=; Path=${path}; Max-Age=0; Expires=${EPOCH}; HttpOnly${extra}; SameSite=Lax`;
}

/** Decodes a JWT's header and payload without verifying (for assertions only). */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, any> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')),
  };
}

/** An `Authorization: Basic` value. */
export function basic(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** POST /auth/basic: the mount's HTTP Basic login through the framework's `issue`. */
export function basicLoginRequest(app: TestApp, authorization?: string, cookie?: string) {
  let r = app.http().post('/auth/basic');
  if (authorization !== undefined) r = r.set('Authorization', authorization);
  if (cookie !== undefined) r = r.set('Cookie', cookie);
  return r;
}
