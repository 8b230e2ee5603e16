/** Test doubles: a fake clock with timers, a fake Tessera server behind a fake fetch, fake Web Locks and a fake BroadcastChannel bus. */
import type { ChannelLike, FetchInput, LockManagerLike, StoredTokens, Timers, TokenStorage } from '@tessera/client';

/** Lets every pending promise and fake request (each takes a macrotask) settle. */
export async function settle(rounds = 30): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** A clock that moves only when told to, and timers driven by it. */
export class FakeTime implements Timers {
  t = 1_700_000_000_000;
  private timers: Timer[] = [];
  private seq = 0;
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq;
    this.timers.push({ id, at: this.t + Math.max(0, ms), fn });
    return id;
  };
  clearTimeout = (id: unknown): void => {
    this.timers = this.timers.filter((x) => x.id !== id);
  };
  get pending(): number {
    return this.timers.length;
  }
  /** Moves the clock by `ms`, firing each timer at its due time, in order. */
  async advance(ms: number): Promise<void> {
    await settle();
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
  /** The machine sleeps: the clock jumps, timers fire only afterwards (late). */
  async sleepFor(ms: number): Promise<void> {
    this.t += ms;
    for (;;) {
      const next = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      next.fn();
      await settle();
    }
    await settle();
  }
}

/** Web Locks: one holder per name, the others queued in order. Shared by all tabs. */
export class FakeLocks implements LockManagerLike {
  private tails = new Map<string, Promise<unknown>>();
  requests = 0;
  request<T>(name: string, cb: (lock: unknown) => Promise<T> | T): Promise<T> {
    this.requests++;
    const prev = this.tails.get(name) ?? Promise.resolve();
    const run = prev.then(() => cb({ name }));
    this.tails.set(
      name,
      run.catch(() => undefined),
    );
    return run;
  }
}

/** A BroadcastChannel bus: what one member posts reaches every other member, asynchronously, as a copy. */
export class FakeBus {
  members = new Set<FakeChannel>();
  log: unknown[] = [];
  channel(): FakeChannel {
    const c = new FakeChannel(this);
    this.members.add(c);
    return c;
  }
}

export class FakeChannel implements ChannelLike {
  onmessage: ((event: { data: unknown }) => unknown) | null = null;
  constructor(private bus: FakeBus) {}
  postMessage(data: unknown): void {
    this.bus.log.push(data);
    for (const m of this.bus.members) {
      if (m === this) continue;
      const copy = structuredClone(data);
      queueMicrotask(() => m.onmessage?.({ data: copy }));
    }
  }
  close(): void {
    this.bus.members.delete(this);
  }
}

export function memoryStorage(initial: StoredTokens | null = null): TokenStorage & { value: StoredTokens | null; writes: number } {
  const s = {
    value: initial,
    writes: 0,
    get: () => s.value,
    set: (t: StoredTokens | null) => {
      s.value = t;
      s.writes++;
    },
  };
  return s;
}

interface SessionRec {
  id: string;
  user: { id: string; name: string };
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  revoked: boolean;
}

export interface Hit {
  method: string;
  path: string;
  at: number;
  auth: string | null;
  body: string;
}

/**
 * A Tessera server in pair mode, held in memory: access tokens expire (`TOKEN_EXPIRED`), refresh
 * tokens rotate on every use and a reused one revokes the session (`REFRESH_REUSED`, no grace, so a
 * double refresh shows), revoked sessions answer `SESSION_ENDED`. Its cookie jar is shared by every
 * client using its `fetch` (the tabs of one browser); `credentials: 'omit'` requests ignore it.
 */
export class FakeServer {
  static readonly BASE = 'http://app.test';
  jar: { access?: string; refresh?: string } = {};
  sessions = new Map<string, SessionRec>();
  access = new Map<string, { sid: string; exp: number }>();
  refreshTokens = new Map<string, { sid: string; exp: number; used: boolean }>();
  hits: Hit[] = [];
  /** The next N refreshes answer 503 STORE_UNAVAILABLE with this Retry-After. */
  unavailable = 0;
  retryAfter = 1;
  private seq = 0;

  constructor(
    private time: FakeTime,
    readonly o: { accessTtl?: number; refreshTtl?: number; tokenInLoginBody?: boolean } = {},
  ) {}

  get accessTtl(): number {
    return this.o.accessTtl ?? 100;
  }
  private get nowS(): number {
    return Math.floor(this.time.now() / 1000);
  }
  count(method: string, path: string): number {
    return this.hits.filter((h) => h.method === method && h.path === path).length;
  }
  get refreshes(): Hit[] {
    return this.hits.filter((h) => h.path === '/auth/refresh');
  }

  fetch = async (input: FetchInput, init?: RequestInit): Promise<Response> => {
    const req = new Request(input, init);
    const body = await req.text();
    const url = new URL(req.url);
    this.hits.push({ method: req.method, path: url.pathname, at: this.time.now(), auth: req.headers.get('authorization'), body });
    await new Promise((r) => setImmediate(r)); // the network
    return this.route(req, url.pathname, body, req.credentials !== 'omit');
  };

  private reply(status: number, body?: unknown, headers: Record<string, string> = {}): Response {
    if (body === undefined) return new Response(null, { status, headers });
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  }
  private error(status: number, code: string, headers: Record<string, string> = {}): Response {
    return this.reply(status, { error: { code, message: code } }, headers);
  }

  private issue(s: SessionRec, cookies: boolean): Record<string, unknown> {
    const now = this.nowS;
    const exp = Math.min(now + this.accessTtl, s.expiresAt);
    const a = `a${++this.seq}`;
    const r = `r${this.seq}`;
    this.access.set(a, { sid: s.id, exp });
    this.refreshTokens.set(r, { sid: s.id, exp: s.expiresAt, used: false });
    if (cookies) this.jar = { access: a, refresh: r };
    const body: Record<string, unknown> = { user: s.user, expiresAt: exp, sessionExpiresAt: s.expiresAt };
    if (this.o.tokenInLoginBody) Object.assign(body, { accessToken: a, refreshToken: r });
    return body;
  }

  private sessionBody(s: SessionRec, exp: number): Record<string, unknown> {
    return { user: s.user, id: s.id, kind: 'access', mode: 'pair', createdAt: s.createdAt, expiresAt: exp, sessionExpiresAt: s.expiresAt };
  }

  private authenticate(req: Request, cookies: boolean): { s: SessionRec; exp: number } | Response {
    const h = req.headers.get('authorization');
    const token = h?.startsWith('Bearer ') ? h.slice(7) : cookies ? this.jar.access : undefined;
    if (!token) return this.error(401, 'TOKEN_MISSING');
    const a = this.access.get(token);
    if (!a) return this.error(401, 'TOKEN_INVALID');
    const s = this.sessions.get(a.sid)!;
    if (s.revoked || s.expiresAt <= this.nowS) {
      if (cookies) this.jar = {};
      return this.error(401, 'SESSION_ENDED');
    }
    if (a.exp <= this.nowS) return this.error(401, 'TOKEN_EXPIRED');
    s.lastSeenAt = this.nowS;
    return { s, exp: a.exp };
  }

  revokeAll(userId: string): number {
    let n = 0;
    for (const s of this.sessions.values())
      if (s.user.id === userId && !s.revoked) {
        s.revoked = true;
        n++;
      }
    return n;
  }

  private route(req: Request, path: string, raw: string, cookies: boolean): Response {
    const now = this.nowS;
    const key = `${req.method} ${path}`;
    if (key === 'POST /auth/login') {
      const { username, password } = JSON.parse(raw || '{}') as { username?: string; password?: string };
      if (username !== 'alice' || password !== 'wonderland') return this.error(401, 'LOGIN_FAILED');
      const s: SessionRec = { id: `s${++this.seq}`, user: { id: 'alice', name: 'Alice' }, createdAt: now, lastSeenAt: now, expiresAt: now + (this.o.refreshTtl ?? 86_400), revoked: false };
      this.sessions.set(s.id, s);
      return this.reply(200, this.issue(s, cookies));
    }
    if (key === 'POST /auth/refresh') {
      if (this.unavailable > 0) {
        this.unavailable--;
        return this.error(503, 'STORE_UNAVAILABLE', { 'retry-after': String(this.retryAfter) });
      }
      const token = cookies ? this.jar.refresh : (JSON.parse(raw || '{}') as { refreshToken?: string }).refreshToken;
      if (!token) return this.error(401, 'TOKEN_MISSING');
      const r = this.refreshTokens.get(token);
      if (!r) return this.error(401, 'TOKEN_INVALID');
      const s = this.sessions.get(r.sid)!;
      if (r.used) {
        s.revoked = true;
        if (cookies) this.jar = {};
        return this.error(401, 'REFRESH_REUSED');
      }
      if (s.revoked || r.exp <= now) {
        if (cookies) this.jar = {};
        return this.error(401, 'SESSION_ENDED');
      }
      r.used = true;
      const issued = this.issue(s, cookies);
      return this.reply(200, { ...this.sessionBody(s, issued.expiresAt as number), ...issued });
    }
    if (key === 'POST /auth/logout') {
      const a = this.authenticate(req, cookies);
      if (!(a instanceof Response)) a.s.revoked = true;
      if (cookies) this.jar = {};
      return this.reply(204);
    }
    const a = this.authenticate(req, cookies);
    if (a instanceof Response) return a;
    if (key === 'GET /auth/session') return this.reply(200, this.sessionBody(a.s, a.exp));
    if (key === 'GET /api/data') return this.reply(200, { ok: true, user: a.s.user });
    if (key === 'POST /api/echo') return this.reply(200, { echo: raw });
    if (key === 'GET /auth/admin/sessions') {
      const sessions = [...this.sessions.values()]
        .filter((s) => s.user.id === a.s.user.id && !s.revoked)
        .map((s) => ({ id: s.id, createdAt: s.createdAt, lastSeenAt: s.lastSeenAt, expiresAt: s.expiresAt, ip: '127.0.0.1' }));
      return this.reply(200, { sessions, current: a.s.id });
    }
    let m = /^DELETE \/auth\/admin\/sessions\/([^/]+)$/.exec(key);
    if (m) {
      const s = this.sessions.get(decodeURIComponent(m[1]!));
      if (!s || s.user.id !== a.s.user.id) return this.error(403, 'FORBIDDEN');
      s.revoked = true;
      return this.reply(204);
    }
    m = /^POST \/auth\/admin\/users\/([^/]+)\/revoke$/.exec(key);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (id !== a.s.user.id) return this.error(403, 'FORBIDDEN');
      return this.reply(200, { revoked: this.revokeAll(id) });
    }
    return this.error(404, 'NOT_FOUND');
  }
}
