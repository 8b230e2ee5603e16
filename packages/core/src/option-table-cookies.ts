/** The cookie rows of the option declaration (`cookie.*`, `refreshCookie.*`); option-table.ts holds the rest. */
import { cookieDomain, cookieName, cookiePath } from './lib/option-refine.js';
import { option } from './lib/option-types.js';

const SAME_SITE = { kind: 'enum', values: ['lax', 'strict', 'none'], anyCase: true } as const;
const PERSISTENCE = { kind: 'enum', values: ['persistent', 'session'] } as const;

export const COOKIE_OPTIONS = [
  option('cookie', { type: { kind: 'group' }, defaultDoc: '', env: false }),
  option('cookie.name', {
    type: { kind: 'string' },
    default: 'tessera',
    defaultDoc: "`'tessera'`",
    refine: cookieName,
    doc: 'The session cookie (the access token in pair mode). Two apps on one host share cookies (cookies ignore ports): give each its own name. In production use a `__Host-` name, e.g. `__Host-session`.',
  }),
  option('cookie.httpOnly', { type: { kind: 'boolean' }, default: true, defaultDoc: '`true`', doc: 'Keep the cookie away from page scripts.' }),
  option('cookie.secure', {
    type: { kind: 'booleanOrAuto' },
    default: 'auto',
    defaultDoc: "`'auto'`",
    doc: "`'auto'`: Secure when the request is HTTPS as the framework sees it (honours Express `trust proxy`, Koa `app.proxy`, Fastify `trustProxy`).",
  }),
  option('cookie.sameSite', {
    type: SAME_SITE,
    default: 'lax',
    defaultDoc: "`'lax'`",
    doc: "`'lax'`, `'strict'` or `'none'` (requires `secure: true`).",
  }),
  option('cookie.path', { type: { kind: 'string' }, default: '/', defaultDoc: "`'/'`", refine: cookiePath, doc: 'The cookie `Path`.' }),
  option('cookie.domain', { type: { kind: 'string' }, defaultDoc: 'none', refine: cookieDomain, doc: 'The cookie `Domain`; host-only cookie by default.' }),
  option('cookie.persistence', {
    type: PERSISTENCE,
    default: 'persistent',
    defaultDoc: "`'persistent'`",
    doc: "`'persistent'` sets Max-Age/Expires from the token (pair mode: session) lifetime; `'session'` sets neither, so the cookie ends with the browser.",
  }),
  option('refreshCookie', {
    type: { kind: 'group' },
    defaultDoc: 'see below',
    env: false,
    doc: 'Pair mode: the refresh-token cookie. Always HttpOnly, Secure as `cookie.secure`.',
  }),
  option('refreshCookie.name', {
    type: { kind: 'string' },
    derive: get => {
      const base = get('cookie.name') as string;
      const hostOnly = get('refreshCookie.path') === '/' && get('refreshCookie.domain') === undefined;
      return base.replace(/^__Host-/, hostOnly ? '__Host-' : '__Secure-') + '-refresh';
    },
    defaultDoc: "`cookie.name` + `'-refresh'`",
    refine: cookieName,
    doc: 'A `__Host-` access cookie name becomes `__Secure-…-refresh` when the refresh cookie cannot be host-only (path other than `/`, or a domain).',
  }),
  option('refreshCookie.path', {
    type: { kind: 'string' },
    derive: get => get('routes.prefix') as string,
    defaultDoc: '`routes.prefix`',
    refine: cookiePath,
    doc: "So the refresh token only travels to the auth routes; set `'/'` for transparent refresh.",
  }),
  option('refreshCookie.domain', {
    type: { kind: 'string' },
    derive: get => get('cookie.domain') as string | undefined,
    defaultDoc: '`cookie.domain`',
    refine: cookieDomain,
    doc: 'The refresh cookie `Domain`.',
  }),
  option('refreshCookie.sameSite', {
    type: SAME_SITE,
    derive: get => get('cookie.sameSite') as string,
    defaultDoc: '`cookie.sameSite`',
    doc: "`'lax'`, `'strict'` or `'none'` (requires `cookie.secure: true`).",
  }),
  option('refreshCookie.persistence', {
    type: PERSISTENCE,
    derive: get => get('cookie.persistence') as string,
    defaultDoc: '`cookie.persistence`',
    doc: 'As `cookie.persistence`, for the refresh cookie.',
  }),
] as const;
