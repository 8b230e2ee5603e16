import { describe, expect, it } from '@jest/globals';
import { createClient, type ClientEvent, type ClientOptions } from '@tessera/client';
import { FakeServer, FakeTime } from './fakes.js';

function setup(server: { accessTtl?: number; refreshTtl?: number } = {}, extra: ClientOptions = {}) {
  const time = new FakeTime();
  const srv = new FakeServer(time, server);
  const events: ClientEvent[] = [];
  const client = createClient({
    baseUrl: FakeServer.BASE,
    fetch: srv.fetch,
    now: time.now,
    timers: time,
    broadcast: null,
    locks: null,
    random: () => 0.5, // jitter factor 1
    onEvent: (e) => events.push(e),
    ...extra,
  });
  return { time, srv, client, events };
}

/** Logs in through the server directly: the cookies are set, the client knows nothing. */
async function loginBehindTheClientsBack(srv: FakeServer): Promise<void> {
  const res = await srv.fetch(`${FakeServer.BASE}/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'alice', password: 'wonderland' }) });
  expect(res.status).toBe(200);
}

describe('on demand', () => {
  it('learns the expiry from the login body and refreshes before sending inside the window only', async () => {
    const { time, srv, client, events } = setup({ accessTtl: 100 });
    const body = await client.login('alice', 'wonderland');
    expect(client.expiresAt).toBe(body.expiresAt);
    expect(events).toEqual([{ type: 'logged-in', user: { id: 'alice', name: 'Alice' }, expiresAt: body.expiresAt, elsewhere: false }]);

    await time.advance(79_000); // 79 % of the lifetime: outside the 20 % window
    expect((await client.fetch('/api/data')).status).toBe(200);
    expect(srv.refreshes).toHaveLength(0);

    await time.advance(2_000); // 81 %: inside
    const res = await client.fetch('/api/data');
    expect(res.status).toBe(200);
    expect(srv.refreshes).toHaveLength(1);
    // the refresh went out before the request
    expect(srv.hits.map((h) => h.path).slice(-2)).toEqual(['/auth/refresh', '/api/data']);
    expect(client.expiresAt).toBe(Math.floor(time.now() / 1000) + 100);
    expect(events.at(-1)).toEqual({ type: 'refreshed', expiresAt: client.expiresAt, sessionExpiresAt: expect.any(Number), elsewhere: false });
  });

  it('refreshes ahead even when the token already expired, and without a known expiry uses 401 TOKEN_EXPIRED: one refresh, one retry', async () => {
    const { time, srv, client } = setup({ accessTtl: 100 });
    await loginBehindTheClientsBack(srv);
    await time.advance(150_000);
    const res = await client.fetch('/api/data');
    expect(res.status).toBe(200);
    expect(srv.count('GET', '/api/data')).toBe(2); // the 401, then the retry
    expect(srv.refreshes).toHaveLength(1);
    expect(client.expiresAt).toBe(Math.floor(time.now() / 1000) + 100);
  });

  it('never retries twice', async () => {
    const { srv, client, events } = setup({ accessTtl: 0 }); // every token is born expired
    await loginBehindTheClientsBack(srv);
    const res = await client.fetch('/api/data');
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('TOKEN_EXPIRED');
    expect(srv.count('GET', '/api/data')).toBe(2);
    expect(srv.refreshes).toHaveLength(1);
    expect(events.filter((e) => e.type === 'session-ended')).toEqual([]);
  });

  it('retries a Request with a body', async () => {
    const { time, srv, client } = setup({ accessTtl: 100 });
    await loginBehindTheClientsBack(srv);
    await time.advance(150_000);
    const res = await client.fetch(new Request(`${FakeServer.BASE}/api/echo`, { method: 'POST', body: 'hello' }));
    expect(await res.json()).toEqual({ echo: 'hello' });
    expect(srv.count('POST', '/api/echo')).toBe(2);
  });

  it('ends the session on other 401 codes and returns the response, without refreshing', async () => {
    const { srv, client, events } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    srv.revokeAll('alice');
    const res = await client.fetch('/api/data');
    expect(res.status).toBe(401);
    expect(srv.refreshes).toHaveLength(0);
    expect(client.expiresAt).toBeNull();
    expect(events.at(-1)).toEqual({ type: 'session-ended', code: 'SESSION_ENDED', elsewhere: false });
    await client.fetch('/api/data'); // no second event for the same end
    expect(events.filter((e) => e.type === 'session-ended')).toHaveLength(1);
  });

  it('concurrent callers in one tab share one refresh', async () => {
    const { time, srv, client } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    await time.advance(95_000);
    const all = await Promise.all(Array.from({ length: 5 }, () => client.fetch('/api/data')));
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(srv.refreshes).toHaveLength(1);
  });

  it('session() reads the session and its expiry, or null', async () => {
    const { srv, client } = setup({ accessTtl: 100 });
    expect(await client.session()).toBeNull();
    await loginBehindTheClientsBack(srv);
    const s = await client.session();
    expect(s).toMatchObject({ user: { id: 'alice' }, mode: 'pair', kind: 'access' });
    expect(client.expiresAt).toBe(s!.expiresAt);
  });

  it('a refresh answered 401 ends the session; refresh() rejects with the code', async () => {
    const { srv, client, events } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    srv.revokeAll('alice');
    await expect(client.refresh()).rejects.toMatchObject({ code: 'SESSION_ENDED', status: 401 });
    expect(events.at(-1)).toEqual({ type: 'session-ended', code: 'SESSION_ENDED', elsewhere: false });
  });
});

describe('timer mode', () => {
  it('refreshes ahead of expiry while running, and stops', async () => {
    const { time, srv, client, events } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    client.start();
    await time.advance(79_000);
    expect(srv.refreshes).toHaveLength(0);
    await time.advance(2_000);
    expect(srv.refreshes).toHaveLength(1);
    expect(srv.refreshes[0]!.at - srv.hits[0]!.at).toBe(80_000);
    await time.advance(80_000);
    expect(srv.refreshes).toHaveLength(2);
    expect(events.filter((e) => e.type === 'refreshed')).toHaveLength(2);
    client.stop();
    await time.advance(600_000);
    expect(srv.refreshes).toHaveLength(2);
    expect(time.pending).toBe(0);
  });

  it('learns the session at start when it does not know it', async () => {
    const { time, srv, client } = setup({ accessTtl: 100 });
    await loginBehindTheClientsBack(srv);
    client.start();
    await time.advance(1);
    expect(srv.count('GET', '/auth/session')).toBe(1);
    await time.advance(80_000);
    expect(srv.refreshes).toHaveLength(1);
    client.stop();
  });

  it('after the machine slept past expiry, refreshes at once (one request)', async () => {
    const { time, srv, client, events } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    client.start();
    await time.advance(10_000);
    await time.sleepFor(3_600_000);
    expect(srv.refreshes).toHaveLength(1);
    expect(srv.refreshes[0]!.at).toBe(time.now()); // on wake, not at some later tick
    expect(events.at(-1)).toMatchObject({ type: 'refreshed', elsewhere: false });
    expect((await client.fetch('/api/data')).status).toBe(200);
    expect(srv.count('GET', '/api/data')).toBe(1);
    client.stop();
  });

  it('after the machine slept, re-checks the session even when the token is still fresh', async () => {
    const { time, srv, client, events } = setup({ accessTtl: 3600 });
    await client.login('alice', 'wonderland');
    client.start();
    srv.revokeAll('alice'); // e.g. "log out everywhere" from another device
    await time.sleepFor(600_000); // 10 min: the heartbeat fires ~9.5 min late; the refresh is due at 48 min
    expect(srv.count('GET', '/auth/session')).toBe(1);
    expect(srv.refreshes).toHaveLength(0);
    expect(events.at(-1)).toEqual({ type: 'session-ended', code: 'SESSION_ENDED', elsewhere: false });
    client.stop();
  });

  it('a heartbeat on time does not count as a wake-up', async () => {
    const { time, srv, client } = setup({ accessTtl: 3600 });
    await client.login('alice', 'wonderland');
    client.start();
    await time.advance(600_000);
    expect(srv.count('GET', '/auth/session')).toBe(0);
    client.stop();
  });
});

describe('loop guard', () => {
  it('backs off exponentially up to 60 s under repeated 503, and on-demand callers do not storm', async () => {
    const { time, srv, client, events } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    srv.unavailable = 1000;
    client.start();
    await time.advance(80_000);
    expect(srv.refreshes).toHaveLength(1);
    const first = srv.refreshes[0]!.at;
    for (let i = 0; i < 20; i++) {
      await time.advance(10_000);
      await client.fetch('/api/data'); // 401 TOKEN_EXPIRED once the token is gone: no refresh while backing off
    }
    const at = srv.refreshes.map((h) => (h.at - first) / 1000);
    expect(at).toEqual([0, 1, 3, 7, 15, 31, 63, 123, 183]);
    expect(events.filter((e) => e.type === 'session-ended')).toEqual([]);

    srv.unavailable = 0;
    await time.advance(60_000);
    expect(srv.refreshes).toHaveLength(10);
    expect(events.at(-1)).toMatchObject({ type: 'refreshed' });
    expect((await client.fetch('/api/data')).status).toBe(200);
    // back to the normal schedule: the next refresh at 80 % of the new token's lifetime
    await time.advance(srv.refreshes[9]!.at + 79_000 - time.now());
    expect(srv.refreshes).toHaveLength(10);
    await time.advance(2_000);
    expect(srv.refreshes).toHaveLength(11);
    client.stop();
  });

  it('jitters the delay', async () => {
    const { time, srv, client } = setup({ accessTtl: 100 }, { random: () => 0 });
    await client.login('alice', 'wonderland');
    srv.unavailable = 5;
    srv.retryAfter = 0; // Retry-After: 0, so the backoff alone decides
    client.start();
    await time.advance(80_000);
    await time.advance(30_000);
    const first = srv.refreshes[0]!.at;
    expect(srv.refreshes.map((h) => (h.at - first) / 1000)).toEqual([0, 0.75, 2.25, 5.25, 11.25, 23.25]);
    client.stop();
  });

  it('honours Retry-After', async () => {
    const { time, srv, client } = setup({ accessTtl: 100 });
    await client.login('alice', 'wonderland');
    srv.unavailable = 1;
    srv.retryAfter = 30;
    client.start();
    await time.advance(80_000);
    expect(srv.refreshes).toHaveLength(1);
    await expect(client.refresh()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503, retryAfter: 30 });
    expect(srv.refreshes).toHaveLength(1); // rejected locally
    await time.advance(29_000);
    expect(srv.refreshes).toHaveLength(1);
    await time.advance(2_000);
    expect(srv.refreshes).toHaveLength(2);
    expect(srv.refreshes[1]!.at - srv.refreshes[0]!.at).toBe(30_000);
    client.stop();
  });
});

describe('logout and admin routes', () => {
  it('logout: 204, logged-out, nothing known', async () => {
    const { srv, client, events } = setup();
    await client.login('alice', 'wonderland');
    await client.logout();
    expect(srv.count('POST', '/auth/logout')).toBe(1);
    expect(srv.jar).toEqual({});
    expect(client.expiresAt).toBeNull();
    expect(events.at(-1)).toEqual({ type: 'logged-out', elsewhere: false });
  });

  it('sessions(), revoke(id), logoutEverywhere()', async () => {
    const { srv, client, events } = setup();
    await loginBehindTheClientsBack(srv); // another device
    await client.login('alice', 'wonderland');
    const list = await client.sessions();
    expect(list.sessions).toHaveLength(2);
    expect(list.sessions[0]).toMatchObject({ id: expect.any(String), createdAt: expect.any(Number), lastSeenAt: expect.any(Number), expiresAt: expect.any(Number), ip: '127.0.0.1' });
    const other = list.sessions.find((s) => s.id !== list.current)!;
    await client.revoke(other.id as string);
    expect((await client.sessions()).sessions).toHaveLength(1);
    expect(events.filter((e) => e.type === 'logged-out')).toEqual([]); // another session: we stay

    await client.logoutEverywhere();
    expect(srv.count('POST', '/auth/admin/users/alice/revoke')).toBe(1);
    expect(events.at(-1)).toEqual({ type: 'logged-out', elsewhere: false });
    expect(client.expiresAt).toBeNull();
    await expect(client.sessions()).rejects.toMatchObject({ code: 'SESSION_ENDED' });
  });

  it('login failure rejects with the code', async () => {
    const { client } = setup();
    await expect(client.login('alice', 'nope')).rejects.toMatchObject({ code: 'LOGIN_FAILED', status: 401 });
  });
});
