import { describe, expect, it } from '@jest/globals';
import { createClient, type ClientEvent, type LockManagerLike } from '@tessera/client';
import { FakeBus, FakeLocks, FakeServer, FakeTime } from './fakes.js';

/** One browser: one cookie jar (the fake server's), one BroadcastChannel bus, optionally Web Locks; n tabs. */
function browser(n: number, locks: LockManagerLike | null, accessTtl = 100) {
  const time = new FakeTime();
  const srv = new FakeServer(time, { accessTtl });
  const bus = new FakeBus();
  let seed = 0;
  const tabs = Array.from({ length: n }, () => {
    const events: ClientEvent[] = [];
    const r = (++seed * 0.37) % 1; // distinct, fixed claim numbers and jitter
    const client = createClient({
      baseUrl: FakeServer.BASE,
      fetch: srv.fetch,
      now: time.now,
      timers: time,
      broadcast: bus.channel(),
      locks,
      random: () => r,
      onEvent: (e) => events.push(e),
    });
    return { client, events };
  });
  return { time, srv, bus, tabs };
}

const claims = (bus: FakeBus) => bus.log.filter((m) => (m as { t: string }).t === 'claim').length;

describe.each([
  ['Web Locks', () => new FakeLocks()],
  ['the BroadcastChannel fallback', () => null],
])('across tabs with %s', (_label, makeLocks) => {
  it('ten tabs calling fetch at once after expiry: exactly one refresh request', async () => {
    const { time, srv, bus, tabs } = browser(10, makeLocks());
    await tabs[0]!.client.login('alice', 'wonderland');
    await time.advance(0);
    // the other tabs learnt the login and its expiry
    for (const t of tabs.slice(1)) expect(t.events).toEqual([expect.objectContaining({ type: 'logged-in', elsewhere: true })]);
    for (const t of tabs) expect(t.client.expiresAt).toBe(tabs[0]!.client.expiresAt);

    await time.advance(150_000); // the access token expired
    const all = Promise.all(tabs.map((t) => t.client.fetch('/api/data')));
    await time.advance(1_000); // the claim window of the fallback
    const res = await all;
    expect(res.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(srv.refreshes).toHaveLength(1);
    expect(srv.count('GET', '/api/data')).toBe(10); // nobody needed a retry
    const exp = tabs[0]!.client.expiresAt;
    expect(exp).toBe(Math.floor(srv.refreshes[0]!.at / 1000) + 100);
    for (const t of tabs) expect(t.client.expiresAt).toBe(exp);
    // one tab refreshed, the nine others heard about it
    const refreshed = tabs.map((t) => t.events.filter((e) => e.type === 'refreshed'));
    expect(refreshed.filter((r) => r.length === 1 && r[0]!.type === 'refreshed' && !r[0]!.elsewhere)).toHaveLength(1);
    expect(refreshed.filter((r) => r.length === 1 && r[0]!.type === 'refreshed' && r[0]!.elsewhere)).toHaveLength(9);
    if (makeLocks() === null) expect(claims(bus)).toBeGreaterThan(0);
    else expect(claims(bus)).toBe(0);
  });

  it('tabs that never learnt the expiry: ten 401 TOKEN_EXPIRED, still one refresh', async () => {
    const { time, srv, tabs } = browser(10, makeLocks());
    const res0 = await srv.fetch(`${FakeServer.BASE}/auth/login`, { method: 'POST', body: JSON.stringify({ username: 'alice', password: 'wonderland' }) });
    expect(res0.status).toBe(200);
    await time.advance(150_000);
    const all = Promise.all(tabs.map((t) => t.client.fetch('/api/data')));
    await time.advance(1_000);
    expect((await all).map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(srv.refreshes).toHaveLength(1);
    expect(srv.count('GET', '/api/data')).toBeLessThanOrEqual(20); // each request retried at most once
  });

  it('logout in one tab shows in the others', async () => {
    const { time, srv, tabs } = browser(3, makeLocks());
    await tabs[0]!.client.login('alice', 'wonderland');
    await time.advance(0);
    await tabs[1]!.client.logout();
    await time.advance(0);
    expect(srv.count('POST', '/auth/logout')).toBe(1);
    expect(tabs[1]!.events.at(-1)).toEqual({ type: 'logged-out', elsewhere: false });
    expect(tabs[0]!.events.at(-1)).toEqual({ type: 'logged-out', elsewhere: true });
    expect(tabs[2]!.events.at(-1)).toEqual({ type: 'logged-out', elsewhere: true });
    for (const t of tabs) expect(t.client.expiresAt).toBeNull();
  });

  it('a session ended in one tab ends it in the others', async () => {
    const { time, srv, tabs } = browser(3, makeLocks());
    await tabs[0]!.client.login('alice', 'wonderland');
    await time.advance(0);
    srv.revokeAll('alice');
    expect((await tabs[2]!.client.fetch('/api/data')).status).toBe(401);
    await time.advance(0);
    expect(tabs[2]!.events.at(-1)).toEqual({ type: 'session-ended', code: 'SESSION_ENDED', elsewhere: false });
    expect(tabs[0]!.events.at(-1)).toEqual({ type: 'session-ended', code: 'SESSION_ENDED', elsewhere: true });
    expect(tabs[1]!.client.expiresAt).toBeNull();
  });

  it('timer mode in every tab: one refresh per expiry across the tabs', async () => {
    const { time, srv, tabs } = browser(5, makeLocks());
    await tabs[0]!.client.login('alice', 'wonderland');
    await time.advance(0);
    for (const t of tabs) t.client.start();
    await time.advance(300_000);
    // due at 80 s, 160 s, 240 s (plus the claim window in the fallback)
    expect(srv.refreshes).toHaveLength(3);
    for (const t of tabs) t.client.stop();
  });

  it('a failing refresh makes every tab back off', async () => {
    const { time, srv, tabs } = browser(4, makeLocks());
    await tabs[0]!.client.login('alice', 'wonderland');
    await time.advance(150_000);
    srv.unavailable = 1000;
    srv.retryAfter = 10;
    const all = Promise.all(tabs.map((t) => t.client.fetch('/api/data')));
    await time.advance(1_000);
    expect((await all).map((r) => r.status)).toEqual(Array(4).fill(401)); // TOKEN_EXPIRED, handed back
    const n = srv.refreshes.length;
    expect(n).toBe(1);
    for (let i = 0; i < 5; i++) await Promise.all(tabs.map((t) => t.client.fetch('/api/data')));
    await time.advance(5_000);
    for (let i = 0; i < 5; i++) await Promise.all(tabs.map((t) => t.client.fetch('/api/data')));
    expect(srv.refreshes).toHaveLength(1); // Retry-After: 10 s, shared by the tabs
  });
});

describe('the BroadcastChannel fallback', () => {
  it('when the refreshing tab goes silent, the others re-check the session after the timeout and refresh themselves', async () => {
    const { time, srv, bus, tabs } = browser(2, null);
    await tabs[0]!.client.login('alice', 'wonderland');
    await time.advance(150_000);
    // A tab (now closed) announced a refresh and never reported back.
    bus.channel().postMessage({ from: 'ghost', t: 'claim', n: 0 });
    const p = tabs[1]!.client.fetch('/api/data');
    await time.advance(4_000);
    expect(srv.refreshes).toHaveLength(0); // still waiting for the other tab
    await time.advance(2_000);
    expect((await p).status).toBe(200);
    expect(srv.count('GET', '/auth/session')).toBe(1); // re-checked: TOKEN_EXPIRED
    expect(srv.refreshes).toHaveLength(1);
  });
});
