/**
 * @tessera/client: a small, dependency-free client for Tessera session tokens, for browsers
 * (HttpOnly cookie sessions) and Node or mobile-style code (bearer tokens). One file, no imports:
 * `dist/index.js` can be served as is as an ES module.
 *
 * Times from the server are epoch seconds; `now()` and every timer here are milliseconds.
 */

/** What `fetch` takes. */
export type FetchInput = string | URL | Request;

/** The body of login, refresh and session answers. */
export interface SessionInfo {
  user: unknown;
  id?: string;
  kind?: string;
  mode?: 'sliding' | 'pair';
  createdAt?: number;
  /** When the presented (access) token expires, epoch seconds. */
  expiresAt: number;
  /** When the session ends at the latest, epoch seconds. */
  sessionExpiresAt?: number | null;
  [key: string]: unknown;
}

/** What bearer mode keeps through `storage` (plain JSON: wrap `localStorage`, a file, a keychain...). */
export interface StoredTokens {
  accessToken: string;
  refreshToken?: string;
  expiresAt?: number;
  sessionExpiresAt?: number | null;
  /** When this client received the tokens, epoch seconds (gives the access lifetime). */
  issuedAt?: number;
}

export interface TokenStorage {
  get(): StoredTokens | null | undefined | Promise<StoredTokens | null | undefined>;
  set(tokens: StoredTokens | null): void | Promise<void>;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of the Web Locks API used (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(name: string, callback: (lock: unknown) => Promise<T> | T): Promise<T>;
}

/** The part of `BroadcastChannel` used. */
export interface ChannelLike {
  postMessage(data: unknown): void;
  onmessage: ((event: { data: unknown }) => unknown) | null;
  close?(): void;
}

export type ClientEvent =
  | { type: 'logged-in'; user: unknown; expiresAt: number; elsewhere: boolean }
  | { type: 'refreshed'; expiresAt: number; sessionExpiresAt: number | null; elsewhere: boolean }
  | { type: 'session-ended'; code: string; elsewhere: boolean }
  | { type: 'logged-out'; elsewhere: boolean };

export type ClientEventType = ClientEvent['type'];

export interface ClientOptions {
  /** `'cookie'` (browsers, HttpOnly cookies) or `'bearer'` (tokens in bodies, `Authorization: Bearer`). */
  mode?: 'cookie' | 'bearer';
  /** Prepended to the auth routes and to relative string URLs given to `client.fetch`. Default `''`. */
  baseUrl?: string;
  /** Where the Tessera routes are mounted. Default `'/auth'`. */
  prefix?: string;
  fetch?: (input: FetchInput, init?: RequestInit) => Promise<Response>;
  /** Milliseconds since the epoch. Default `Date.now`. */
  now?: () => number;
  timers?: Timers;
  /** Cross-tab messages. Default: a `BroadcastChannel` in cookie mode when there is one; `null` = none. */
  broadcast?: ChannelLike | null;
  /** Cross-tab lock. Default: `navigator.locks` when there is one; `null` = none (BroadcastChannel fallback). */
  locks?: LockManagerLike | null;
  /** Bearer mode: where the tokens live. Default: in memory. */
  storage?: TokenStorage;
  /** Refresh ahead of expiry, as a share of the access-token lifetime. Default `0.2`. */
  refreshAhead?: number;
  /** Cookie mode: `credentials` of requests. Default `'same-origin'` (`'include'` for another origin). */
  credentials?: RequestInit['credentials'];
  onEvent?: (event: ClientEvent) => void;
  /** Name of the lock and the channel. Default `'tessera:' + baseUrl + prefix`. */
  name?: string;
  /** BroadcastChannel fallback: how long tabs collect refresh claims before the lowest wins. Default 50 ms. */
  claimWindow?: number;
  /** BroadcastChannel fallback: how long to wait for another tab's refresh. Default 5000 ms. */
  crossTabTimeout?: number;
  /** Timer mode: a heartbeat this late means the machine slept. Default 90000 ms. */
  sleepThreshold?: number;
  /** Jitter source, `[0, 1)`. Default `Math.random`. */
  random?: () => number;
}

export interface TesseraClient {
  /** `fetch` with the session: refreshes ahead of expiry, and once on `401 TOKEN_EXPIRED` (then retries once). */
  fetch(input: FetchInput, init?: RequestInit): Promise<Response>;
  login(username: string, password: string): Promise<SessionInfo>;
  /** `GET /session`: the session (and its expiry), or `null` without one. */
  session(): Promise<SessionInfo | null>;
  /** One refresh per tab and per origin at a time; rejects with a `TesseraClientError`. */
  refresh(): Promise<SessionInfo>;
  logout(): Promise<void>;
  /** Revokes every session of the user (default: the current user), then ends this one. */
  logoutEverywhere(userId?: string): Promise<void>;
  sessions(): Promise<{ sessions: Array<Record<string, unknown>>; current?: string | null; [key: string]: unknown }>;
  revoke(sessionId: string): Promise<void>;
  /** Timer mode: refresh ahead of expiry, re-check on focus, visibility and wake from sleep. */
  start(): void;
  stop(): void;
  /** `stop()` and close the channel this client opened. */
  close(): void;
  on<T extends ClientEventType>(type: T, listener: (event: Extract<ClientEvent, { type: T }>) => void): () => void;
  /** Access-token expiry as known, epoch seconds, or `null`. */
  readonly expiresAt: number | null;
}

export class TesseraClientError extends Error {
  override name = 'TesseraClientError';
  constructor(
    readonly code: string,
    readonly status: number,
    message?: string,
    /** Seconds, from `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message ?? code);
  }
}

interface State {
  expiresAt: number;
  sessionExpiresAt: number | null;
  /** Local expiry, ms. */
  exp: number;
  /** Access-token lifetime, ms. */
  life: number;
  /** Refreshing cannot extend it (capped by the session end). */
  stuck: boolean;
  id?: string;
  user?: unknown;
}

type Msg = { from: string; t: string; s?: State | null; n?: number; code?: string; until?: number; status?: number; ra?: number };
type Json = Record<string, any>;

const MAX_BACKOFF = 60_000;
const BEAT = 30_000;
const NOT_ENDING = new Set(['TOKEN_EXPIRED', 'REAUTH_REQUIRED', 'LOGIN_FAILED']);

export function createClient(options: ClientOptions = {}): TesseraClient {
  const g = globalThis as any;
  const mode = options.mode ?? 'cookie';
  const bearer = mode === 'bearer';
  const base = (options.baseUrl ?? '').replace(/\/$/, '');
  const prefix = (options.prefix ?? '/auth').replace(/\/$/, '');
  const doFetch = options.fetch ?? ((i: FetchInput, init?: RequestInit) => g.fetch(i, init) as Promise<Response>);
  const now = options.now ?? Date.now;
  const timers: Timers = options.timers ?? {
    setTimeout: (fn, ms) => {
      const h = g.setTimeout(fn, ms);
      h?.unref?.(); // never keep a Node process alive
      return h;
    },
    clearTimeout: (h) => g.clearTimeout(h),
  };
  const ahead = options.refreshAhead ?? 0.2;
  const random = options.random ?? Math.random;
  const name = options.name ?? `tessera:${base}${prefix}`;
  const claimWindow = options.claimWindow ?? 50;
  const waitMs = options.crossTabTimeout ?? 5000;
  const sleepThreshold = options.sleepThreshold ?? 90_000;
  const locks: LockManagerLike | undefined = options.locks === undefined ? g.navigator?.locks : options.locks ?? undefined;
  let ownChannel = false;
  let channel: ChannelLike | undefined = options.broadcast ?? undefined;
  if (options.broadcast === undefined && !bearer && typeof g.BroadcastChannel === 'function') {
    channel = new g.BroadcastChannel(name);
    (channel as any).unref?.();
    ownChannel = true;
  }
  let memory: StoredTokens | null = null;
  const storage: TokenStorage = options.storage ?? { get: () => memory, set: (t) => void (memory = t) };
  const tab = random().toString(36).slice(2) + now().toString(36);
  const listeners = new Set<(e: ClientEvent) => void>();

  let state: State | null = null;
  let known = false; // ever had or lost a session (no repeated session-ended events)
  let tokens: StoredTokens | null = null;
  let version = 0;
  let inflight: Promise<SessionInfo> | null = null;
  let failures = 0;
  let blockedUntil = 0;
  let lastError: TesseraClientError | null = null;
  let saving: Promise<unknown> = Promise.resolve();
  // BroadcastChannel fallback
  let round: Map<string, number> | null = null;
  let busySeen = false;
  let claimedAt = -Infinity;
  let refreshingHere = false;
  const waiters = new Set<() => void>();
  // timer mode
  let running = false;
  let timer: unknown;
  let beat: unknown;

  const emit = (e: ClientEvent) => {
    options.onEvent?.(e);
    for (const l of listeners) l(e);
  };
  const post = (m: Omit<Msg, 'from'>) => channel?.postMessage({ ...m, from: tab });
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const sleep = (ms: number) => new Promise<void>((r) => timers.setTimeout(r, ms));

  function fromTokens(t: StoredTokens): State | null {
    if (typeof t.expiresAt !== 'number') return null;
    const exp = t.expiresAt * 1000;
    const life = t.issuedAt !== undefined ? exp - t.issuedAt * 1000 : Math.max(0, exp - now());
    return { expiresAt: t.expiresAt, sessionExpiresAt: t.sessionExpiresAt ?? null, exp, life, stuck: false };
  }

  async function load(): Promise<void> {
    try {
      const t = (await storage.get()) ?? null;
      if (t?.accessToken !== tokens?.accessToken) {
        tokens = t;
        state = t ? fromTokens(t) : null;
        version++;
        schedule();
      }
    } catch {
      /* unreadable storage: no session */
    }
  }
  const loaded = bearer ? load() : Promise.resolve();

  const due = (s: State) => !s.stuck && now() >= s.exp - ahead * s.life;

  function setState(s: State | null) {
    state = s;
    if (s) known = true;
    version++;
    schedule();
  }

  /** Takes the expiry (and bearer tokens) from a login, refresh or session body. */
  function adopt(b: Json, res: Response, from: 'login' | 'refresh' | 'session'): void {
    if (typeof b.expiresAt !== 'number') return;
    const local = now();
    const date = Date.parse(res.headers.get('date') ?? '');
    const skew = Number.isNaN(date) || Math.abs(date - local) < 5000 ? 0 : date - local;
    const exp = b.expiresAt * 1000 - skew;
    const sessionExpiresAt = typeof b.sessionExpiresAt === 'number' ? b.sessionExpiresAt : null;
    const prev = state;
    // A session answer does not say when its token was issued: keep the lifetime learnt from a login or refresh.
    const life = from === 'session' && prev ? prev.life : exp - local;
    const stuck =
      (sessionExpiresAt !== null && b.expiresAt >= sessionExpiresAt && b.mode !== 'sliding') ||
      (from === 'refresh' && prev !== null && b.expiresAt <= prev.expiresAt);
    const s: State = { expiresAt: b.expiresAt, sessionExpiresAt, exp, life: life > 0 ? life : exp - local, stuck };
    if (typeof b.id === 'string') s.id = b.id;
    else if (prev?.id && from === 'session') s.id = prev.id;
    if (b.user !== undefined) s.user = b.user;
    if (bearer) {
      const access = b.accessToken ?? b.token;
      if (typeof access === 'string') {
        tokens = { accessToken: access, expiresAt: b.expiresAt, sessionExpiresAt, issuedAt: Math.floor((local - (exp - b.expiresAt * 1000)) / 1000) };
        const rt = b.refreshToken ?? (from === 'login' ? undefined : tokens?.refreshToken ?? undefined);
        if (typeof rt === 'string') tokens.refreshToken = rt;
        const t = tokens;
        saving = Promise.resolve(storage.set(t)).catch(() => undefined);
      } else if (tokens) {
        tokens = { ...tokens, expiresAt: b.expiresAt, sessionExpiresAt };
      }
    }
    setState(s);
  }

  function clear(): void {
    if (bearer && tokens) {
      tokens = null;
      saving = Promise.resolve(storage.set(null)).catch(() => undefined);
    }
    setState(null);
  }

  function end(code: string, elsewhere: boolean): void {
    const had = state !== null || tokens !== null;
    const tell = had || (!known && code !== 'TOKEN_MISSING');
    known = true;
    clear();
    if (!elsewhere) post({ t: 'ended', code });
    if (tell) emit({ type: 'session-ended', code, elsewhere });
  }

  function loggedOut(elsewhere: boolean): void {
    clear();
    if (!elsewhere) post({ t: 'logged-out' });
    emit({ type: 'logged-out', elsewhere });
  }

  const info = (): SessionInfo =>
    state
      ? { user: state.user, id: state.id, expiresAt: state.expiresAt, sessionExpiresAt: state.sessionExpiresAt }
      : (() => {
          throw new TesseraClientError('TOKEN_MISSING', 401);
        })();

  // ---------------------------------------------------------------- requests

  function resolve(input: FetchInput): FetchInput {
    return typeof input === 'string' && base && !/^[a-z][a-z\d+.-]*:/i.test(input) ? base + (input[0] === '/' ? '' : '/') + input : input;
  }

  async function send(input: FetchInput, init: RequestInit = {}, auth = true): Promise<Response> {
    const isRequest = typeof Request === 'function' && input instanceof Request;
    const headers = new Headers(isRequest ? (input as Request).headers : undefined);
    new Headers(init.headers).forEach((v, k) => headers.set(k, v));
    if (bearer && auth && tokens?.accessToken && !headers.has('authorization')) headers.set('authorization', `Bearer ${tokens.accessToken}`);
    const credentials = init.credentials ?? (isRequest ? undefined : bearer ? 'omit' : options.credentials ?? 'same-origin');
    return doFetch(input, { ...init, headers, ...(credentials ? { credentials } : {}) });
  }

  const call = (method: string, path: string, body?: unknown, auth = true) =>
    send(
      base + prefix + path,
      body === undefined ? { method } : { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      auth,
    );

  async function json(res: Response): Promise<Json | undefined> {
    try {
      const b = await res.clone().json();
      return b && typeof b === 'object' ? b : undefined;
    } catch {
      return undefined;
    }
  }

  function errorOf(res: Response, b: Json | undefined): TesseraClientError {
    const h = res.headers.get('retry-after');
    let ra: number | undefined;
    if (h) {
      ra = /^\d+$/.test(h.trim()) ? Number(h) : Math.max(0, (Date.parse(h) - now()) / 1000);
      if (Number.isNaN(ra)) ra = undefined;
    }
    return new TesseraClientError(b?.error?.code ?? `HTTP_${res.status}`, res.status, b?.error?.message, ra);
  }

  // ---------------------------------------------------------------- refresh

  function fail(err: TesseraClientError, shared = true): TesseraClientError {
    failures++;
    let d = Math.min(MAX_BACKOFF, 1000 * 2 ** (failures - 1)) * (0.75 + random() * 0.5);
    d = Math.min(d, MAX_BACKOFF);
    if (err.retryAfter !== undefined) d = Math.max(d, err.retryAfter * 1000);
    blockedUntil = now() + d;
    lastError = err;
    if (shared) post({ t: 'failed', until: blockedUntil, code: err.code, status: err.status, ra: err.retryAfter });
    return err;
  }

  async function network(): Promise<SessionInfo> {
    let res: Response;
    try {
      res = tokens?.refreshToken ? await call('POST', '/refresh', { refreshToken: tokens.refreshToken }, false) : await call('POST', '/refresh');
    } catch (e) {
      throw fail(new TesseraClientError('NETWORK', 0, String(e)));
    }
    const b = await json(res);
    if (res.ok && b && typeof b.expiresAt === 'number') {
      failures = 0;
      blockedUntil = 0;
      adopt(b, res, 'refresh');
      await saving;
      post({ t: 'refreshed', s: state });
      emit({ type: 'refreshed', expiresAt: b.expiresAt, sessionExpiresAt: state?.sessionExpiresAt ?? null, elsewhere: false });
      return b as SessionInfo;
    }
    const err = errorOf(res, b);
    if (res.status === 401) {
      end(err.code, false);
      throw err;
    }
    throw fail(err);
  }

  /** Waits for another tab's refresh (BroadcastChannel fallback), then re-checks. */
  async function waitForOthers(v0: number): Promise<SessionInfo> {
    // Unless the other tab already reported (refreshed, failed, ended) before we got here:
    if (!(v0 !== version && (!state || !due(state))) && !(now() < blockedUntil && lastError)) await new Promise<void>((r) => {
      const done = () => {
        waiters.delete(done);
        r();
      };
      waiters.add(done);
      void sleep(waitMs).then(done);
    });
    if (v0 !== version) {
      if (state && !due(state)) return info();
      if (!state) throw new TesseraClientError('SESSION_ENDED', 401);
    }
    if (now() < blockedUntil && lastError) throw lastError;
    // No answer in time: ask the server what the cookies say, refresh only if still needed.
    const s = await fetchSession(false);
    if (s && state && !due(state)) return s;
    return network();
  }

  async function viaChannel(v0: number): Promise<SessionInfo> {
    if (now() - claimedAt < waitMs) return waitForOthers(v0); // another tab announced a refresh
    const mine = random();
    round = new Map([[tab, mine]]);
    busySeen = false;
    post({ t: 'claim', n: mine });
    await sleep(claimWindow);
    const r = round;
    round = null;
    if (v0 !== version && state && !due(state)) return info();
    let winner = tab;
    for (const [id, n] of r) if (n < r.get(winner)! || (n === r.get(winner) && id < winner)) winner = id;
    if (winner !== tab || busySeen) return waitForOthers(v0);
    refreshingHere = true;
    try {
      return await network();
    } finally {
      refreshingHere = false;
    }
  }

  function refresh(): Promise<SessionInfo> {
    const v0 = version;
    return (inflight ??= (async () => {
      try {
        await loaded;
        if (now() < blockedUntil && lastError) throw lastError;
        if (locks) {
          return await locks.request(name, async () => {
            if (bearer) await load(); // another worker may have stored fresh tokens
            if (v0 !== version && state && !due(state)) return info();
            if (now() < blockedUntil && lastError) throw lastError; // the tab before us failed: back off too
            return network();
          });
        }
        if (channel) return await viaChannel(v0);
        return await network();
      } finally {
        inflight = null;
      }
    })());
  }

  async function fetchSession(refreshing: boolean): Promise<SessionInfo | null> {
    const res = refreshing ? await clientFetch(base + prefix + '/session') : await call('GET', '/session');
    const b = await json(res);
    if (res.ok && b) {
      adopt(b, res, 'session');
      return b as SessionInfo;
    }
    if (res.status === 401) {
      const code = b?.error?.code ?? 'TOKEN_MISSING';
      if (!refreshing && !NOT_ENDING.has(code)) end(code, false); // clientFetch already did
      return null;
    }
    throw errorOf(res, b);
  }

  async function codeOf(res: Response): Promise<string | undefined> {
    return (await json(res))?.error?.code;
  }

  async function clientFetch(input: FetchInput, init?: RequestInit): Promise<Response> {
    await loaded;
    if (bearer && !tokens) await load(); // another worker sharing the storage may have logged in
    input = resolve(input);
    const again = typeof Request === 'function' && input instanceof Request ? input.clone() : input;
    if (state && due(state) && now() >= blockedUntil) await refresh().catch(() => undefined);
    const v = version;
    let res = await send(input, init);
    if (res.status !== 401) return res;
    let code = await codeOf(res);
    if (code === 'TOKEN_EXPIRED') {
      if (v === version) {
        try {
          await refresh();
        } catch {
          return res;
        }
      } else if (!state) return res;
      try {
        res = await send(again, init);
      } catch {
        return res;
      }
      if (res.status !== 401) return res;
      code = await codeOf(res);
    }
    if (code !== undefined && !NOT_ENDING.has(code)) end(code, false);
    return res;
  }

  // ---------------------------------------------------------------- cross-tab messages

  if (channel) {
    channel.onmessage = (ev) => {
      const m = ev.data as Msg;
      if (!m || typeof m !== 'object' || m.from === tab) return;
      switch (m.t) {
        case 'claim':
          if (refreshingHere) post({ t: 'busy' });
          else if (round) round.set(m.from, m.n ?? 1);
          else claimedAt = now();
          break;
        case 'busy':
          busySeen = true;
          claimedAt = now();
          break;
        case 'refreshed':
        case 'login':
          claimedAt = -Infinity;
          // Bearer mode: the tokens themselves come from the (shared) storage.
          void (bearer ? load() : Promise.resolve(setState(m.s ?? null))).then(() => {
            failures = 0;
            blockedUntil = 0;
            const s = m.s;
            if (s && m.t === 'login') emit({ type: 'logged-in', user: s.user, expiresAt: s.expiresAt, elsewhere: true });
            else if (s) emit({ type: 'refreshed', expiresAt: s.expiresAt, sessionExpiresAt: s.sessionExpiresAt, elsewhere: true });
            wake();
          });
          break;
        case 'failed':
          claimedAt = -Infinity;
          blockedUntil = Math.max(blockedUntil, m.until ?? 0);
          lastError = new TesseraClientError(m.code ?? 'HTTP_0', m.status ?? 0, undefined, m.ra);
          schedule();
          wake();
          break;
        case 'ended':
          goneElsewhere({ type: 'session-ended', code: m.code ?? 'SESSION_ENDED', elsewhere: true });
          break;
        case 'logged-out':
          goneElsewhere({ type: 'logged-out', elsewhere: true });
          break;
      }
    };
    /** Another tab saw the session end: forget it here (bearer storage is shared, and already cleared there). */
    const goneElsewhere = (event: ClientEvent): void => {
      claimedAt = -Infinity;
      if (bearer) tokens = null;
      setState(null);
      emit(event);
      wake();
    };
  }

  // ---------------------------------------------------------------- timer mode

  function schedule(): void {
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
    if (!running || !state) return;
    const at = Math.max(state.stuck ? state.exp + 1000 : state.exp - ahead * state.life, blockedUntil);
    timer = timers.setTimeout(() => {
      timer = undefined;
      void check(false);
    }, Math.min(Math.max(0, at - now()), 2 ** 31 - 1));
  }

  async function check(woke: boolean): Promise<void> {
    if (!running) return;
    try {
      await loaded;
      if (state && due(state)) {
        if (now() >= blockedUntil) await refresh();
      } else if (state && (woke || (state.stuck && now() >= state.exp))) {
        await fetchSession(true);
      }
    } catch {
      /* backoff or ended: schedule() below picks the next moment */
    } finally {
      schedule();
    }
  }

  function heartbeat(): void {
    const expected = now() + BEAT;
    beat = timers.setTimeout(() => {
      if (!running) return;
      heartbeat();
      if (now() - expected > sleepThreshold) void check(true); // the machine slept
    }, BEAT);
  }

  const onVisible = () => {
    if (g.document?.visibilityState !== 'hidden') void check(false);
  };

  // ---------------------------------------------------------------- the client

  const client: TesseraClient = {
    fetch: clientFetch,
    async login(username, password) {
      const res = await call('POST', '/login', { username, password });
      const b = await json(res);
      if (!res.ok || !b) throw errorOf(res, b);
      failures = 0;
      blockedUntil = 0;
      adopt(b, res, 'login');
      await saving;
      post({ t: 'login', s: state });
      emit({ type: 'logged-in', user: b.user, expiresAt: b.expiresAt, elsewhere: false });
      return b as SessionInfo;
    },
    async session() {
      await loaded;
      return fetchSession(true);
    },
    refresh,
    async logout() {
      await loaded;
      try {
        await call('POST', '/logout', tokens?.refreshToken ? { refreshToken: tokens.refreshToken } : undefined);
      } finally {
        loggedOut(false);
      }
    },
    async logoutEverywhere(userId) {
      await loaded;
      const id = userId ?? (state?.user as { id?: string } | undefined)?.id;
      if (id === undefined) throw new TesseraClientError('BAD_REQUEST', 0, 'no user id');
      const res = await clientFetch(`${base}${prefix}/admin/users/${encodeURIComponent(id)}/revoke`, { method: 'POST' });
      if (!res.ok && res.status !== 401) throw errorOf(res, await json(res));
      loggedOut(false);
    },
    async sessions() {
      const res = await clientFetch(`${base}${prefix}/admin/sessions`);
      const b = await json(res);
      if (!res.ok || !b) throw errorOf(res, b);
      return b as Awaited<ReturnType<TesseraClient['sessions']>>;
    },
    async revoke(id) {
      const res = await clientFetch(`${base}${prefix}/admin/sessions/${encodeURIComponent(id)}`, { method: 'DELETE' });
      if (!res.ok) throw errorOf(res, await json(res));
      if (state?.id === id) loggedOut(false);
    },
    start() {
      if (running) return;
      running = true;
      g.document?.addEventListener?.('visibilitychange', onVisible);
      g.window?.addEventListener?.('focus', onVisible);
      heartbeat();
      void loaded.then(() => (state ? schedule() : fetchSession(true).then(schedule, schedule)));
    },
    stop() {
      running = false;
      g.document?.removeEventListener?.('visibilitychange', onVisible);
      g.window?.removeEventListener?.('focus', onVisible);
      if (beat !== undefined) timers.clearTimeout(beat);
      beat = undefined;
      schedule();
    },
    close() {
      client.stop();
      if (channel) channel.onmessage = null;
      if (ownChannel) channel?.close?.();
    },
    on(type, listener) {
      const l = (e: ClientEvent) => {
        if (e.type === type) listener(e as never);
      };
      listeners.add(l);
      return () => void listeners.delete(l);
    },
    get expiresAt() {
      return state?.expiresAt ?? null;
    },
  };
  return client;
}
