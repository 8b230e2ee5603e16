/**
 * @tessera/fastify: `await app.register(tessera, options)` (fastify-plugin, so the decorations
 * reach the whole app) sets `request.tessera` in an onRequest hook, serves the auth routes
 * under `routes.prefix` (default /auth) and decorates `app.tessera.requireSession()`.
 * Works with or without @fastify/cookie.
 */
import { adapterKit, type AdminRouteOptions, type AuthResult, type HttpReply, type RouteName, type Tessera } from '@tessera/core/adapter';
import type { TesseraOptions } from '@tessera/core';
import { defaultStore } from '@tessera/store-file';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { appendCookies, send, toRequest } from './adapt.js';
import { kResult, resultOf, setResult, type GuardOptions, type TesseraDecorator } from './augment.js';

export type { Session, TesseraOptions, Tessera } from '@tessera/core';
export type { FreshOptions, GuardOptions, TesseraDecorator } from './augment.js';
export type { Credentials, IssueOptions, Rejection, User } from '@tessera/core';

export type TesseraFastifyOptions = TesseraOptions & {
  /** Share an existing createTessera() instance instead of passing options. */
  instance?: Tessera;
  /** Set false to register no routes (use the core's `route` yourself). */
  registerRoutes?: boolean;
  /** Register the optional administration routes under `admin.prefix` (default `<routes.prefix>/admin`). */
  admin?: AdminRouteOptions & { prefix?: string };
};

const METHODS: Record<RouteName, 'GET' | 'POST' | 'DELETE'> = { login: 'POST', refresh: 'POST', logout: 'POST', session: 'GET', jwks: 'GET', createJob: 'POST', revokeJob: 'DELETE' };
/** Routes not at `/<name>` below the prefix. */
const URLS: Partial<Record<RouteName, string>> = { createJob: '/jobs', revokeJob: '/jobs/:jobId' };
const BODY_LIMIT = 16 * 1024;

/** Bodies reach the core raw, so malformed JSON gets the contract's 400 BAD_REQUEST; framework 4xx errors do too. */
function rawBodies(child: FastifyInstance, badRequest: () => HttpReply): void {
  child.removeAllContentTypeParsers();
  child.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
  child.setErrorHandler((err: { statusCode?: number }, _request, reply) => {
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return send(reply, badRequest());
    throw err;
  });
}

const pass = (_request: FastifyRequest, r: AuthResult): AuthResult => r;

const plugin: FastifyPluginAsync<TesseraFastifyOptions> = async (app: FastifyInstance, opts) => {
  const { instance, registerRoutes = true, admin, ...options } = opts;
  // Fastify's own logger unless the options name one.
  const kit = adapterKit(instance ?? { logger: app.log, ...(options as TesseraOptions) }, defaultStore);
  const badRequest = () => kit.errorReply('BAD_REQUEST');

  /** Records the result on the request and sends any reissued cookie. */
  const settle = (request: FastifyRequest, reply: FastifyReply, r: AuthResult): AuthResult => {
    request.tessera = r.ok ? r.session : null;
    setResult(request, r);
    if (r.ok && r.cookies.length > 0) appendCookies(reply, r.cookies);
    return r;
  };

  app.decorateRequest('tessera', null);
  app.decorateRequest(kResult, null);
  // Callback-style hook: when the result is known without I/O, no promise is created at all.
  app.addHook('onRequest', (request, reply, done) => {
    kit.authenticate(toRequest(request), r => (settle(request, reply, r), done()), err => done(err as Error));
  });

  /** A guard over the request's result: `check` may turn a session into a refusal (freshness). */
  const guard = (options: GuardOptions = {}, check: (request: FastifyRequest, r: AuthResult) => AuthResult = pass) =>
    function tesseraGuard(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
      const prior = resultOf(request);
      if (prior !== undefined && prior.ok && check === pass) return done(); // the common case, without a closure
      const finish = (r0: AuthResult) => {
        const r = check(request, r0);
        if (r.ok) return done();
        if (!options.onReject) return send(reply, kit.replyFor(toRequest(request), r));
        appendCookies(reply, kit.cookiesOf(r.reply));
        options.onReject(request, reply, { error: r.error, reply: r.reply, request: toRequest(request) });
      };
      if (prior) return void finish(prior);
      kit.authenticate(toRequest(request), r => finish(settle(request, reply, r)), err => done(err as Error));
    };

  const decorator: TesseraDecorator = {
    core: kit.core,
    requireSession: options => guard(options),
    requireFresh: (options = {}) => guard(options, (request, r) => kit.fresh(toRequest(request), r, options.maxAge)),
    async issue(request, reply, user, issueOptions) {
      const { session, cookies } = await kit.issue(toRequest(request), user, issueOptions);
      appendCookies(reply, cookies);
      return session;
    },
  };
  app.decorate('tessera', decorator);

  if (admin) {
    const prefix = admin.prefix ?? `${kit.prefix === '/' ? '' : kit.prefix}/admin`;
    await app.register(
      async child => {
        rawBodies(child, badRequest);
        child.route({
          method: ['GET', 'POST', 'DELETE'],
          url: '/*',
          handler: async (request, reply) => {
            const path = '/' + ((request.params as Record<string, string>)['*'] ?? '');
            const r = await kit.admin({ path, req: toRequest(request), prior: resultOf(request), options: admin });
            return r ? send(reply, r) : reply.callNotFound();
          },
        });
      },
      { prefix },
    );
  }

  if (!registerRoutes) return;
  await app.register(
    async child => {
      rawBodies(child, badRequest);
      for (const name of kit.routeNames) {
        child.route({
          method: METHODS[name],
          url: URLS[name] ?? `/${name}`,
          handler: async (request, reply) => send(reply, await kit.route(name, toRequest(request), resultOf(request))),
        });
      }
    },
    { prefix: kit.prefix === '/' ? '' : kit.prefix },
  );
};

export const tessera = fp(plugin, { name: '@tessera/fastify', fastify: '5.x' });
export default tessera;
