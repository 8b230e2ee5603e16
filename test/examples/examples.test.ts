/**
 * The examples' public contract (DESIGN.md section 6), checked from outside against the built
 * apps in all three frameworks: routes, demo users, TESSERA_* configuration.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startExpectingFailure, startServer, stop } from '../support/example-server.js';

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
const tmp = mkdtempSync(join(tmpdir(), 'tessera-examples-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cookieOf(res: { headers: Record<string, unknown> }): string {
  return ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []).map(c => c.split(';')[0]).join('; ');
}

for (const fw of FRAMEWORKS) {
  describe(`examples/${fw}`, () => {
    let server: { url: string; child: ChildProcess } | undefined;
    beforeAll(async () => {
      server = await startServer(fw, { TESSERA_STORE: `file:${join(tmp, fw)}` });
    }, 30_000);
    afterAll(() => stop(server?.child));

    it('serves the demo page', async () => {
      const res = await request(server!.url).get('/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(res.text).toContain('/auth/login');
    });

    it('logs in the demo users and serves the protected routes', async () => {
      for (const [username, password] of [['alice', 'wonderland'], ['bob', 'builder']]) {
        const login = await request(server!.url).post('/auth/login').send({ username, password });
        expect(login.status).toBe(200);
        expect(login.body.user.id).toBe(username);
        const cookie = cookieOf(login);
        const me = await request(server!.url).get('/api/me').set('Cookie', cookie);
        expect(me.status).toBe(200);
        expect(me.body).toEqual({ user: login.body.user });
        const session = await request(server!.url).get('/auth/session').set('Cookie', cookie);
        expect(session.status).toBe(200);
        expect(session.body.user).toEqual(login.body.user);
        expect(session.body.expiresAt).toBeGreaterThan(Date.now() / 1000);
        const refreshed = await request(server!.url).post('/auth/refresh').set('Cookie', cookie);
        expect(refreshed.status).toBe(200);
        expect(cookieOf(refreshed)).not.toBe('');
        const out = await request(server!.url).post('/auth/logout').set('Cookie', cookie);
        expect(out.status).toBe(204);
        expect(String(out.headers['set-cookie'])).toMatch(/Max-Age=0/);
        const after = await request(server!.url).get('/api/me').set('Cookie', cookie);
        expect(after.status).toBe(401);
        expect(after.body.error.code).toBe('SESSION_ENDED');
      }
    });

    it('refuses bad logins and anonymous requests per the response contract', async () => {
      const bad = await request(server!.url).post('/auth/login').send({ username: 'alice', password: 'builder' });
      expect(bad.status).toBe(401);
      expect(bad.body.error.code).toBe('LOGIN_FAILED');
      const malformed = await request(server!.url).post('/auth/login').set('Content-Type', 'application/json').send('{');
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.code).toBe('BAD_REQUEST');
      const anon = await request(server!.url).get('/api/me');
      expect(anon.status).toBe(401);
      expect(anon.body.error.code).toBe('TOKEN_MISSING');
    });
  });
}

describe('examples configured from TESSERA_*', () => {
  it.each(FRAMEWORKS)('%s: pair mode, cookie name and persistence from the environment', async fw => {
    const server = await startServer(fw, {
      TESSERA_STORE: 'memory:',
      TESSERA_MODE: 'pair',
      TESSERA_TOKEN_EXPIRATION_SECONDS: 'accessToken:60,refreshToken:3600',
      TESSERA_COOKIE_NAME: 'demo_sid',
      TESSERA_COOKIE_PERSISTENCE: 'session',
      TESSERA_SECRET: 'an-example-secret-that-is-long-enough-0123',
    });
    try {
      const login = await request(server.url).post('/auth/login').send({ username: 'alice', password: 'wonderland' });
      expect(login.status).toBe(200);
      const raw = login.headers['set-cookie'] as unknown as string[];
      expect(raw).toHaveLength(2);
      expect(raw[0]).toMatch(/^demo_sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax$/);
      expect(raw[1]).toMatch(/^demo_sid-refresh=[^;]+; Path=\/auth; HttpOnly; SameSite=Lax$/);
      expect(login.body.expiresAt - login.body.sessionExpiresAt).toBe(60 - 3600);
    } finally {
      await stop(server.child);
    }
  }, 30_000);

  it.each(FRAMEWORKS)('%s: a bad value stops start-up with a message naming the variable', async fw => {
    for (const [name, value] of [['TESSERA_TTL', 'forever'], ['TESSERA_COOKIE_SECURE', 'perhaps'], ['TESSERA_STORE', 'ftp://x'], ['TESSERA_SECRET', 'short']]) {
      const { code, output } = await startExpectingFailure(fw, { [name]: value });
      expect(code).not.toBe(0);
      expect(output).toContain(name!);
      if (name === 'TESSERA_SECRET') expect(output).not.toContain('=short');
    }
  }, 60_000);
});
