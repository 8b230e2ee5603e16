/** The option declaration: every option once, with its type, default (value and README line), unit, `TESSERA_*` variable and doc line. */
// Read by resolveOptions, @tessera/config and the README tables, all through options.ts (`@tessera/core/options`).
import { routesPrefix, trustedOrigins } from './lib/option-refine.js';
import { option, type KindValue, type OptionEntry } from './lib/option-types.js';
import { COOKIE_OPTIONS } from './option-table-cookies.js';

export type Algorithm = 'HS256' | 'HS384' | 'HS512' | 'EdDSA' | 'ES256';
export const ALGORITHMS: readonly Algorithm[] = ['HS256', 'HS384', 'HS512', 'EdDSA', 'ES256'];
export const DEFAULT_TTL = 604800;


export const OPTION_TABLE = [
  option('secret', {
    type: { kind: 'secrets', minBytes: 32 },
    defaultDoc: 'generated',
    doc: 'Signing secret, at least 32 bytes. A list is a keyring: the first signs, all verify, tokens carry a `kid`. Omitted: a 256-bit secret is generated on first start and kept in the store, so restarts and every server sharing the store agree on it (rotate it with `tessera keys rotate`). With `EdDSA` / `ES256` and no `keys`, the key pair is derived from it. From the environment: comma-separated for a keyring.',
  }),
  option('algorithm', {
    type: { kind: 'enum', values: ALGORITHMS },
    default: 'HS256',
    defaultDoc: "`'HS256'`",
    doc: '`HS256`, `HS384` or `HS512` (HMAC, with `secret`), or `EdDSA` (Ed25519) or `ES256` (P-256), asymmetric: other services can then verify tokens with the public keys published at `<routes.prefix>/jwks`. Pinned at verify time with its one key type (no `alg: none`, no HS/RS confusion).',
  }),
  option('keys', {
    type: { kind: 'keys' },
    defaultDoc: 'derived from `secret`',
    doc: '`EdDSA` / `ES256` only: the signing key(s), as PEM (PKCS#8, SEC1; SPKI public keys verify only), a JWK or JWK Set (object or JSON) or a `KeyObject`. A list is a keyring: the first, a private key, signs; all verify and are published at `/jwks`; kid = RFC 7638 thumbprint. Omitted: the key pair is derived from `secret` (given, or generated and kept in the store). Not with `secret`. From the environment: PEM block(s) or JSON.',
  }),
  option('issuer', { type: { kind: 'string' }, default: 'tessera', defaultDoc: "`'tessera'`", doc: 'The `iss` claim, pinned at verify time.' }),
  option('audience', { type: { kind: 'string' }, default: 'tessera', defaultDoc: "`'tessera'`", doc: 'The `aud` claim, pinned at verify time.' }),
  option('ttl', {
    type: { kind: 'duration', min: 1 },
    default: DEFAULT_TTL,
    defaultDoc: '`604800` s (7 days)',
    unit: 'seconds',
    doc: 'Token validity in sliding mode. A genuine token claiming a longer life (`exp - iat` over `ttl` + `clockTolerance`) is `TOKEN_INVALID`, so lowering `ttl` ends the longer tokens already issued.',
  }),
  option('refreshable', {
    type: { kind: 'boolean' },
    default: true,
    defaultDoc: '`true`',
    doc: 'Reissue tokens before they expire. `false`: tokens simply expire, and there is no refresh route.',
  }),
  option('refreshBefore', {
    type: { kind: 'window' },
    default: '20%',
    defaultDoc: "`'20%'`",
    unit: 'seconds',
    doc: "The reissue window: the last share of the lifetime (`'20%'`) or seconds before expiry.",
  }),
  option('mode', {
    type: { kind: 'enum', values: ['sliding', 'pair'] },
    default: 'sliding',
    defaultDoc: "`'sliding'`",
    doc: "`'sliding'`: one token, reissued inside its window. `'pair'`: access + refresh tokens, rotated on every refresh.",
  }),
  option('accessTtl', { type: { kind: 'duration', min: 1 }, default: 300, defaultDoc: '`300` s', unit: 'seconds', doc: 'Pair mode: access-token validity. Longer-lived access tokens are refused, as for `ttl`.' }),
  option('refreshTtl', {
    type: { kind: 'duration', min: 1 },
    derive: get => get('ttl') as number,
    defaultDoc: '`ttl`',
    unit: 'seconds',
    doc: 'Pair mode: refresh-token validity (each refresh issues a new one with this lifetime). Not shorter than `accessTtl`. Longer-lived refresh tokens are refused, as for `ttl`.',
  }),
  option('refreshReuse', {
    type: { kind: 'group', off: true },
    defaultDoc: 'on',
    doc: 'Pair mode: how an honest client may present a just-rotated refresh token again (concurrent tabs); `false` = never. Any other reuse revokes the whole family: `REFRESH_REUSED`.',
  }),
  option('refreshReuse.maxReuse', {
    type: { kind: 'integer', min: 0, max: 1000 },
    default: 1000,
    defaultDoc: '`1000`',
    doc: 'How many times a rotated-out refresh token may be presented again within the grace (each time it gets the family\'s current head). Default `1000`: no limit for an honest browser burst; set it lower to cap replays.',
  }),
  option('refreshReuse.graceSeconds', {
    type: { kind: 'integer', min: 0, max: 3600 },
    default: 10,
    defaultDoc: '`10` s',
    unit: 'seconds',
    doc: 'For how long after its rotation a rotated-out refresh token still gets the current head (however many generations behind), inclusive; afterwards it is reuse. `0`: no grace at all, even in the same second.',
  }),
  option('idleTimeout', {
    type: { kind: 'duration', min: 1, off: true },
    default: false,
    defaultDoc: 'off',
    unit: 'seconds',
    doc: 'End a session unused for this long (`SESSION_ENDED`).',
  }),
  option('absoluteTimeout', {
    type: { kind: 'duration', min: 1, off: true },
    default: false,
    defaultDoc: 'off',
    unit: 'seconds',
    doc: 'End a session this long after login however active; refresh never extends it.',
  }),
  option('maxSessionsPerUser', {
    type: { kind: 'integer', min: 1, max: 100_000, off: true },
    default: false,
    defaultDoc: 'off',
    doc: "At most this many live sessions per user (and tenant): a login beyond it ends the user's oldest sessions (`SESSION_ENDED` on their next request) so that exactly this many remain. API tokens do not count. `false`: no cap.",
  }),
  option('touchInterval', {
    type: { kind: 'duration', min: 0 },
    derive: get => {
      const idle = get('idleTimeout') as number;
      return idle > 0 ? Math.max(1, Math.min(60, Math.floor(idle / 10))) : 60;
    },
    defaultDoc: '`min(60, idleTimeout/10)` s, at least 1',
    unit: 'seconds',
    doc: 'Least time between two `lastSeenAt` writes of one session, so a busy session does not write on every request. The idle timeout is enforced to within this bound (a session can end up to `touchInterval` early, never late).',
  }),
  option('bindClientIp', {
    type: { kind: 'enum', values: ['exact', 'subnet'], off: true },
    default: false,
    defaultDoc: '`false`',
    doc: "`'exact'` or `'subnet'` (IPv4 /24, IPv6 /64): a session used from another address gets `BINDING_MISMATCH`. Uses the framework's trust-proxy-aware IP. Each session remembers how it was bound, so changing the setting later neither unbinds nor invalidates existing sessions.",
  }),
  option('freshAge', {
    type: { kind: 'duration', min: 0 },
    default: 600,
    defaultDoc: '`600` s (10 minutes)',
    unit: 'seconds',
    doc: "How recent a login `requireFresh()` accepts: older sessions get 401 `REAUTH_REQUIRED` on guarded routes (change password, delete account). API tokens never count as fresh (403 `FORBIDDEN`).",
  }),
  option('trustProxy', {
    type: { kind: 'trustProxy' },
    defaultDoc: "the framework's setting",
    doc: "Which proxies' `X-Forwarded-For` / `X-Forwarded-Proto` to believe for the client address (IP binding, events) and HTTPS (`cookie.secure: 'auto'`): `true` (every hop), a hop count, or addresses and subnets (`['10.0.0.0/8', 'loopback']`; from the environment, comma-separated). Unset: the framework's own client address (Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`).",
  }),
  option('loginThrottle', {
    type: { kind: 'rate' },
    default: '10/15m',
    defaultDoc: "`'10/15m'`",
    doc: "Failed logins allowed per user in a window (`'10/15m'`: 10 per 15 minutes); beyond, the login route answers 429 `TOO_MANY_ATTEMPTS` with `Retry-After` until the window ends, before any password check, the same for unknown users. Each address is allowed 10 times as many failures (over all usernames), so one user's lockout never locks out the others behind that address. Successful logins never count. Counted in the store (`hit`), so a cluster shares the counts. `false`: off.",
  }),
  option('refreshThrottle', {
    type: { kind: 'rate' },
    default: '100/15m',
    defaultDoc: "`'100/15m'`",
    doc: "Pair mode: refresh tokens that fail verification or name no record allowed per address in a window; beyond, such tokens get 429 `TOO_MANY_ATTEMPTS` with `Retry-After`. Genuine refresh tokens (even expired, revoked or reused ones) never count and are never refused by it. `false`: off.",
  }),
  ...COOKIE_OPTIONS,
  option('tokenInLoginBody', {
    type: { kind: 'boolean' },
    default: false,
    defaultDoc: '`false`',
    doc: 'Also return the token(s) in the login/refresh JSON, for non-browser clients (`Authorization: Bearer`). Pair mode then accepts `{ "refreshToken" }` in the refresh body.',
  }),
  option('bearerSessions', {
    type: { kind: 'boolean' },
    default: true,
    defaultDoc: '`true`',
    doc: 'Accept session (pair mode: access) tokens from `Authorization: Bearer` as well as from the cookie. `false`: cookie only; a session token sent as Bearer is 401 `TOKEN_INVALID` (cookies untouched), even beside a good cookie. API tokens (`tsr_…`) are always accepted as Bearer.',
  }),
  option('jobs', {
    type: { kind: 'group', off: true },
    defaultDoc: 'on',
    doc: 'Job tokens (`tsj_…`, see Job tokens): `POST <routes.prefix>/jobs` and `DELETE <routes.prefix>/jobs/:jobId`, and `createJobToken()`. `false`: no job routes, and job tokens already issued are refused (`TOKEN_INVALID`).',
  }),
  option('jobs.ttl', {
    type: { kind: 'duration', min: 1 },
    default: 86400,
    defaultDoc: '`86400` s (24 hours)',
    unit: 'seconds',
    doc: 'Lifetime of a job token created without a `ttl`. Not longer than `jobs.maxTtl`.',
  }),
  option('jobs.maxTtl', {
    type: { kind: 'duration', min: 1 },
    default: 604800,
    defaultDoc: '`604800` s (7 days)',
    unit: 'seconds',
    doc: 'Longest lifetime a job token may be given; a longer `ttl` is 400 `BAD_REQUEST` (a TypeError from `createJobToken()`).',
  }),
  option('clockTolerance', {
    type: { kind: 'duration', min: 0 },
    default: 5,
    defaultDoc: '`5` s',
    unit: 'seconds',
    doc: 'Clock skew accepted on `exp`/`iat` (servers of a cluster). `0` is allowed.',
  }),
  option('store', {
    type: { kind: 'store', methods: ['get', 'put', 'touch', 'rotate', 'revoke', 'list', 'purgeExpired', 'close'] },
    defaultDoc: 'file store in `./.tessera`',
    env: false,
    doc: 'A `TokenStore` (see Stores). `createTessera()` from `@tessera/core` needs one given (e.g. `new MemoryStore()`). From the environment: `TESSERA_STORE`, a store URL (`@tessera/config`).',
  }),
  option('storeTimeout', {
    type: { kind: 'duration', min: 0.001, max: 600, ms: true },
    default: 2,
    defaultDoc: '`2` s',
    unit: 'seconds',
    doc: "A store call taking longer fails the request with 503 `STORE_UNAVAILABLE`. Takes milliseconds too: `'500ms'`.",
  }),
  option('verifyCredentials', {
    type: { kind: 'function' },
    defaultDoc: 'none',
    env: false,
    doc: '`(input, req) => user | null` with `input` = `{ username, password }`. The user needs a string `id` (the token subject); the object is kept in the session record and returned as `session.user`. Or `{ user, credentials }`: credentials (an upstream token, say) are kept only sealed, so they need `safePassword`. Compare passwords in constant time.',
  }),
  option('safePassword', {
    type: { kind: 'secrets', minBytes: 32, minChars: 32 },
    defaultDoc: 'off',
    doc: "Seals the user object and any credentials at rest: records then hold only the user id, beside the user and credentials encrypted (AES-256-GCM) and bound to the record, so a seal changed or moved in the store ends its session (`SESSION_ENDED`). At least 32 characters. A list is a keyring: the first seals, all open. Off: the user object is stored as plain JSON, and credentials are refused. From the environment: comma-separated for a keyring.",
  }),
  option('tenant', {
    type: { kind: 'function' },
    defaultDoc: 'none',
    env: false,
    doc: '`(req) => tenant`: the tenant of a request; bound into every token and record. A token of tenant A is rejected on tenant B (`TOKEN_INVALID`).',
  }),
  option('onEvent', {
    type: { kind: 'function' },
    defaultDoc: 'none',
    env: false,
    doc: '`(event) => void`. Typed events: `issued`, `refreshed`, `rejected` (code + internal reason), `revoked`, `reuse-detected`, `throttled`, `store-error`. Sessions are named by their public id (a hash of the token\'s `sid`, as in session lists), refresh tokens by a hash of their `jti`: never a raw token, token id or secret. A throwing listener never breaks a request.',
  }),
  option('onReject', {
    type: { kind: 'function' },
    defaultDoc: 'none',
    env: false,
    doc: "`({ error, reply, request }) => reply | undefined`: reshape every refusal (guards, routes, admin routes), e.g. a redirect to a login page or an API's own error body. Return undefined to keep the contract reply; cookies the refusal clears are cleared either way. Guards also take their own `onReject`.",
  }),
  option('logger', {
    type: { kind: 'logger' },
    defaultDoc: '`console` (Fastify: `app.log`)',
    env: false,
    doc: 'A pino-compatible `{ info, warn, error }`, or `false`. Logs the store in use and where a generated secret went at start-up, and store failures (at most one line per operation per 10 s). Never a token or a secret.',
  }),
  option('openStore', {
    type: { kind: 'function' },
    defaultDoc: 'none (`@tessera/config`: its `openStore`)',
    env: false,
    doc: '`(url) => store`: opens the store a live switch (`tessera migrate --to URL`) announces, so this server follows it without a restart. `fromEnv()` of `@tessera/config` sets it. Without it, store calls fail with 503 while a switch this server cannot follow is under way.',
  }),
  option('routes', { type: { kind: 'group' }, defaultDoc: '', env: false }),
  option('routes.prefix', {
    type: { kind: 'string' },
    default: '/auth',
    defaultDoc: "`'/auth'`",
    refine: routesPrefix,
    doc: "Where the auth routes live (Fastify registers them there; Koa's `routes()` default; the refresh cookie path).",
  }),
  option('csrf', {
    type: { kind: 'group', off: true },
    defaultDoc: 'on',
    doc: 'Cookie-authenticated unsafe requests (and login) from another origin get 403 `CSRF_FAILED`: `Sec-Fetch-Site` when the browser sends it, else `Origin` against `Host`. `false` to turn off.',
  }),
  option('csrf.trustedOrigins', {
    type: { kind: 'list' },
    default: [],
    defaultDoc: 'none',
    refine: trustedOrigins,
    doc: "Other origins allowed, e.g. `['https://app.example.com']`. From the environment: comma-separated.",
  }),
  option('maxTokenBytes', {
    type: { kind: 'integer', min: 256, max: 65536 },
    default: 4096,
    defaultDoc: '`4096`',
    unit: 'bytes',
    doc: 'Longer tokens are `TOKEN_INVALID` before any parsing.',
  }),
  option('verifiedCacheSize', {
    type: { kind: 'integer', min: 0, max: 10_000_000 },
    default: 10_000,
    defaultDoc: '`10000`',
    doc: 'Tokens whose signature jose verified are remembered (by exact token string) so the signature is not recomputed on every request. Expiry and the store record are still checked on every request. With `safePassword`, opened seals are remembered the same way (by sealed value), so each record version is decrypted once. `0` disables.',
  }),
  option('recordCacheSize', {
    type: { kind: 'integer', min: 0, max: 10_000_000 },
    default: 10_000,
    defaultDoc: '`10000`',
    doc: 'Records kept in this process, for stores that push change notices (file, Redis, PostgreSQL): a request then checks its session without a store round trip, and a change made on any server (logout, revocation, rotation) drops the record everywhere within milliseconds. When notices may be missed (connection lost), the cache is bypassed until they flow again: never stale. `0` disables.',
  }),
  option('recordCacheMaxStale', {
    type: { kind: 'duration', min: 0 },
    default: 0,
    defaultDoc: '`0` (not cached)',
    unit: 'seconds',
    doc: 'For stores without change notices (DynamoDB, custom stores): how old a cached record may be. A revocation made on another server is then seen within this bound. `0`: such stores are read on every request.',
  }),
  option('clock', {
    type: { kind: 'function' },
    default: () => Math.floor(Date.now() / 1000),
    defaultDoc: '`Date.now` in seconds',
    env: false,
    doc: '`() => epoch seconds`, for tests.',
  }),
] as const;

export type OptionPath = (typeof OPTION_TABLE)[number]['path'];
type EntryAt<P extends OptionPath> = Extract<(typeof OPTION_TABLE)[number], { path: P }>;

/**
 * The resolved value at `path`: undefined for an option with no default, or with a derived one
 * that may be undefined (a `derive` returning `any` counts as such: type its result).
 */
export type OptionValue<P extends OptionPath> =
  | KindValue<EntryAt<P>['type']>
  | (EntryAt<P> extends { default: unknown }
      ? never
      : EntryAt<P> extends { derive: (...args: any[]) => infer R }
        ? undefined extends R
          ? undefined
          : never
        : undefined);

export const OPTIONS_BY_PATH: ReadonlyMap<string, OptionEntry> = new Map(OPTION_TABLE.map(e => [e.path, e as OptionEntry]));

/** The entries directly under `group` ('' for the top level). */
export function childrenOf(group: string): OptionEntry[] {
  return (OPTION_TABLE as readonly OptionEntry[]).filter(e =>
    group === '' ? !e.path.includes('.') : e.path.startsWith(group + '.') && !e.path.slice(group.length + 1).includes('.'),
  );
}
