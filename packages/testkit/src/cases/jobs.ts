/** Job tokens (`POST /auth/jobs`, `tsj_…` as Bearer) for long-running work, and scopes for API tokens. */
import { describe, expect, it } from '@jest/globals';
import { cookieHeader, type SuiteContext, type TestApp } from '../adapter-suite.js';
import { cookiesOf, expectError } from './helpers.js';

const PAIR = { mode: 'pair', accessTtl: 60, refreshTtl: 3600 } as const;
const DAY = 86400;

const me = (app: TestApp, token: string) => app.http().get('/api/me').set('Authorization', `Bearer ${token}`);

async function createJob(app: TestApp, cookie: string, body: unknown) {
  return app.http().post('/auth/jobs').set('Cookie', cookie).send(body as object);
}

/** Logs alice in and creates a job token with her session; the reply's token. */
async function aliceJob(app: TestApp, body: Record<string, unknown> = { jobId: 'nightly-report' }): Promise<{ token: string; cookie: string; jar: Record<string, string> }> {
  const login = await app.login('alice');
  const res = await createJob(app, login.cookie, body);
  expect(res.status).toBe(201);
  return { token: res.body.token as string, cookie: login.cookie, jar: login.jar };
}

export default function jobs(ctx: SuiteContext): void {
  describe('job tokens', () => {
    it('POST /auth/jobs with a session: 201 { token, jobId, expiresAt } (24 h by default), stored hashed; it authenticates as the user', async () => {
      const app = await ctx.app();
      const login = await app.login('alice');
      const res = await createJob(app, login.cookie, { jobId: 'nightly-report' });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'jobId', 'token']);
      expect(res.body).toMatchObject({ jobId: 'nightly-report', expiresAt: ctx.clock.now() + DAY });
      expect(String(res.headers['cache-control'])).toBe('no-store');
      const token = res.body.token as string;
      expect(token).toMatch(/^tsj_[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      const ok = await me(app, token);
      expect({ status: ok.status, body: ok.body }).toEqual({ status: 200, body: { user: { id: 'alice', name: 'Alice' } } });
      const session = await app.http().get('/auth/session').set('Authorization', `Bearer ${token}`);
      expect(session.status).toBe(200);
      expect(session.body).toMatchObject({ kind: 'job', jobId: 'nightly-report', user: { id: 'alice' }, expiresAt: ctx.clock.now() + DAY, scopes: [] });
      const issued = app.events.filter(e => e.type === 'issued' && e.kind === 'job');
      expect(issued).toHaveLength(1);
      const record = await app.store.get((issued[0] as { sessionId: string }).sessionId);
      expect(record).toMatchObject({ kind: 'job', subject: 'alice', jobId: 'nightly-report', expiresAt: ctx.clock.now() + DAY });
      expect(JSON.stringify(record)).not.toContain(token.split('.')[1]!);
      expect(JSON.stringify(app.events)).not.toContain(token.split('.')[1]!);
      // A ttl of its own, within jobs.maxTtl.
      const six = await createJob(app, login.cookie, { jobId: 'import', ttl: '6h' });
      expect(six.status).toBe(201);
      expect(six.body.expiresAt).toBe(ctx.clock.now() + 6 * 3600);
      const numeric = await createJob(app, login.cookie, { jobId: 'export', ttl: 60 });
      expect(numeric.body.expiresAt).toBe(ctx.clock.now() + 60);
    });

    it('without a session 401; bad jobId, ttl or body 400 BAD_REQUEST', async () => {
      const app = await ctx.app();
      expectError(await app.http().post('/auth/jobs').send({ jobId: 'x' }), 'TOKEN_MISSING');
      expectError(await app.http().delete('/auth/jobs/x'), 'TOKEN_MISSING');
      expectError(await app.http().post('/auth/jobs').set('Authorization', 'Bearer tsj_nope').send({ jobId: 'x' }), 'TOKEN_INVALID');
      const { cookie } = await app.login('alice');
      const bad: unknown[] = [
        {},
        { jobId: '' },
        { jobId: 42 },
        { jobId: null },
        { jobId: 'a'.repeat(65) },
        { jobId: 'has space' },
        { jobId: '../etc' },
        { jobId: '.hidden' },
        { jobId: 'a/b' },
        { jobId: 'café' },
        { jobId: 'ok', ttl: 'forever' },
        { jobId: 'ok', ttl: 0 },
        { jobId: 'ok', ttl: -5 },
        { jobId: 'ok', ttl: 1.5 },
        { jobId: 'ok', ttl: '8d' }, // over jobs.maxTtl (7 days)
        { jobId: 'ok', ttl: 604801 },
        { jobId: 'ok', ttl: { h: 1 } },
        [{ jobId: 'ok' }],
      ];
      for (const body of bad) expectError(await createJob(app, cookie, body), 'BAD_REQUEST');
      expectError(await app.http().post('/auth/jobs').set('Cookie', cookie).set('Content-Type', 'application/json').send('{"jobId":'), 'BAD_REQUEST');
      expectError(await app.http().post('/auth/jobs').set('Cookie', cookie), 'BAD_REQUEST');
      expectError(await app.http().delete('/auth/jobs/has%20space').set('Cookie', cookie), 'BAD_REQUEST');
      // A broken escape: 400 (Fastify refuses such a URL itself, before any route, with its own body).
      expect((await app.http().delete('/auth/jobs/%ZZ').set('Cookie', cookie)).status).toBe(400);
      // Exactly at the bounds: 64 characters, 7 days.
      const edge = await createJob(app, cookie, { jobId: `A${'b'.repeat(62)}9`, ttl: '7d' });
      expect(edge.status).toBe(201);
      expect(edge.body.expiresAt).toBe(ctx.clock.now() + 7 * DAY);
      const charset = await createJob(app, cookie, { jobId: 'build:2024.06_01-a' });
      expect(charset.status).toBe(201);
      expect(app.events.filter(e => e.type === 'issued' && e.kind === 'job')).toHaveLength(2);
    });

    it('outlives the login: access-token expiry, refresh rotation, logout, a server restart', async () => {
      const app = await ctx.app(PAIR);
      const { token, jar } = await aliceJob(app);
      ctx.clock.advance(70); // the access token has expired (60 s + the 5 s clockTolerance)
      expectError(await app.http().get('/api/me').set('Cookie', `${app.cookieName}=${jar[app.cookieName]}`), 'TOKEN_EXPIRED');
      expect((await me(app, token)).status).toBe(200);
      const refreshCookie = `${app.cookieName}-refresh=${jar[`${app.cookieName}-refresh`]}`;
      const rotated = await app.http().post('/auth/refresh').set('Cookie', refreshCookie);
      expect(rotated.status).toBe(200);
      expect((await me(app, token)).status).toBe(200);
      const next = cookieHeader(cookiesOf(rotated), jar);
      expect((await app.http().post('/auth/logout').set('Cookie', next.cookie)).status).toBe(204);
      expectError(await app.http().get('/api/me').set('Cookie', next.cookie), 'SESSION_ENDED');
      const after = await me(app, token);
      expect({ status: after.status, body: after.body }).toEqual({ status: 200, body: { user: { id: 'alice', name: 'Alice' } } });
      // A restart: another instance on the same store (no state in the process).
      const restarted = await ctx.app({ ...PAIR, store: app.store });
      expect((await me(restarted, token)).status).toBe(200);
      // Not subject to the idle timeout either: a queued job may wait hours before it starts.
      const idle = await ctx.app({ store: app.store, idleTimeout: 600 });
      ctx.clock.advance(3 * 3600);
      expect((await me(idle, token)).status).toBe(200);
    });

    it('the end of its lifetime ends it: SESSION_ENDED', async () => {
      const app = await ctx.app();
      const { token } = await aliceJob(app, { jobId: 'short', ttl: '1h' });
      ctx.clock.advance(3599);
      expect((await me(app, token)).status).toBe(200);
      ctx.clock.advance(1);
      expectError(await me(app, token), 'SESSION_ENDED');
      expect(app.events.find(e => e.type === 'rejected' && e.reason === 'job-expired')).toMatchObject({ subject: 'alice' });
    });

    it('cannot act for its user: admin routes, job routes, logout and requireFresh answer 403 FORBIDDEN', async () => {
      const app = await ctx.app();
      const { token } = await aliceJob(app);
      const bearer = `Bearer ${token}`;
      expectError(await app.http().get('/auth/admin/sessions').set('Authorization', bearer), 'FORBIDDEN');
      expectError(await app.http().get('/auth/admin/users/alice/sessions').set('Authorization', bearer), 'FORBIDDEN');
      expectError(await app.http().post('/auth/admin/users/alice/revoke').set('Authorization', bearer), 'FORBIDDEN');
      expectError(await app.http().get('/auth/admin/api-tokens').set('Authorization', bearer), 'FORBIDDEN');
      expectError(await app.http().post('/auth/admin/api-tokens').set('Authorization', bearer).send({}), 'FORBIDDEN');
      expectError(await app.http().post('/auth/jobs').set('Authorization', bearer).send({ jobId: 'child' }), 'FORBIDDEN');
      expectError(await app.http().delete('/auth/jobs/nightly-report').set('Authorization', bearer), 'FORBIDDEN');
      const out = await app.http().post('/auth/logout').set('Authorization', bearer);
      expectError(out, 'FORBIDDEN');
      expect(out.headers['set-cookie']).toBeUndefined();
      expectError(await app.http().post('/api/sensitive').set('Authorization', bearer), 'FORBIDDEN');
      // None of it ended the token or made another one.
      expect((await me(app, token)).status).toBe(200);
      expect(app.events.filter(e => e.type === 'issued' && e.kind === 'job')).toHaveLength(1);
      expect((await app.core.listSessions('alice')).sessions.filter(s => s.kind === 'job')).toHaveLength(1);
    });

    it('DELETE /auth/jobs/:jobId: 204, then SESSION_ENDED on every server; unknown or foreign jobs 204 without effect', async () => {
      const app = await ctx.app();
      const other = await ctx.app({ store: app.store }); // a second server on the same store
      const { token, cookie } = await aliceJob(app);
      expect((await me(other, token)).status).toBe(200);
      const bob = await app.login('bob');
      const foreign = await app.http().delete('/auth/jobs/nightly-report').set('Cookie', bob.cookie);
      expect(foreign.status).toBe(204);
      expect((await me(app, token)).status).toBe(200); // bob's delete named bob's own (absent) job
      const unknown = await app.http().delete('/auth/jobs/no-such-job').set('Cookie', cookie);
      expect(unknown.status).toBe(204);
      const del = await app.http().delete('/auth/jobs/nightly-report').set('Cookie', cookie);
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      expectError(await me(app, token), 'SESSION_ENDED');
      expectError(await me(other, token), 'SESSION_ENDED');
      expect((await app.http().delete('/auth/jobs/nightly-report').set('Cookie', cookie)).status).toBe(204); // idempotent
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200); // the session is untouched
    });

    it('a new token for a live jobId replaces the old one (restart-friendly): the old gets SESSION_ENDED', async () => {
      const app = await ctx.app();
      const { token: first, cookie } = await aliceJob(app);
      const again = await createJob(app, cookie, { jobId: 'nightly-report' });
      expect(again.status).toBe(201);
      const second = again.body.token as string;
      expect(second).not.toBe(first);
      expectError(await me(app, first), 'SESSION_ENDED');
      expect((await me(app, second)).status).toBe(200);
      const jobsListed = (await app.core.listSessions('alice')).sessions.filter(s => s.kind === 'job');
      expect(jobsListed.map(s => s.jobId)).toEqual(['nightly-report']);
      // The same jobId of another user is another job.
      const bob = await app.login('bob');
      expect((await createJob(app, bob.cookie, { jobId: 'nightly-report' })).status).toBe(201);
      expect((await me(app, second)).status).toBe(200);
    });

    it('ends with its user: admin route and revokeUser', async () => {
      const app = await ctx.app();
      const { token } = await aliceJob(app);
      const root = await app.login('root');
      const kick = await app.http().post('/auth/admin/users/alice/revoke').set('Cookie', root.cookie);
      expect(kick.status).toBe(200);
      expect(kick.body.revoked).toBeGreaterThanOrEqual(2); // the session and the job token
      expectError(await me(app, token), 'SESSION_ENDED');
      const later = await aliceJob(app, { jobId: 'again' });
      expect((await me(app, later.token)).status).toBe(200);
      await app.core.revokeUser('alice');
      expectError(await me(app, later.token), 'SESSION_ENDED');
    });

    it('listed with the sessions (kind job, jobId; never the secret) and revocable from there', async () => {
      const app = await ctx.app();
      const { token, cookie } = await aliceJob(app);
      const own = await app.http().get('/auth/admin/sessions').set('Cookie', cookie);
      expect(own.status).toBe(200);
      expect(own.body.sessions.map((s: { kind: string }) => s.kind).sort()).toEqual(['job', 'session']);
      const job = own.body.sessions.find((s: { kind: string }) => s.kind === 'job');
      expect(job).toMatchObject({ kind: 'job', jobId: 'nightly-report', subject: 'alice', revokedAt: null, expiresAt: ctx.clock.now() + DAY });
      expect(JSON.stringify(own.body)).not.toContain(token.split('.')[1]!);
      const root = await app.login('root');
      const asAdmin = await app.http().get('/auth/admin/users/alice/sessions').set('Cookie', root.cookie);
      expect(asAdmin.body.sessions.find((s: { kind: string }) => s.kind === 'job')).toMatchObject({ id: job.id, jobId: 'nightly-report' });
      const core = await app.core.listSessions('alice');
      expect(core.sessions.find(s => s.kind === 'job')).toMatchObject({ id: job.id, jobId: 'nightly-report' });
      // Small pages run through the sessions, then the job tokens.
      const page1 = await app.core.listSessions('alice', { limit: 1 });
      expect(page1.sessions.map(s => s.kind)).toEqual(['session']);
      const page2 = await app.core.listSessions('alice', { limit: 1, cursor: page1.cursor });
      expect(page2.sessions.map(s => s.kind)).toEqual(['job']);
      expect(page2.cursor === null || (await app.core.listSessions('alice', { limit: 1, cursor: page2.cursor })).sessions.length === 0).toBe(true);
      // Bob may not end it; alice may, from her list.
      const bob = await app.login('bob');
      expectError(await app.http().delete(`/auth/admin/sessions/${job.id}`).set('Cookie', bob.cookie), 'FORBIDDEN');
      const del = await app.http().delete(`/auth/admin/sessions/${job.id}`).set('Cookie', cookie);
      expect(del.body).toEqual({ revoked: 1 });
      expectError(await me(app, token), 'SESSION_ENDED');
      expect((await app.http().get('/api/me').set('Cookie', cookie)).status).toBe(200);
      const gone = await app.http().get('/auth/admin/sessions').set('Cookie', cookie);
      expect(gone.body.sessions.map((s: { kind: string }) => s.kind)).toEqual(['session']);
      // And through the core API, by the listed id.
      const next = await app.core.createJobToken({ user: { id: 'alice', name: 'Alice' }, jobId: 'core' });
      expect(await app.core.revokeSession(next.info.id)).toBe(1);
      expectError(await me(app, next.token), 'SESSION_ENDED');
    });

    it('core API: createJobToken and revokeJob; a bad jobId or ttl is a TypeError', async () => {
      const app = await ctx.app({ jobs: { ttl: '1h', maxTtl: '2h' } });
      const created = await app.core.createJobToken({ user: { id: 'carol', name: 'Carol' }, jobId: 'etl-7' });
      expect(created).toMatchObject({ jobId: 'etl-7', expiresAt: ctx.clock.now() + 3600, info: { kind: 'job', subject: 'carol', jobId: 'etl-7' } });
      expect((await me(app, created.token)).body).toEqual({ user: { id: 'carol', name: 'Carol' } });
      await expect(app.core.createJobToken({ user: { id: 'carol' }, jobId: 'etl 7' })).rejects.toThrow(TypeError);
      await expect(app.core.createJobToken({ user: { id: 'carol' }, jobId: 'etl-8', ttl: '3h' })).rejects.toThrow(TypeError);
      expect(await app.core.revokeJob('carol', 'etl-7')).toBe(1);
      expectError(await me(app, created.token), 'SESSION_ENDED');
      expect(await app.core.revokeJob('carol', 'etl-7')).toBe(0);
      // The route uses the same bounds: jobs.ttl by default, jobs.maxTtl at most.
      const { cookie } = await app.login('alice');
      expect((await createJob(app, cookie, { jobId: 'r' })).body.expiresAt).toBe(ctx.clock.now() + 3600);
      expectError(await createJob(app, cookie, { jobId: 'r', ttl: '3h' }), 'BAD_REQUEST');
    });

    it('three workers sharing one token at once never fail (no rotation, no single-use state)', async () => {
      const app = await ctx.app({ idleTimeout: '1h' }); // touches are then awaited: the record must take them all
      const { token } = await aliceJob(app);
      const worker = async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 5; i++) statuses.push((await me(app, token)).status);
        return statuses;
      };
      for (let round = 0; round < 3; round++) {
        ctx.clock.advance(61); // a lastSeenAt write is due on every round
        const results = await Promise.all([worker(), worker(), worker()]);
        expect(results.flat()).toEqual(Array(15).fill(200));
      }
      const burst = await Promise.all(Array.from({ length: 15 }, () => me(app, token)));
      expect(burst.map(r => r.status)).toEqual(Array(15).fill(200));
      const issued = app.events.find(e => e.type === 'issued' && e.kind === 'job') as { sessionId: string };
      expect((await app.store.get(issued.sessionId))?.lastSeenAt).toBe(ctx.clock.now());
      expect(app.events.filter(e => e.type === 'rejected')).toEqual([]);
    });

    it('jobs: false: no job routes, and job tokens are refused', async () => {
      const app = await ctx.app();
      const { token, cookie } = await aliceJob(app);
      const off = await ctx.app({ store: app.store, jobs: false });
      expect((await off.http().post('/auth/jobs').set('Cookie', cookie).send({ jobId: 'x' })).status).toBe(404);
      expect((await off.http().delete('/auth/jobs/x').set('Cookie', cookie)).status).toBe(404);
      expectError(await me(off, token), 'TOKEN_INVALID');
      await expect(off.core.createJobToken({ user: { id: 'alice' }, jobId: 'x' })).rejects.toThrow(TypeError);
    });

    it('a failing store: 503 STORE_UNAVAILABLE, never a token', async () => {
      const app = await ctx.app();
      const { token, cookie } = await aliceJob(app);
      app.store.mode = 'fail';
      expectError(await createJob(app, cookie, { jobId: 'other' }), 'STORE_UNAVAILABLE');
      expectError(await me(app, token), 'STORE_UNAVAILABLE');
      app.store.mode = 'ok';
      expect((await me(app, token)).status).toBe(200);
    });
  });

  describe('API token scopes', () => {
    const bearer = (t: string) => `Bearer ${t}`;

    it('an unscoped API token keeps its reach: admin routes and job tokens', async () => {
      const app = await ctx.app();
      const { token } = await app.core.createApiToken({ user: { id: 'alice', name: 'Alice' } });
      expect((await app.http().get('/auth/admin/sessions').set('Authorization', bearer(token))).status).toBe(200);
      const job = await app.http().post('/auth/jobs').set('Authorization', bearer(token)).send({ jobId: 'from-api' });
      expect(job.status).toBe(201);
      expect((await me(app, job.body.token)).body).toEqual({ user: { id: 'alice', name: 'Alice' } });
      expect((await app.http().delete('/auth/jobs/from-api').set('Authorization', bearer(token))).status).toBe(204);
      expectError(await me(app, job.body.token), 'SESSION_ENDED');
      const session = await app.http().get('/auth/session').set('Authorization', bearer(token));
      expect(session.body.kind).toBe('api');
      expect(session.body.scopes).toBeUndefined();
    });

    it('a scoped API token reaches admin routes only with `admin`, job routes only with `jobs`', async () => {
      const app = await ctx.app();
      const plain = await app.core.createApiToken({ user: { id: 'alice' }, scopes: ['reports:read'] });
      const admin = await app.core.createApiToken({ user: { id: 'alice' }, scopes: ['admin'] });
      const jobsOnly = await app.core.createApiToken({ user: { id: 'alice' }, scopes: ['jobs'] });
      expect(plain.info.scopes).toEqual(['reports:read']);
      // Ordinary routes: all of them.
      for (const t of [plain, admin, jobsOnly]) expect((await me(app, t.token)).status).toBe(200);
      const session = await app.http().get('/auth/session').set('Authorization', bearer(plain.token));
      expect(session.body).toMatchObject({ kind: 'api', scopes: ['reports:read'] });
      // Admin routes.
      expectError(await app.http().get('/auth/admin/sessions').set('Authorization', bearer(plain.token)), 'FORBIDDEN');
      expectError(await app.http().post('/auth/admin/users/alice/revoke').set('Authorization', bearer(jobsOnly.token)), 'FORBIDDEN');
      expect((await app.http().get('/auth/admin/sessions').set('Authorization', bearer(admin.token))).status).toBe(200);
      // Job routes.
      expectError(await app.http().post('/auth/jobs').set('Authorization', bearer(plain.token)).send({ jobId: 'j' }), 'FORBIDDEN');
      expectError(await app.http().post('/auth/jobs').set('Authorization', bearer(admin.token)).send({ jobId: 'j' }), 'FORBIDDEN');
      expectError(await app.http().delete('/auth/jobs/j').set('Authorization', bearer(admin.token)), 'FORBIDDEN');
      const job = await app.http().post('/auth/jobs').set('Authorization', bearer(jobsOnly.token)).send({ jobId: 'j' });
      expect(job.status).toBe(201);
      expect((await me(app, job.body.token)).status).toBe(200);
      expect((await app.http().delete('/auth/jobs/j').set('Authorization', bearer(jobsOnly.token))).status).toBe(204);
      expectError(await me(app, job.body.token), 'SESSION_ENDED');
      // Still never fresh.
      expectError(await app.http().post('/api/sensitive').set('Authorization', bearer(admin.token)), 'FORBIDDEN');
    });

    it('scopes through the self-service route; bad scopes are 400 (route) or a TypeError (core)', async () => {
      const app = await ctx.app();
      const { cookie } = await app.login('alice');
      const created = await app.http().post('/auth/admin/api-tokens').set('Cookie', cookie).send({ label: 'ci', scopes: ['jobs', 'deploy'] });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ kind: 'api', scopes: ['deploy', 'jobs'] });
      expect((await app.http().post('/auth/jobs').set('Authorization', bearer(created.body.token)).send({ jobId: 'deploy-1' })).status).toBe(201);
      expectError(await app.http().get('/auth/admin/api-tokens').set('Authorization', bearer(created.body.token)), 'FORBIDDEN');
      const listed = await app.http().get('/auth/admin/api-tokens').set('Cookie', cookie);
      expect(listed.body.tokens[0]).toMatchObject({ scopes: ['deploy', 'jobs'] });
      for (const scopes of ['admin', [1], [''], ['has space'], Array(33).fill('x').map((x, i) => `${x}${i}`)]) {
        expectError(await app.http().post('/auth/admin/api-tokens').set('Cookie', cookie).send({ scopes }), 'BAD_REQUEST');
      }
      await expect(app.core.createApiToken({ user: { id: 'alice' }, scopes: ['ok', 'not ok'] })).rejects.toThrow(TypeError);
      const empty = await app.core.createApiToken({ user: { id: 'alice' }, scopes: [] });
      expect((await me(app, empty.token)).status).toBe(200);
      expectError(await app.http().get('/auth/admin/sessions').set('Authorization', bearer(empty.token)), 'FORBIDDEN');
    });
  });
}
