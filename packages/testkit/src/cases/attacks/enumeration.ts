/** User enumeration at login: an unknown user and a wrong password get the same answer, are throttled alike, and take comparable time through Tessera. */
import { expect } from '@jest/globals';
import type { User } from '@tessera/core';
import type { SuiteContext, TestApp } from '../../adapter-suite.js';
import { verifyCredentials } from '../../fixtures.js';
import { type Attack, expectRefusal } from './harness.js';

/** A reply as an enumerating client compares it: everything but the Date header. */
function observable(res: { status: number; text: string; headers: Record<string, unknown> }) {
  const { date: _d, ...headers } = res.headers;
  return { status: res.status, text: res.text, headers };
}

const attempt = (app: TestApp, username: string, password: string) => app.http().post('/auth/login').send({ username, password });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function watched(ctx: SuiteContext, options = {}) {
  const seen: string[] = [];
  const app = await ctx.app({
    ...options,
    verifyCredentials: async (input: { username: string; password: string }): Promise<User | null> => {
      seen.push(input.username);
      return verifyCredentials(input);
    },
  });
  return { app, seen };
}

export const ENUMERATION_ATTACKS: Attack[] = [
  {
    id: 'A118',
    title: 'an unknown user and a known user with a wrong password get the same status, code, body and headers',
    async run(ctx) {
      const app = await ctx.app();
      const known = await attempt(app, 'alice', 'not-her-password');
      expectRefusal(known, 'LOGIN_FAILED', 'none', ['not-her-password']);
      for (const username of ['mallory', 'alice2', 'ALICE', 'root ']) {
        const unknown = await attempt(app, username, 'not-her-password');
        expect(observable(unknown)).toEqual(observable(known));
      }
    },
  },
  {
    id: 'A119',
    title: 'timing: Tessera adds no measurable difference between an unknown user and a wrong password (medians, generous bound)',
    async run(ctx) {
      // Only what Tessera adds is judged: how long verifyCredentials takes for each is the app's to equalise
      // (hash a dummy password for unknown users). The bound is generous because the suite runs on loaded machines.
      const app = await ctx.app();
      // Warm both paths (first requests pay for connection set-up and JIT).
      await attempt(app, 'warm-up-user', 'x');
      await attempt(app, 'bob', 'x');
      const known: number[] = [];
      const unknown: number[] = [];
      // Interleaved, so load on the machine falls on both alike; 8 each stays under the per-user throttle (10).
      for (let i = 0; i < 8; i++) {
        for (const [username, into] of [['alice', known], [`nobody-${i}`, unknown]] as const) {
          const t0 = process.hrtime.bigint();
          const res = await attempt(app, username, 'wrong-password');
          into.push(Number(process.hrtime.bigint() - t0) / 1e6);
          expect(res.status).toBe(401);
        }
      }
      const [a, b] = [median(known), median(unknown)];
      expect(Math.max(a, b)).toBeLessThanOrEqual(3 * Math.min(a, b) + 25);
    },
  },
  {
    id: 'A120',
    title: 'the login throttle treats unknown and known users alike: the same 429 answer after the same number of failures',
    async run(ctx) {
      const { app, seen } = await watched(ctx, { loginThrottle: '3/15m' });
      for (let i = 0; i < 3; i++) {
        expectRefusal(await attempt(app, 'alice', 'nope'), 'LOGIN_FAILED', 'none');
        expectRefusal(await attempt(app, 'mallory', 'nope'), 'LOGIN_FAILED', 'none');
      }
      const known = await attempt(app, 'alice', 'nope');
      const unknown = await attempt(app, 'mallory', 'nope');
      expectRefusal(known, 'TOO_MANY_ATTEMPTS', 'none');
      expect(observable(unknown)).toEqual(observable(known));
      expect(Number(known.headers['retry-after'])).toBeGreaterThan(0);
      expect(seen).toEqual(['alice', 'mallory', 'alice', 'mallory', 'alice', 'mallory']);
    },
  },
  {
    id: 'A121',
    title: 'malformed credentials are refused before any lookup, the same for known and unknown users',
    async run(ctx) {
      const { app, seen } = await watched(ctx);
      for (const body of [{ password: '' }, { password: 1 }, {}, { password: 'x'.repeat(1025) }]) {
        const known = await app.http().post('/auth/login').send({ username: 'alice', ...body });
        const unknown = await app.http().post('/auth/login').send({ username: 'mallory', ...body });
        expectRefusal(known, 'BAD_REQUEST', 'none');
        expect(observable(unknown)).toEqual(observable(known));
      }
      expect(seen).toEqual([]);
    },
  },
];
