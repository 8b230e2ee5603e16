/**
 * The examples with TESSERA_SAFE_PASSWORD, from outside: the file store they write holds no
 * field of the demo users, the sessions still show the whole user, and a short password stops
 * start-up naming the variable without echoing the value.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startExpectingFailure, startServer, stop } from '../support/example-server.js';

const FRAMEWORKS = ['express', 'koa', 'fastify'] as const;
const PASSWORD = 'an-example-safe-password-long-enough-0123';
const tmp = mkdtempSync(join(tmpdir(), 'tessera-examples-sealed-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cookieOf(res: { headers: Record<string, unknown> }): string {
  return ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []).map(c => c.split(';')[0]).join('; ');
}

/** Every record file of a file store, as text. */
function records(dir: string): string[] {
  const at = join(dir, 'records');
  return readdirSync(at).map(f => readFileSync(join(at, f), 'utf8'));
}

describe('examples with TESSERA_SAFE_PASSWORD', () => {
  it.each(FRAMEWORKS)('%s: the file store holds no field of the demo users; the sessions show them whole', async fw => {
    const dir = join(tmp, fw);
    const server = await startServer(fw, { TESSERA_STORE: `file:${dir}`, TESSERA_SAFE_PASSWORD: PASSWORD });
    try {
      const login = await request(server.url).post('/auth/login').send({ username: 'alice', password: 'wonderland' });
      expect(login.status).toBe(200);
      expect(login.body.user).toEqual({ id: 'alice', username: 'alice', name: 'Alice Liddell' });
      const basic = await request(server.url).post('/auth/basic').set('Authorization', `Basic ${Buffer.from('bob:builder').toString('base64')}`);
      expect(basic.status).toBe(200);
      for (const [res, user] of [[login, login.body.user], [basic, basic.body.user]] as const) {
        const me = await request(server.url).get('/api/me').set('Cookie', cookieOf(res));
        expect(me.body).toEqual({ user });
      }
      const stored = records(dir);
      expect(stored.length).toBeGreaterThanOrEqual(2);
      for (const text of stored) {
        for (const s of ['Alice Liddell', 'Bob the Builder', '"username"', '"name"']) expect([s, text.includes(s)]).toEqual([s, false]);
        const rec = JSON.parse(text);
        if (rec.kind === 'session') {
          expect(Object.keys(rec.user)).toEqual(['id']);
          expect(rec.sealed).toMatch(/^v1\./);
        }
      }
      expect(server.output()).not.toContain(PASSWORD);
    } finally {
      await stop(server.child);
    }
  }, 30_000);

  it.each(FRAMEWORKS)('%s: a short TESSERA_SAFE_PASSWORD stops start-up naming the variable, never the value', async fw => {
    const value = 'too-short-safe-password';
    const { code, output } = await startExpectingFailure(fw, { TESSERA_SAFE_PASSWORD: value });
    expect(code).not.toBe(0);
    expect(output).toMatch(/TESSERA_SAFE_PASSWORD: too short \(23 characters\)/);
    expect(output).not.toContain(value);
  }, 30_000);
});
