import { describe, expect, it } from '@jest/globals';
import { createClient, type ClientEvent } from '@tessera/client';
import { FakeLocks, FakeServer, FakeTime, memoryStorage } from './fakes.js';

function setup(storage = memoryStorage(), time = new FakeTime(), srv = new FakeServer(time, { accessTtl: 100, tokenInLoginBody: true })) {
  const events: ClientEvent[] = [];
  const client = createClient({ mode: 'bearer', baseUrl: FakeServer.BASE, fetch: srv.fetch, now: time.now, timers: time, storage, random: () => 0.5, onEvent: (e) => events.push(e) });
  return { time, srv, storage, client, events };
}

describe('bearer mode', () => {
  it('keeps the tokens from the login body in storage, sends Authorization: Bearer, no cookies', async () => {
    const { srv, storage, client } = setup();
    const body = await client.login('alice', 'wonderland');
    expect(body).toMatchObject({ accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(storage.value).toMatchObject({ accessToken: body.accessToken, refreshToken: body.refreshToken, expiresAt: body.expiresAt });
    expect(srv.jar).toEqual({}); // credentials: 'omit'
    expect((await client.fetch('/api/data')).status).toBe(200);
    expect(srv.hits.at(-1)!.auth).toBe(`Bearer ${body.accessToken}`);
  });

  it('refreshes ahead with { refreshToken } in the body, rotates and stores the new pair', async () => {
    const { time, srv, storage, client, events } = setup();
    const first = await client.login('alice', 'wonderland');
    await time.advance(85_000);
    expect((await client.fetch('/api/data')).status).toBe(200);
    expect(srv.refreshes).toHaveLength(1);
    expect(JSON.parse(srv.refreshes[0]!.body)).toEqual({ refreshToken: first.refreshToken });
    expect(srv.refreshes[0]!.auth).toBeNull();
    expect(storage.value!.refreshToken).not.toBe(first.refreshToken);
    expect(srv.refreshTokens.get(first.refreshToken as string)!.used).toBe(true);
    expect(srv.hits.at(-1)!.auth).toBe(`Bearer ${storage.value!.accessToken}`);
    expect(events.at(-1)).toMatchObject({ type: 'refreshed', elsewhere: false });
  });

  it('401 TOKEN_EXPIRED: one refresh, one retry with the new token', async () => {
    const { time, srv, storage, client } = setup();
    await client.login('alice', 'wonderland');
    delete storage.value!.expiresAt; // an old worker that did not store the expiry
    const blind = setup(storage, time, srv).client;
    await time.advance(200_000);
    expect((await blind.fetch('/api/data')).status).toBe(200);
    expect(srv.count('GET', '/api/data')).toBe(2);
    expect(srv.refreshes).toHaveLength(1);
  });

  it('a new instance on the same storage resumes the session and its schedule', async () => {
    const storage = memoryStorage();
    const a = setup(storage);
    await a.client.login('alice', 'wonderland');
    const b = setup(storage, a.time, a.srv);
    expect((await b.client.fetch('/api/data')).status).toBe(200);
    expect(b.client.expiresAt).toBe(a.client.expiresAt);
    b.client.start();
    await a.time.advance(79_000);
    expect(a.srv.refreshes).toHaveLength(0);
    await a.time.advance(2_000);
    expect(a.srv.refreshes).toHaveLength(1);
    b.client.stop();
  });

  it('workers sharing storage and a lock refresh once', async () => {
    const storage = memoryStorage();
    const time = new FakeTime();
    const srv = new FakeServer(time, { accessTtl: 100, tokenInLoginBody: true });
    const locks = new FakeLocks();
    const workers = Array.from({ length: 5 }, () =>
      createClient({ mode: 'bearer', baseUrl: FakeServer.BASE, fetch: srv.fetch, now: time.now, timers: time, storage, locks }),
    );
    await workers[0]!.login('alice', 'wonderland');
    await time.advance(150_000);
    const res = await Promise.all(workers.map((w) => w.fetch('/api/data')));
    expect(res.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(srv.refreshes).toHaveLength(1); // a second one would have been REFRESH_REUSED
  });

  it('logout clears the storage', async () => {
    const { srv, storage, client, events } = setup();
    await client.login('alice', 'wonderland');
    await client.logout();
    expect(srv.hits.at(-1)).toMatchObject({ path: '/auth/logout', auth: expect.stringMatching(/^Bearer /) });
    expect(storage.value).toBeNull();
    expect(events.at(-1)).toEqual({ type: 'logged-out', elsewhere: false });
    expect((await client.fetch('/api/data')).status).toBe(401);
    expect(srv.hits.at(-1)!.auth).toBeNull();
  });
});
