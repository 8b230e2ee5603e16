/**
 * @tessera/fastify: `await app.register(tessera, options)` (fastify-plugin, so the decorations
 * reach the whole app) sets `request.tessera` in an onRequest hook, serves the auth routes
 * under `routes.prefix` (default /auth) and decorates `app.tessera.requireSession()`.
 * Works with or without @fastify/cookie.
 */
import { adminRoute, createTessera, isTessera, type AdminRouteOptions, type AuthResult, type RouteName, type Tessera, type TesseraOptions } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { send, toRequest, toResponse } from './adapt.js';
import { results, type TesseraDecorator } from './augment.js';

export type { Session, TesseraOptions, Tessera } from '@tessera/core';
export type { TesseraDecorator } from './augment.js';

export type TesseraFastifyOptions = TesseraOptions & {
  /** Share an existing createTessera() instance instead of passing options. */
  instance?: Tessera;
  /** Set false to register no routes (use the core's `route` yourself). */
  registerRoutes?: boolean;
  /** Register the optional administration routes under `admin.prefix` (default `<routes.prefix>/admin`). */
  admin?: AdminRouteOptions & { prefix?: string };
};

const METHODS: Record<RouteName, 'GET' | 'POST'> = { login: 'POST', refresh: 'POST', logout: 'POST', session: 'GET' };
const BODY_LIMIT = 16 * 1024;

const plugin: FastifyPluginAsync<TesseraFastifyOptions> = async (app: FastifyInstance, opts) => {
  const { instance, registerRoutes = true, admin, ...options } = opts;
  const core: Tessera = instance && isTessera(instance) ? instance : createTessera(options as TesseraOptions, { defaultStore: () => new FileStore() });

  const authenticate = async (request: FastifyRequest, reply: FastifyReply): Promise<AuthResult> =>
    attach(request, await core.authenticate(toRequest(request), toResponse(reply)));

  const attach = (request: FastifyRequest, r: AuthResult): AuthResult => {
    request.tessera = r.ok ? r.session : null;
    results.set(request, r);
    return r;
  };

  app.decorateRequest('tessera', null);
  // Callback-style hook: when the result is known without I/O, no promise is created at all.
  app.addHook('onRequest', (request, reply, done) => {
    const r = core.authenticateFast(toRequest(request), toResponse(reply));
    if (r instanceof Promise) {
      r.then(v => {
        attach(request, v);
        done();
      }, done);
    } else {
      attach(request, r);
      done();
    }
  });

  const decorator: TesseraDecorator = {
    core,
    requireSession: () =>
      function requireSession(request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) {
        const r = results.get(request);
        if (r === undefined) {
          authenticate(request, reply).then(v => (v.ok ? done() : send(reply, v.reply)), done);
        } else if (r.ok) done();
        else send(reply, r.reply);
      },
  };
  app.decorate('tessera', decorator);

  if (admin) {
    const prefix = admin.prefix ?? `${core.options.prefix === '/' ? '' : core.options.prefix}/admin`;
    await app.register(
      async child => {
        child.removeAllContentTypeParsers();
        child.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
        child.route({
          method: ['GET', 'POST', 'DELETE'],
          url: '/*',
          handler: async (request, reply) => {
            const rel = '/' + ((request.params as Record<string, string>)['*'] ?? '');
            const r = await adminRoute(core, request.method, rel, toRequest(request), toResponse(reply), results.get(request), admin);
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
      // Bodies reach the core raw, so malformed JSON gets the contract's 400 BAD_REQUEST.
      child.removeAllContentTypeParsers();
      child.addContentTypeParser('*', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, body, done) => done(null, body));
      child.setErrorHandler((err: { statusCode?: number }, _request, reply) => {
        if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return send(reply, core.errorReply('BAD_REQUEST'));
        throw err;
      });
      for (const name of core.routeNames) {
        child.route({
          method: METHODS[name],
          url: `/${name}`,
          handler: async (request, reply) => send(reply, await core.route(name, toRequest(request), toResponse(reply), results.get(request))),
        });
      }
    },
    { prefix: core.options.prefix === '/' ? '' : core.options.prefix },
  );
};

export const tessera = fp(plugin, { name: '@tessera/fastify', fastify: '5.x' });
export default tessera;
