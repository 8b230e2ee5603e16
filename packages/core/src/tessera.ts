/**
 * The engine: one instance per `createTessera(options)`. Framework adapters call
 * `authenticate` on every request and `route` for the drop-in routes; everything else
 * (policy, status codes, cookie bytes, timing) is decided here.
 */
import { ConfigError, ERRORS, TesseraError, type ErrorCode } from './errors.js';
import { redact, type TesseraEvent } from './events.js';
import { buildKeyRing, secretFromStore } from './keys.js';
import { clearCookie, findCookie, serializeCookie, type CookieAttributes } from './lib/cookies.js';
import { isCrossOrigin, isSafeMethod } from './lib/csrf.js';
import { parseDuration } from './lib/duration.js';
import { normalizeIp, sameClient } from './lib/ip.js';
import { randomId, safeEqual, sha256 } from './lib/random.js';
import { withTimeout } from './lib/timeout.js';
import { MemoryStore } from './memory-store.js';
import { resolveOptions, type Duration, type ResolvedCookie, type ResolvedOptions, type TesseraOptions } from './options.js';
import type { ListPage, RevokeWhere, TokenRecord, TokenStore } from './store.js';
import { TokenCodec, type Claims, type TokenType } from './token.js';
import type { AuthResult, HttpReply, HttpRequest, HttpResponse, JsonObject, RouteName, Session, User } from './types.js';

/** Which cookies an error reply clears. */
type Clear = 'none' | 'access' | 'all';

interface Issued {
  token?: string;
  accessToken?: string;
  refreshToken?: string;
}

type Ok = { ok: true; session: Session; refreshed: boolean; issued?: Issued };
type Fail = { ok: false; error: TesseraError; reply: HttpReply };
type Result = Ok | Fail;

/** Failure raised inside a flow: carries its cookie policy until turned into a reply. */
class Reject extends Error {
  constructor(readonly error: TesseraError, readonly clear: Clear, readonly sid?: string, readonly sub?: string) {
    super(error.message);
  }
}

function reject(code: ErrorCode, reason: string, clear: Clear, sid?: string, sub?: string): Reject {
  return new Reject(new TesseraError(code, reason), clear, sid, sub);
}

const CLEAR_FOR: Record<ErrorCode, Clear> = {
  TOKEN_MISSING: 'none',
  TOKEN_INVALID: 'access',
  TOKEN_EXPIRED: 'none',
  SESSION_ENDED: 'all',
  REFRESH_REUSED: 'all',
  BINDING_MISMATCH: 'all',
  CSRF_FAILED: 'none',
  BAD_REQUEST: 'none',
  LOGIN_FAILED: 'none',
  FORBIDDEN: 'none',
  STORE_UNAVAILABLE: 'none',
};

const FINAL: ReadonlySet<ErrorCode> = new Set(['SESSION_ENDED', 'REFRESH_REUSED', 'BINDING_MISMATCH', 'CSRF_FAILED', 'STORE_UNAVAILABLE']);

const JSON_HEADERS: [string, string][] = [
  ['content-type', 'application/json; charset=utf-8'],
  ['cache-control', 'no-store'],
];

const MAX_CREDENTIAL_LENGTH = 1024;

/** A summary of a session or API token for administration screens (no secrets). */
export interface SessionInfo {
  id: string;
  kind: TokenRecord['kind'];
  subject: string;
  tenant: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  ip: string | null;
  label: string | null;
}

export interface CreateApiTokenInput {
  user: User;
  label?: string;
  /** Lifetime; omitted or null = never expires (revocable). */
  ttl?: Duration | null;
  tenant?: string | null;
}

export interface Tessera {
  readonly options: ResolvedOptions;
  readonly store: TokenStore;
  /** Resolves once the signing keys are loaded (they come from the store when `secret` is omitted). */
  ready(): Promise<void>;
  authenticate(req: HttpRequest, res: HttpResponse): Promise<AuthResult>;
  /**
   * Same result as `authenticate`, returned synchronously when it can be decided without I/O
   * (verified-signature cache hit and an in-process store); adapters use it on the hot path.
   */
  authenticateFast(req: HttpRequest, res: HttpResponse): AuthResult | Promise<AuthResult>;
  /** The reply a failed `authenticate` result prescribes (for guards). */
  route(name: RouteName, req: HttpRequest, res: HttpResponse, prior?: AuthResult): Promise<HttpReply>;
  /** Which drop-in route a method + path (relative to the routes prefix) names, if any. */
  matchRoute(method: string, relativePath: string): RouteName | null;
  /** Routes that are enabled with this configuration. */
  readonly routeNames: readonly RouteName[];
  /** A `{ error }` reply for a code (used by adapters for guards and framework errors). */
  errorReply(code: ErrorCode): HttpReply;
  listSessions(subject: string, page?: { cursor?: string | null; limit?: number }): Promise<{ sessions: SessionInfo[]; cursor: string | null }>;
  revokeSession(sessionId: string): Promise<number>;
  revokeUser(subject: string): Promise<number>;
  revokeAll(): Promise<number>;
  createApiToken(input: CreateApiTokenInput): Promise<{ token: string; info: SessionInfo }>;
  listApiTokens(subject: string, page?: { cursor?: string | null; limit?: number }): Promise<{ tokens: SessionInfo[]; cursor: string | null }>;
  revokeApiToken(id: string): Promise<number>;
  /** Summary of one session or API-token record (null when absent). */
  getRecordInfo(id: string): Promise<SessionInfo | null>;
  close(): Promise<void>;
}

const API_PREFIX = 'tsr_';

export interface CreateTesseraContext {
  /** Store used when `options.store` is omitted. Default: a memory store. */
  defaultStore?: () => TokenStore;
}

export function createTessera(options: TesseraOptions = {}, context: CreateTesseraContext = {}): Tessera {
  return new Engine(options, context);
}

export function isTessera(value: unknown): value is Tessera {
  return value instanceof Engine;
}

class Engine implements Tessera {
  readonly options: ResolvedOptions;
  readonly store: TokenStore;
  readonly routeNames: readonly RouteName[];
  private codec: TokenCodec | undefined;
  private initializing: Promise<void> | undefined;
  private readonly hostNames = new Map<string, string>();

  constructor(options: TesseraOptions, context: CreateTesseraContext) {
    this.options = resolveOptions(options);
    this.store = options.store ?? context.defaultStore?.() ?? new MemoryStore();
    if (this.options.secrets) this.codec = this.makeCodec(this.options.secrets);
    this.routeNames = this.options.refreshable ? ['login', 'refresh', 'logout', 'session'] : ['login', 'logout', 'session'];
  }

  private makeCodec(secrets: string[]): TokenCodec {
    const o = this.options;
    return new TokenCodec(buildKeyRing(secrets), {
      algorithm: o.algorithm,
      issuer: o.issuer,
      audience: o.audience,
      clockTolerance: o.clockTolerance,
      maxTokenBytes: o.maxTokenBytes,
      cacheSize: o.verifiedCacheSize,
    });
  }

  ready(): Promise<void> {
    if (this.codec) return Promise.resolve();
    this.initializing ??= this.s('initSecret', () => secretFromStore(this.store)).then(
      secret => {
        this.codec = this.makeCodec([secret]);
      },
      err => {
        this.initializing = undefined;
        throw err;
      },
    );
    return this.initializing;
  }

  // ---------------------------------------------------------------- plumbing

  private now(): number {
    return this.options.clock();
  }

  private emit(event: TesseraEvent): void {
    const fn = this.options.onEvent;
    if (!fn) return;
    try {
      fn(event);
    } catch {
      // A failing listener must never break a request.
    }
  }

  /** Every store call: bounded in time; any failure becomes 503 STORE_UNAVAILABLE (fail closed). */
  private async s<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      if (this.store.inProcess) return await fn();
      return await withTimeout(fn(), this.options.storeTimeout, op);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const message = err instanceof Error ? err.message : String(err);
      this.emit({ type: 'store-error', at: this.now(), operation: op, message: redact(message) });
      throw reject('STORE_UNAVAILABLE', `store:${op}`, 'none');
    }
  }

  private async codecReady(): Promise<TokenCodec> {
    if (this.codec) return this.codec;
    await this.ready();
    return this.codec!;
  }

  private accessName(req: HttpRequest): string {
    const configured = this.options.cookie.name;
    if (configured !== undefined) return configured;
    const host = req.header('host') ?? '';
    let name = this.hostNames.get(host);
    if (name === undefined) {
      const slug = host.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
      name = slug ? `tessera-${slug}` : 'tessera';
      if (this.hostNames.size > 256) this.hostNames.clear();
      this.hostNames.set(host, name);
    }
    return name;
  }

  private refreshName(req: HttpRequest): string {
    return this.options.refreshCookie.name ?? `${this.accessName(req)}-refresh`;
  }

  private attrs(c: ResolvedCookie, req: HttpRequest, maxAge: number | undefined): CookieAttributes {
    return {
      path: c.path,
      domain: c.domain,
      httpOnly: c.httpOnly,
      secure: c.secure === 'auto' ? req.secure : c.secure,
      sameSite: c.sameSite,
      maxAge: c.persistence === 'persistent' ? Math.max(0, maxAge ?? 0) : undefined,
    };
  }

  private setAccess(req: HttpRequest, out: string[], token: string, cookieLifetime: number, now: number): void {
    out.push(serializeCookie(this.accessName(req), token, this.attrs(this.options.cookie, req, cookieLifetime), now));
  }

  private setRefresh(req: HttpRequest, out: string[], token: string, lifetime: number, now: number): void {
    out.push(serializeCookie(this.refreshName(req), token, this.attrs(this.options.refreshCookie, req, lifetime), now));
  }

  private clearing(req: HttpRequest, clear: Clear): string[] {
    if (clear === 'none') return [];
    const out = [clearCookie(this.accessName(req), this.attrs(this.options.cookie, req, 0))];
    if (clear === 'all' && this.options.mode === 'pair') {
      out.push(clearCookie(this.refreshName(req), this.attrs(this.options.refreshCookie, req, 0)));
    }
    return out;
  }

  errorReply(code: ErrorCode, setCookies: string[] = []): HttpReply {
    const headers: [string, string][] = [...JSON_HEADERS];
    for (const c of setCookies) headers.push(['set-cookie', c]);
    if (code === 'STORE_UNAVAILABLE') headers.push(['retry-after', '1']);
    return { status: ERRORS[code].status, headers, body: { error: { code, message: ERRORS[code].message } } };
  }

  private failure(req: HttpRequest, r: Reject): Fail {
    const { error } = r;
    if (error.code !== 'TOKEN_MISSING' && error.code !== 'STORE_UNAVAILABLE') {
      const ev: TesseraEvent = {
        type: 'rejected',
        at: this.now(),
        code: error.code,
        reason: error.reason,
        path: req.path,
        ip: normalizeIp(req.ip),
      };
      if (r.sid !== undefined) ev.sessionId = r.sid;
      if (r.sub !== undefined) ev.subject = r.sub;
      this.emit(ev);
    }
    return { ok: false, error, reply: this.errorReply(error.code, this.clearing(req, r.clear)) };
  }

  private catchReject(req: HttpRequest, err: unknown): Fail {
    if (err instanceof Reject) return this.failure(req, err);
    throw err;
  }

  // ---------------------------------------------------------------- authenticate

  async authenticate(req: HttpRequest, res: HttpResponse): Promise<AuthResult> {
    try {
      return await this.auth(req, res);
    } catch (err) {
      return this.catchReject(req, err);
    }
  }

  authenticateFast(req: HttpRequest, res: HttpResponse): AuthResult | Promise<AuthResult> {
    const codec = this.codec;
    if (codec !== undefined && this.store.getSync !== undefined) {
      try {
        const r = this.fast(req, codec);
        if (r !== null) return r;
      } catch (err) {
        return this.catchReject(req, err);
      }
    }
    return this.authenticate(req, res);
  }

  /**
   * The common case without a single await: a cookie whose signature is already verified, an
   * in-process store, outside the refresh window. Anything else returns null (the full path).
   * The checks are the same ones the full path makes (checkTenant, checkRecord).
   */
  private fast(req: HttpRequest, codec: TokenCodec): Ok | null {
    if (req.header('authorization') !== undefined) return null;
    if (this.options.csrf && !isSafeMethod(req.method)) return null;
    const access = findCookie(req.header('cookie'), this.accessName(req));
    if (access.status !== 'found') return null;
    const pair = this.options.mode === 'pair';
    const now = this.now();
    const v = codec.verifyCached(pair ? 'access' : 'session', access.value, now);
    if (v === undefined || !v.ok) return null;
    const claims = v.claims;
    if (this.options.refreshable && this.inWindow(claims, pair ? this.options.accessTtl : this.options.ttl, now)) return null;
    this.checkTenant(req, claims);
    let record: TokenRecord | null;
    try {
      record = this.store.getSync!(claims.sid);
    } catch {
      return null; // let the full path report the store failure
    }
    const checked = this.checkRecord(req, claims, record, now);
    if (this.touchDue(checked, now)) return null; // the full path writes lastSeenAt
    return { ok: true, session: this.session(checked, claims.exp), refreshed: false };
  }

  private async auth(req: HttpRequest, res: HttpResponse): Promise<Result> {
    const codec = this.codec ?? (await this.codecReady());
    const now = this.now();
    const authz = req.header('authorization');
    if (authz !== undefined) {
      const m = /^Bearer[ ]+(\S+)\s*$/i.exec(authz);
      if (m) {
        const bearer = m[1]!;
        if (bearer.startsWith(API_PREFIX)) return this.authApi(req, bearer, now);
        return this.authToken(req, res, codec, bearer, false, now);
      }
    }
    const access = findCookie(req.header('cookie'), this.accessName(req));
    if (access.status === 'duplicate') throw reject('TOKEN_INVALID', 'duplicate-cookie', 'access');
    if (access.status === 'found' || this.options.mode === 'pair') {
      const o = this.options.csrf;
      if (o && !isSafeMethod(req.method) && (access.status === 'found' || this.hasRefreshCookie(req)) && isCrossOrigin(req, o.trustedOrigins)) {
        throw reject('CSRF_FAILED', 'cross-origin', 'none');
      }
    }
    if (access.status === 'found') return this.authToken(req, res, codec, access.value, true, now);
    if (this.options.mode === 'pair') {
      const refresh = this.refreshCookie(req);
      if (refresh !== undefined) return this.refreshPair(req, res, codec, refresh, now);
    }
    throw reject('TOKEN_MISSING', 'no-token', 'none');
  }

  private hasRefreshCookie(req: HttpRequest): boolean {
    return findCookie(req.header('cookie'), this.refreshName(req)).status !== 'absent';
  }

  /** The refresh cookie's value; a duplicated refresh cookie is an invalid token. */
  private refreshCookie(req: HttpRequest): string | undefined {
    const r = findCookie(req.header('cookie'), this.refreshName(req));
    if (r.status === 'duplicate') throw reject('TOKEN_INVALID', 'duplicate-refresh-cookie', 'all');
    return r.status === 'found' ? r.value : undefined;
  }

  private async authToken(req: HttpRequest, res: HttpResponse, codec: TokenCodec, token: string, viaCookie: boolean, now: number): Promise<Result> {
    const pair = this.options.mode === 'pair';
    const v = await codec.verify(pair ? 'access' : 'session', token, now);
    if (!v.ok) {
      if (v.code === 'TOKEN_EXPIRED' && pair && viaCookie) {
        const refresh = this.refreshCookie(req);
        if (refresh !== undefined) return this.refreshPair(req, res, codec, refresh, now);
      }
      throw reject(v.code, v.reason, v.code === 'TOKEN_EXPIRED' ? 'none' : 'access');
    }
    const claims = v.claims;
    const record = await this.checkSession(req, claims, now);
    if (pair) {
      if (viaCookie && this.options.refreshable && this.inWindow(claims, this.options.accessTtl, now)) {
        const refresh = this.refreshCookie(req);
        if (refresh !== undefined) return this.refreshPair(req, res, codec, refresh, now);
      }
      await this.maybeTouch(record, now);
      return { ok: true, session: this.session(record, claims.exp), refreshed: false };
    }
    if (this.options.refreshable && viaCookie && this.inWindow(claims, this.options.ttl, now)) {
      const reissued = await this.reissueSliding(req, res, codec, record, claims, now);
      if (reissued) return reissued;
    }
    await this.maybeTouch(record, now);
    return { ok: true, session: this.session(record, claims.exp), refreshed: false };
  }

  private inWindow(claims: Claims, lifetime: number, now: number): boolean {
    const rb = this.options.refreshBefore;
    const window = 'share' in rb ? Math.floor(lifetime * rb.share) : rb.seconds;
    return claims.exp - now <= window;
  }

  private checkTenant(req: HttpRequest, claims: Claims): void {
    const tenantFn = this.options.tenant;
    if (tenantFn && (claims.tnt ?? null) !== (tenantFn(req) ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'access', claims.sid, claims.sub);
  }

  /** Session checks shared by access, sliding and refresh tokens. */
  private async checkSession(req: HttpRequest, claims: Claims, now: number): Promise<TokenRecord> {
    this.checkTenant(req, claims);
    const record = await this.s('get', () => this.store.get(claims.sid));
    return this.checkRecord(req, claims, record, now);
  }

  /** The record checks, synchronous: revoked, expired, timeouts, tenant, binding. */
  private checkRecord(req: HttpRequest, claims: Claims, record: TokenRecord | null, now: number): TokenRecord {
    const { sid, sub } = claims;
    if (record === null) throw reject('SESSION_ENDED', 'unknown-session', 'all', sid, sub);
    if (record.kind !== 'session' || record.subject !== sub) throw reject('TOKEN_INVALID', 'record-mismatch', 'access', sid, sub);
    if ((record.tenant ?? null) !== (claims.tnt ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'access', sid, sub);
    if (record.revokedAt !== null) throw reject('SESSION_ENDED', 'revoked', 'all', sid, sub);
    if (record.expiresAt !== null && record.expiresAt <= now) throw reject('SESSION_ENDED', 'expired', 'all', sid, sub);
    if (record.absoluteExpiresAt != null && record.absoluteExpiresAt <= now) throw reject('SESSION_ENDED', 'absolute-timeout', 'all', sid, sub);
    const idle = this.options.idleTimeout;
    if (idle > 0 && now - record.lastSeenAt > idle) throw reject('SESSION_ENDED', 'idle-timeout', 'all', sid, sub);
    if (record.binding && !sameClient(record.ip ?? '', record.binding, normalizeIp(req.ip))) {
      throw reject('BINDING_MISMATCH', `ip-${record.binding}`, 'all', sid, sub);
    }
    return record;
  }

  /** Writes lastSeenAt at most once per touchInterval per session; never on the hot path's critical path. */
  private touchDue(record: TokenRecord, now: number): boolean {
    return now - record.lastSeenAt >= this.options.touchInterval;
  }

  /**
   * Writes lastSeenAt at most once per touchInterval per session. With an idle timeout the write
   * is awaited (the next request must see it); without one, lastSeenAt is informational and the
   * write happens off the request path. A failed touch never fails the request: the session was
   * authenticated by a successful read (the store-error event is emitted).
   */
  private async maybeTouch(record: TokenRecord, now: number): Promise<void> {
    if (!this.touchDue(record, now)) return;
    const write = this.s('touch', () => this.store.touch(record.id, now)).then(
      () => undefined,
      () => undefined,
    );
    if (this.options.idleTimeout > 0) await write;
  }

  private session(record: TokenRecord, expiresAt: number | null): Session {
    return {
      id: record.family,
      kind: record.kind === 'api' ? 'api' : 'session',
      user: record.user as User,
      subject: record.subject,
      tenant: record.tenant ?? null,
      createdAt: record.createdAt,
      expiresAt,
      sessionExpiresAt: record.expiresAt,
    };
  }

  private capExpiry(now: number, lifetime: number, record: Pick<TokenRecord, 'absoluteExpiresAt'>): number {
    const exp = now + lifetime;
    return record.absoluteExpiresAt != null ? Math.min(exp, record.absoluteExpiresAt) : exp;
  }

  private async reissueSliding(
    req: HttpRequest,
    res: HttpResponse,
    codec: TokenCodec,
    record: TokenRecord,
    claims: Claims,
    now: number,
  ): Promise<Ok | null> {
    const exp = this.capExpiry(now, this.options.ttl, record);
    if (exp <= claims.exp) return null;
    const updated = await this.s('touch', () => this.store.touch(record.id, now, exp));
    if (!updated) throw reject('SESSION_ENDED', 'revoked', 'all', record.id, record.subject);
    const token = await codec.sign('session', this.claimsFor(record, randomId(), now, exp));
    const cookies: string[] = [];
    this.setAccess(req, cookies, token, exp - now, now);
    for (const c of cookies) res.appendHeader('set-cookie', c);
    this.emit({ type: 'refreshed', at: now, mode: 'sliding', sessionId: record.id, subject: record.subject, grace: false });
    return {
      ok: true,
      session: this.session({ ...record, expiresAt: exp, lastSeenAt: now }, exp),
      refreshed: true,
      issued: { token },
    };
  }

  private claimsFor(record: Pick<TokenRecord, 'family' | 'subject' | 'tenant'>, jti: string, iat: number, exp: number): Claims {
    const c: Claims = { sub: record.subject, sid: record.family, jti, iat, exp };
    if (record.tenant != null) c.tnt = record.tenant;
    return c;
  }

  /** Pair mode: rotate the refresh token, issue a new access token, set both cookies. */
  private async refreshPair(
    req: HttpRequest,
    res: HttpResponse,
    codec: TokenCodec,
    refreshToken: string,
    now: number,
  ): Promise<Ok> {
    if (!this.options.refreshable) throw reject('TOKEN_EXPIRED', 'refresh-disabled', 'none');
    const v = await codec.verify('refresh', refreshToken, now);
    if (!v.ok) {
      throw v.code === 'TOKEN_EXPIRED'
        ? reject('SESSION_ENDED', 'refresh-expired', 'all')
        : reject('TOKEN_INVALID', `refresh-${v.reason}`, 'all');
    }
    const claims = v.claims;
    const session = await this.checkSession(req, claims, now);
    const exp = this.capExpiry(now, this.options.refreshTtl, session);
    if (exp <= now) throw reject('SESSION_ENDED', 'absolute-timeout', 'all', claims.sid, claims.sub);
    const next: TokenRecord = {
      id: randomId(),
      kind: 'refresh',
      subject: session.subject,
      family: session.id,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: exp,
      revokedAt: null,
    };
    if (session.tenant != null) next.tenant = session.tenant;
    const result = await this.s('rotate', () => this.store.rotate(claims.jti, next, now, this.options.refreshReuse));
    let current: TokenRecord;
    let grace = false;
    if (result.status === 'rotated') current = next;
    else if (result.status === 'grace') {
      const successor = await this.s('get', () => this.store.get(result.successorId));
      if (!successor || successor.kind !== 'refresh' || successor.family !== session.id || successor.revokedAt !== null || successor.rotatedAt != null) {
        return this.reuseDetected(claims, now);
      }
      current = successor;
      grace = true;
    } else if (result.status === 'reused') return this.reuseDetected(claims, now);
    else throw reject('SESSION_ENDED', `refresh-${result.status}`, 'all', claims.sid, claims.sub);

    const sessionExp = Math.max(session.expiresAt ?? 0, current.expiresAt ?? 0);
    const alive = await this.s('touch', () => this.store.touch(session.id, now, sessionExp));
    if (!alive) throw reject('SESSION_ENDED', 'revoked', 'all', claims.sid, claims.sub);

    const refreshExp = current.expiresAt ?? exp;
    const accessExp = Math.min(now + this.options.accessTtl, refreshExp);
    const accessToken = await codec.sign('access', this.claimsFor(session, randomId(), now, accessExp));
    const newRefresh = await codec.sign('refresh', this.claimsFor(session, current.id, current.createdAt, refreshExp));
    const cookies: string[] = [];
    this.setAccess(req, cookies, accessToken, refreshExp - now, now);
    this.setRefresh(req, cookies, newRefresh, refreshExp - now, now);
    for (const c of cookies) res.appendHeader('set-cookie', c);
    this.emit({ type: 'refreshed', at: now, mode: 'pair', sessionId: session.id, subject: session.subject, grace });
    return {
      ok: true,
      session: this.session({ ...session, expiresAt: sessionExp, lastSeenAt: now }, accessExp),
      refreshed: true,
      issued: { accessToken, refreshToken: newRefresh },
    };
  }

  private async reuseDetected(claims: Claims, now: number): Promise<never> {
    this.emit({ type: 'reuse-detected', at: now, sessionId: claims.sid, subject: claims.sub, tokenId: claims.jti });
    const count = await this.s('revoke', () => this.store.revoke({ family: claims.sid }, now));
    this.emit({ type: 'revoked', at: now, by: 'reuse', where: { family: claims.sid }, count });
    throw reject('REFRESH_REUSED', 'refresh-reused', 'all', claims.sid, claims.sub);
  }

  private async authApi(req: HttpRequest, bearer: string, now: number): Promise<Result> {
    const m = /^tsr_([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{32,128})$/.exec(bearer);
    if (!m) throw reject('TOKEN_INVALID', 'api-malformed', 'none');
    const [, id, secret] = m as unknown as [string, string, string];
    const record = await this.s('get', () => this.store.get(id));
    if (!record || record.kind !== 'api' || !record.secretHash || !safeEqual(sha256(secret), record.secretHash)) {
      throw reject('TOKEN_INVALID', 'api-unknown', 'none', id);
    }
    if (record.revokedAt !== null) throw reject('SESSION_ENDED', 'api-revoked', 'none', id, record.subject);
    if (record.expiresAt !== null && record.expiresAt <= now) throw reject('SESSION_ENDED', 'api-expired', 'none', id, record.subject);
    const tenantFn = this.options.tenant;
    if (tenantFn && (record.tenant ?? null) !== (tenantFn(req) ?? null)) throw reject('TOKEN_INVALID', 'tenant', 'none', id, record.subject);
    await this.maybeTouch(record, now);
    return { ok: true, session: this.session(record, record.expiresAt), refreshed: false };
  }

  // ---------------------------------------------------------------- routes

  matchRoute(method: string, rel: string): RouteName | null {
    const path = rel.length > 1 && rel.endsWith('/') ? rel.slice(0, -1) : rel;
    switch (path) {
      case '/login':
        return method === 'POST' ? 'login' : null;
      case '/refresh':
        return method === 'POST' && this.options.refreshable ? 'refresh' : null;
      case '/logout':
        return method === 'POST' ? 'logout' : null;
      case '/session':
        return method === 'GET' || method === 'HEAD' ? 'session' : null;
      default:
        return null;
    }
  }

  async route(name: RouteName, req: HttpRequest, res: HttpResponse, prior?: AuthResult): Promise<HttpReply> {
    try {
      if (name === 'session') return this.sessionRoute(req, res, prior);
      this.checkCsrf(req);
      if (name === 'login') return await this.login(req);
      if (name === 'refresh') return await this.refreshRoute(req, res, prior);
      return await this.logout(req);
    } catch (err) {
      return this.catchReject(req, err).reply;
    }
  }

  private checkCsrf(req: HttpRequest): void {
    const o = this.options.csrf;
    if (o && isCrossOrigin(req, o.trustedOrigins)) throw reject('CSRF_FAILED', 'cross-origin', 'none');
  }

  private ok(body: JsonObject, cookies: string[] = [], status = 200): HttpReply {
    const headers: [string, string][] = [...JSON_HEADERS];
    for (const c of cookies) headers.push(['set-cookie', c]);
    return { status, headers, body };
  }

  private sessionBody(s: Session): JsonObject {
    return {
      user: s.user,
      id: s.id,
      kind: s.kind,
      mode: this.options.mode,
      createdAt: s.createdAt,
      expiresAt: s.expiresAt,
      sessionExpiresAt: s.sessionExpiresAt,
    };
  }

  private async sessionRoute(req: HttpRequest, res: HttpResponse, prior?: AuthResult): Promise<HttpReply> {
    const r = prior ?? (await this.authenticate(req, res));
    return r.ok ? this.ok(this.sessionBody(r.session)) : r.reply;
  }

  private async readCredentials(req: HttpRequest): Promise<{ username: string; password: string }> {
    let body: unknown;
    try {
      body = await req.body();
    } catch {
      throw reject('BAD_REQUEST', 'body-unreadable', 'none');
    }
    if (typeof body === 'string' || body instanceof Uint8Array) {
      try {
        body = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
      } catch {
        throw reject('BAD_REQUEST', 'body-json', 'none');
      }
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw reject('BAD_REQUEST', 'body-shape', 'none');
    const { username, password } = body as Record<string, unknown>;
    if (typeof username !== 'string' || typeof password !== 'string') throw reject('BAD_REQUEST', 'credentials-shape', 'none');
    if (!username || !password || username.length > MAX_CREDENTIAL_LENGTH || password.length > MAX_CREDENTIAL_LENGTH) {
      throw reject('BAD_REQUEST', 'credentials-length', 'none');
    }
    return { username, password };
  }

  private async login(req: HttpRequest): Promise<HttpReply> {
    const verify = this.options.verifyCredentials;
    const input = await this.readCredentials(req);
    if (!verify) throw reject('LOGIN_FAILED', 'no-verifyCredentials', 'none');
    const user = await verify(input, req);
    if (user === null || user === undefined) throw reject('LOGIN_FAILED', 'credentials', 'none');
    if (typeof user !== 'object' || typeof user.id !== 'string' || user.id.length === 0) {
      throw new TypeError('verifyCredentials must return null or a user object with a string `id`');
    }
    const codec = await this.codecReady();
    const now = this.now();
    const o = this.options;
    const sid = randomId();
    const absolute = o.absoluteTimeout > 0 ? now + o.absoluteTimeout : null;
    const lifetime = o.mode === 'pair' ? o.refreshTtl : o.ttl;
    const sessionExp = absolute !== null ? Math.min(now + lifetime, absolute) : now + lifetime;
    const tenant = o.tenant ? (o.tenant(req) ?? null) : null;
    const record: TokenRecord = {
      id: sid,
      kind: 'session',
      subject: user.id,
      family: sid,
      createdAt: now,
      lastSeenAt: now,
      expiresAt: sessionExp,
      revokedAt: null,
      user: JSON.parse(JSON.stringify(user)) as User,
    };
    if (tenant !== null) record.tenant = tenant;
    if (absolute !== null) record.absoluteExpiresAt = absolute;
    const ip = normalizeIp(req.ip);
    if (o.bindClientIp && ip !== null) {
      record.binding = o.bindClientIp;
      record.ip = ip;
    } else if (ip !== null) record.ip = ip;
    await this.s('put', () => this.store.put(record));
    const cookies: string[] = [];
    const body: JsonObject = { user: record.user!, expiresAt: sessionExp };
    if (o.mode === 'sliding') {
      const token = await codec.sign('session', this.claimsFor(record, randomId(), now, sessionExp));
      this.setAccess(req, cookies, token, sessionExp - now, now);
      if (o.tokenInLoginBody) body.token = token;
      this.emit({ type: 'issued', at: now, kind: 'session', sessionId: sid, subject: user.id, tenant });
    } else {
      const refresh: TokenRecord = { id: randomId(), kind: 'refresh', subject: user.id, family: sid, createdAt: now, lastSeenAt: now, expiresAt: sessionExp, revokedAt: null };
      if (tenant !== null) refresh.tenant = tenant;
      await this.s('put', () => this.store.put(refresh));
      const accessExp = Math.min(now + o.accessTtl, sessionExp);
      const accessToken = await codec.sign('access', this.claimsFor(record, randomId(), now, accessExp));
      const refreshToken = await codec.sign('refresh', this.claimsFor(record, refresh.id, now, sessionExp));
      this.setAccess(req, cookies, accessToken, sessionExp - now, now);
      this.setRefresh(req, cookies, refreshToken, sessionExp - now, now);
      body.expiresAt = accessExp;
      body.sessionExpiresAt = sessionExp;
      if (o.tokenInLoginBody) {
        body.accessToken = accessToken;
        body.refreshToken = refreshToken;
      }
      this.emit({ type: 'issued', at: now, kind: 'access', sessionId: sid, subject: user.id, tenant });
      this.emit({ type: 'issued', at: now, kind: 'refresh', sessionId: sid, subject: user.id, tenant });
    }
    return this.ok(body, cookies);
  }

  private issuedBody(r: Ok): JsonObject {
    const body = this.sessionBody(r.session);
    if (this.options.tokenInLoginBody && r.issued) Object.assign(body, r.issued);
    return body;
  }

  private async refreshRoute(req: HttpRequest, res: HttpResponse, prior?: AuthResult): Promise<HttpReply> {
    const codec = await this.codecReady();
    const now = this.now();
    if (prior?.ok && prior.refreshed) return this.ok(this.issuedBody(prior as Ok));
    // A verdict the middleware already reached on this request stands (re-running it would
    // report a revoked family as SESSION_ENDED instead of REFRESH_REUSED, or hit a failing store twice).
    if (prior && !prior.ok && FINAL.has(prior.error.code)) return prior.reply;
    if (this.options.mode === 'pair') {
      let token = this.refreshCookie(req);
      if (token === undefined && this.options.tokenInLoginBody) token = await this.bodyRefreshToken(req);
      if (token === undefined) throw reject('TOKEN_MISSING', 'no-refresh-token', 'none');
      const sink: string[] = [];
      const r = await this.refreshPair(req, { appendHeader: (_n, v) => sink.push(v) }, codec, token, now);
      return this.ok(this.issuedBody(r), sink);
    }
    const r = prior ?? (await this.authenticate(req, res));
    if (!r.ok) return r.reply;
    if (r.session.kind !== 'session') throw reject('TOKEN_INVALID', 'not-refreshable', 'none');
    const record = await this.s('get', () => this.store.get(r.session.id));
    if (!record || record.revokedAt !== null) throw reject('SESSION_ENDED', 'revoked', 'all', r.session.id, r.session.subject);
    const exp = this.capExpiry(now, this.options.ttl, record);
    const updated = await this.s('touch', () => this.store.touch(record.id, now, exp));
    if (!updated) throw reject('SESSION_ENDED', 'revoked', 'all', record.id, record.subject);
    const token = await codec.sign('session', this.claimsFor(record, randomId(), now, exp));
    const cookies: string[] = [];
    this.setAccess(req, cookies, token, exp - now, now);
    this.emit({ type: 'refreshed', at: now, mode: 'sliding', sessionId: record.id, subject: record.subject, grace: false });
    const ok: Ok = { ok: true, session: this.session({ ...record, expiresAt: exp }, exp), refreshed: true, issued: { token } };
    return this.ok(this.issuedBody(ok), cookies);
  }

  private async bodyRefreshToken(req: HttpRequest): Promise<string | undefined> {
    let body: unknown;
    try {
      body = await req.body();
      if (typeof body === 'string') body = body ? JSON.parse(body) : undefined;
    } catch {
      throw reject('BAD_REQUEST', 'body-json', 'none');
    }
    const t = (body as { refreshToken?: unknown } | undefined)?.refreshToken;
    if (t === undefined) return undefined;
    if (typeof t !== 'string') throw reject('BAD_REQUEST', 'refresh-token-shape', 'none');
    return t;
  }

  private async logout(req: HttpRequest): Promise<HttpReply> {
    const codec = await this.codecReady();
    const now = this.now();
    const sids = new Set<string>();
    const consider = async (type: TokenType, token: string | undefined): Promise<void> => {
      if (token === undefined) return;
      const claims = await codec.claimsEvenIfExpired(type, token, now);
      if (claims) sids.add(claims.sid);
    };
    const authz = req.header('authorization');
    const bearer = authz && /^Bearer[ ]+(\S+)\s*$/i.exec(authz)?.[1];
    const accessType: TokenType = this.options.mode === 'pair' ? 'access' : 'session';
    if (bearer && !bearer.startsWith(API_PREFIX)) await consider(accessType, bearer);
    const access = findCookie(req.header('cookie'), this.accessName(req));
    if (access.status === 'found') await consider(accessType, access.value);
    if (this.options.mode === 'pair') {
      const refresh = findCookie(req.header('cookie'), this.refreshName(req));
      if (refresh.status === 'found') await consider('refresh', refresh.value);
    }
    for (const sid of sids) {
      const count = await this.s('revoke', () => this.store.revoke({ family: sid }, now));
      this.emit({ type: 'revoked', at: now, by: 'logout', where: { family: sid }, count });
    }
    return { status: 204, headers: [['cache-control', 'no-store'], ...this.clearing(req, 'all').map(c => ['set-cookie', c] as [string, string])], body: null };
  }

  // ---------------------------------------------------------------- administration

  private info(r: TokenRecord): SessionInfo {
    return {
      id: r.id,
      kind: r.kind,
      subject: r.subject,
      tenant: r.tenant ?? null,
      createdAt: r.createdAt,
      lastSeenAt: r.lastSeenAt,
      expiresAt: r.expiresAt,
      revokedAt: r.revokedAt,
      ip: r.ip ?? null,
      label: r.label ?? null,
    };
  }

  private async listKind(subject: string, kind: TokenRecord['kind'], page: { cursor?: string | null; limit?: number } = {}): Promise<{ items: SessionInfo[]; cursor: string | null }> {
    const limit = Math.min(Math.max(page.limit ?? 100, 1), 1000);
    const now = this.now();
    const res: ListPage = await this.s('list', () => this.store.list({ subject, kind, cursor: page.cursor ?? null, limit }));
    const items = res.records
      .filter(r => r.kind === kind && r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now))
      .map(r => this.info(r));
    return { items, cursor: res.cursor };
  }

  async listSessions(subject: string, page?: { cursor?: string | null; limit?: number }) {
    const { items, cursor } = await this.listKind(subject, 'session', page);
    return { sessions: items, cursor };
  }

  async listApiTokens(subject: string, page?: { cursor?: string | null; limit?: number }) {
    const { items, cursor } = await this.listKind(subject, 'api', page);
    return { tokens: items, cursor };
  }

  private async adminRevoke(where: RevokeWhere): Promise<number> {
    const now = this.now();
    const count = await this.s('revoke', () => this.store.revoke(where, now));
    this.emit({ type: 'revoked', at: now, by: 'admin', where, count });
    return count;
  }

  revokeSession(sessionId: string): Promise<number> {
    return this.unwrap(this.adminRevoke({ family: sessionId }));
  }

  revokeUser(subject: string): Promise<number> {
    return this.unwrap(this.adminRevoke({ subject }));
  }

  revokeAll(): Promise<number> {
    return this.unwrap(this.adminRevoke({ all: true }));
  }

  revokeApiToken(id: string): Promise<number> {
    return this.unwrap(this.adminRevoke({ id }));
  }

  async getRecordInfo(id: string): Promise<SessionInfo | null> {
    const rec = await this.unwrap(this.s('get', () => this.store.get(id)));
    return rec && rec.kind !== 'refresh' ? this.info(rec) : null;
  }

  async createApiToken(input: CreateApiTokenInput): Promise<{ token: string; info: SessionInfo }> {
    const user = input?.user;
    if (!user || typeof user.id !== 'string' || !user.id) throw new TypeError('createApiToken: user with a string `id` is required');
    const now = this.now();
    let expiresAt: number | null = null;
    if (input.ttl !== undefined && input.ttl !== null) {
      const ttl = parseDuration(input.ttl);
      if (ttl === null || ttl < 1) throw new TypeError('createApiToken: ttl must be a positive duration');
      expiresAt = now + ttl;
    }
    const id = randomId();
    const secret = randomId(32);
    const record: TokenRecord = {
      id,
      kind: 'api',
      subject: user.id,
      family: id,
      createdAt: now,
      lastSeenAt: now,
      expiresAt,
      revokedAt: null,
      user: JSON.parse(JSON.stringify(user)) as User,
      secretHash: sha256(secret),
    };
    if (input.label) record.label = String(input.label).slice(0, 200);
    if (input.tenant != null) record.tenant = input.tenant;
    await this.unwrap(this.s('put', () => this.store.put(record)));
    this.emit({ type: 'issued', at: now, kind: 'api', sessionId: id, subject: user.id, tenant: record.tenant ?? null });
    return { token: `${API_PREFIX}${id}.${secret}`, info: this.info(record) };
  }

  /** Admin calls surface a store failure as the TesseraError (STORE_UNAVAILABLE) it is. */
  private async unwrap<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (err instanceof Reject) throw err.error;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
