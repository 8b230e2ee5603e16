/**
 * `createTessera(options)`: one instance, its public API. The work happens in the flows
 * (src/flows); this file wires them to one shared context.
 */
import { createContext, type Context } from './context.js';
import { ConfigError } from './errors.js';
import { adminRevoke, listLive, listLogins, recordInfo, revokeListed, type Page, type SessionInfo } from './flows/admin.js';
import { createApiToken, type CreateApiTokenInput } from './flows/api-tokens.js';
import { createJobToken, revokeJob, type CreateJobTokenInput, type CreatedJobToken } from './flows/jobs.js';
import { authenticate } from './flows/authenticate.js';
import { issue } from './flows/login.js';
import { warnWithoutCounters } from './flows/throttle.js';
import { refuse } from './outcome.js';
import { Reject } from './reject.js';
import { resolveOptions, type ResolvedOptions, type TesseraOptions } from './options.js';
import { runRoute } from './routes.js';
import { isBulkStore, type TokenStore } from './store.js';
import { Follower, IN_PROCESS_URL } from './migrate/follower.js';
import { migrate, type InProcessOptions, type MigrateOptions, type MigrationResult } from './migrate/index.js';
import type { AuthResult, HttpReply, HttpRequest, IssueOptions, RouteName, User } from './types.js';

export type { SessionInfo, Page } from './flows/admin.js';
export type { CreateApiTokenInput } from './flows/api-tokens.js';
export type { CreateJobTokenInput, CreatedJobToken } from './flows/jobs.js';

export interface Tessera {
  readonly options: ResolvedOptions;
  readonly store: TokenStore;
  /**
   * Resolves once the signing keys are loaded (from the store when `secret` is omitted). Call it
   * before listening: a broken store or stored secret then stops start-up with a clear error
   * instead of failing requests with 503.
   */
  ready(): Promise<void>;
  /** Authenticates a request. Never rejects for a bad token or a failing store: those are `{ ok: false, reply }`. */
  authenticate(req: HttpRequest): Promise<AuthResult>;
  /**
   * Starts a session for a user the app authenticated itself (SSO callback, HTTP Basic, sign-up).
   * Same records, cookies and events as the login route; send `cookies` as Set-Cookie headers
   * (the framework packages do it for you). A failing store gives `{ ok: false, reply }`.
   * `options.credentials` (an upstream token, say) are kept only sealed: they need `safePassword`.
   */
  issue<U extends User>(req: HttpRequest, user: U, options?: IssueOptions): Promise<AuthResult>;
  /** Runs a drop-in route (login, refresh, logout, session) to its reply. */
  route(name: RouteName, req: HttpRequest, prior?: AuthResult): Promise<HttpReply>;
  /** A user's live sessions, then their live job tokens (kind `job`, with `jobId`). */
  listSessions(subject: string, page?: Page): Promise<{ sessions: SessionInfo[]; cursor: string | null }>;
  /** Ends a session (its `session.id`, or the id `listSessions` shows; a job token's listed id ends that token). */
  revokeSession(sessionId: string): Promise<number>;
  revokeUser(subject: string): Promise<number>;
  revokeAll(): Promise<number>;
  createApiToken<U extends User>(input: CreateApiTokenInput<U>): Promise<{ token: string; info: SessionInfo }>;
  /**
   * A job token for long-running work (`Authorization: Bearer tsj_…`): it authenticates as `user`
   * until `ttl` (default `jobs.ttl`, at most `jobs.maxTtl`) or revocation, whatever happens to the
   * user's logins. A live token of the same `jobId` (and tenant) is revoked first. A bad jobId or
   * ttl, or `jobs: false`, is a TypeError.
   */
  createJobToken<U extends User>(input: CreateJobTokenInput<U>): Promise<CreatedJobToken>;
  /** Ends the user's job token(s) for `jobId` (pass the tenant when there is one); how many were live. */
  revokeJob(subject: string, jobId: string, tenant?: string | null): Promise<number>;
  listApiTokens(subject: string, page?: Page): Promise<{ tokens: SessionInfo[]; cursor: string | null }>;
  revokeApiToken(id: string): Promise<number>;
  /** Summary of one session or API-token record (null when absent). */
  getRecordInfo(id: string): Promise<SessionInfo | null>;
  /**
   * Moves every record to `to` while this server keeps serving (the in-process live switch, e.g.
   * from the memory store to PostgreSQL or back): requests keep working throughout and, once it
   * resolves, use only `to`. For a cluster of servers, run `tessera migrate` instead: they follow it.
   */
  switchStore(to: TokenStore, options?: SwitchOptions): Promise<MigrationResult>;
  close(): Promise<void>;
}

export interface SwitchOptions {
  onProgress?: MigrateOptions['onProgress'];
  /** Records per page and batch. Default 2000. */
  batch?: number;
}

/** Each instance's context, for the adapter kit (src/adapter.ts); never on the public object. */
const contexts = new WeakMap<Tessera, Context>();

export function contextOf(t: Tessera): Context {
  const ctx = contexts.get(t);
  if (ctx === undefined) throw new TypeError('not a Tessera instance (use createTessera)');
  return ctx;
}

export function isTessera(value: unknown): value is Tessera {
  return typeof value === 'object' && value !== null && contexts.has(value as Tessera);
}

/** Admin calls surface a refusal (a failing store: STORE_UNAVAILABLE) as the TesseraError it is. */
async function unwrap<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw err instanceof Reject ? err.error : err;
  }
}

export function createTessera(options: TesseraOptions): Tessera {
  const o = resolveOptions(options);
  if (options.store === undefined) {
    throw new ConfigError('store', 'required: pass a store (the framework packages default to the file store in ./.tessera)');
  }
  const store = options.store;
  const ctx = createContext(o, store);
  warnWithoutCounters(ctx, store);
  // Servers follow a switch announced in their store; in-process stores only by `switchStore`.
  const follower = isBulkStore(store) ? new Follower(store, ctx.store, o.openStore, o.logger) : null;
  ctx.store.follower = follower;
  const t: Tessera = {
    options: o,
    store,
    ready: () => ctx.keys.load().then(() => undefined),
    authenticate: req => authenticate(ctx, req),
    async issue(req, user, options) {
      try {
        return await issue(ctx, req, user, undefined, options?.credentials ?? null);
      } catch (err) {
        return refuse(ctx, req, err);
      }
    },
    route: (name, req, prior) => runRoute(ctx, name, req, prior),
    listSessions: async (subject, page) => {
      const { items, cursor } = await unwrap(listLogins(ctx, subject, page));
      return { sessions: items, cursor };
    },
    listApiTokens: async (subject, page) => {
      const { items, cursor } = await unwrap(listLive(ctx, subject, 'api', page));
      return { tokens: items, cursor };
    },
    revokeSession: sessionId => unwrap(revokeListed(ctx, sessionId)),
    revokeUser: subject => unwrap(adminRevoke(ctx, { subject })),
    revokeAll: () => unwrap(adminRevoke(ctx, { all: true })),
    revokeApiToken: id => unwrap(adminRevoke(ctx, { id })),
    getRecordInfo: id => unwrap(recordInfo(ctx, id)),
    createApiToken: input => unwrap(createApiToken(ctx, input)),
    createJobToken: input => unwrap(createJobToken(ctx, input)),
    revokeJob: (subject, jobId, tenant) => unwrap(revokeJob(ctx, subject, jobId, tenant ?? null)),
    async switchStore(to, options = {}) {
      const run: InProcessOptions = {
        from: follower?.current ?? store,
        to,
        toUrl: IN_PROCESS_URL,
        settleMs: 0,
        ...(options.batch !== undefined ? { batch: options.batch } : {}),
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        // One process: no other server to wait for, only this one's store calls made under the
        // previous phase (the settle wait of a cluster switch covers those).
        ...(follower && isBulkStore(to)
          ? {
              follow: async state => {
                await follower.apply(state, to);
                await ctx.store.drain();
              },
            }
          : {}),
      };
      if (follower) follower.inProcess++;
      try {
        return await migrate(run);
      } finally {
        if (follower) follower.inProcess--;
      }
    },
    async close() {
      await follower?.close();
      await ctx.store.stop();
      await store.close();
    },
  };
  contexts.set(t, ctx);
  return t;
}
