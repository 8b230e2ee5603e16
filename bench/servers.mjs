/**
 * One server factory per scenario. A factory returns `{ start(port) -> Promise<port>, close() }`;
 * server.mjs runs exactly one of them in its own process.
 *
 * Every scenario serves GET /api/me -> 200 {"user":{"id":"alice"}}. All but the bare ones
 * answer 401 without a session and have POST /auth/login (JSON {username,password}) that sets
 * the session cookie. Imports are lazy so a scenario only loads what it uses (and a peer that
 * cannot load is skipped, not fatal).
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CREDENTIALS, REDIS_URL, USER, assertLoopback, redisPrefix } from './scenarios.mjs';

export class SkipError extends Error {}

const HOST = '127.0.0.1';
const SECRET = 'tessera-bench-secret-0123456789-abcdefghijklmnop'; // >= 32 chars, fixed: runs are comparable
const COOKIE = 'sid';

const checkCredentials = ({ username, password } = {}) =>
  username === CREDENTIALS.username && password === CREDENTIALS.password;
const verifyCredentials = async input => (checkCredentials(input) ? { ...USER } : null);

async function load(specifier, what = specifier) {
  try {
    return await import(specifier);
  } catch (err) {
    throw new SkipError(`${what} failed to load: ${firstLine(err)}`);
  }
}

function firstLine(err) {
  return String(err?.message ?? err).split('\n')[0];
}

function listenHttp(handler, port) {
  const server = http.createServer(handler);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

function closeHttp(server) {
  if (!server) return Promise.resolve();
  server.closeAllConnections?.();
  return new Promise(resolve => server.close(() => resolve()));
}

// ---------------------------------------------------------------------------------------------
// Stores

async function fileDir(ctx, name) {
  const dir = join(ctx.tmpDir, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Builds the Tessera store for `kind`; returns { store, cleanup }. */
async function tesseraStore(kind, ctx, name) {
  if (kind === 'memory') {
    const { MemoryStore } = await import('@tessera/core');
    return { store: new MemoryStore(), cleanup: async () => {} };
  }
  if (kind === 'file') {
    const { FileStore } = await import('@tessera/store-file');
    const dir = await fileDir(ctx, name);
    return { store: new FileStore({ dir }), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }
  if (kind === 'redis') {
    const mod = await load('@tessera/store-redis');
    if (typeof mod.RedisStore !== 'function') {
      throw new SkipError('@tessera/store-redis does not export a RedisStore class (yet)');
    }
    const { redisProblem, deleteByPrefix } = await import('./redis-util.mjs');
    const problem = await redisProblem(REDIS_URL);
    if (problem) throw new SkipError(problem);
    const prefix = redisPrefix('tessera');
    let store;
    try {
      store = new mod.RedisStore({ url: assertLoopback(REDIS_URL), prefix });
      if (typeof store.connect === 'function') await store.connect();
    } catch (err) {
      throw new SkipError(`RedisStore could not be created: ${firstLine(err)}`);
    }
    return {
      store,
      cleanup: async () => {
        await store.close().catch(() => {});
        await deleteByPrefix(REDIS_URL, prefix);
      },
    };
  }
  throw new Error(`unknown store ${kind}`);
}

function tesseraOptions(store) {
  return { secret: SECRET, store, verifyCredentials, cookie: { name: COOKIE } };
}

// ---------------------------------------------------------------------------------------------
// Express

async function expressApp() {
  const { default: express } = await import('express');
  return { express, app: express() };
}

function expressServer(app, cleanup = async () => {}) {
  let server;
  return {
    async start(port) {
      server = await listenHttp(app, port);
      return server.address().port;
    },
    async close() {
      await closeHttp(server);
      await cleanup();
    },
  };
}

async function bareExpress() {
  const { app } = await expressApp();
  app.get('/api/me', (req, res) => res.json({ user: USER }));
  return expressServer(app);
}

/** tesseraExpress's shape with nothing in it: a global middleware, a router at /auth, a guard on the route. */
async function noopExpress() {
  const { app } = await expressApp();
  const pass = (req, res, next) => next();
  app.use(pass);
  app.use('/auth', pass);
  app.get('/api/me', pass, (req, res) => res.json({ user: USER }));
  return expressServer(app);
}

async function tesseraExpress(storeKind, ctx, name) {
  const { app } = await expressApp();
  const { tessera } = await import('@tessera/express');
  const { store, cleanup } = await tesseraStore(storeKind, ctx, name);
  const auth = tessera(tesseraOptions(store));
  app.use(auth);
  app.use('/auth', auth.routes());
  app.get('/api/me', auth.requireSession(), (req, res) => res.json({ user: req.tessera.user }));
  return expressServer(app, async () => {
    await auth.core.close?.().catch(() => {});
    await cleanup();
  });
}

async function expressSession(storeKind) {
  const { express, app } = await expressApp();
  const { default: session } = await load('express-session');
  let store;
  let cleanup = async () => {};
  if (storeKind === 'redis') {
    const { RedisStore } = await load('connect-redis');
    if (typeof RedisStore !== 'function') throw new SkipError('connect-redis has no RedisStore export');
    const { redisProblem, connectRedis, closeRedis, deleteByPrefix } = await import('./redis-util.mjs');
    const problem = await redisProblem(REDIS_URL);
    if (problem) throw new SkipError(problem);
    const client = await connectRedis(REDIS_URL, { reconnect: true });
    const prefix = redisPrefix('sess');
    store = new RedisStore({ client, prefix });
    cleanup = async () => {
      await closeRedis(client);
      await deleteByPrefix(REDIS_URL, prefix);
    };
  }
  app.use(
    session({
      name: COOKIE,
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      ...(store ? { store } : {}), // default: express-session's MemoryStore
    }),
  );
  app.post('/auth/login', express.json(), (req, res, next) => {
    if (!checkCredentials(req.body)) return res.status(401).json({ error: 'INVALID_CREDENTIALS' });
    req.session.regenerate(err => {
      if (err) return next(err);
      req.session.user = { ...USER };
      res.json({ user: req.session.user });
    });
  });
  app.get('/api/me', (req, res) => {
    if (!req.session.user) return res.status(401).json({ error: 'UNAUTHENTICATED' });
    res.json({ user: req.session.user });
  });
  return expressServer(app, cleanup);
}

// ---------------------------------------------------------------------------------------------
// Koa

async function koaApp() {
  const { default: Koa } = await import('koa');
  return new Koa();
}

/** Minimal route matcher (no router dependency), used the same way in every Koa scenario. */
function koaRoute(method, path, fn) {
  return (ctx, next) => (ctx.method === method && ctx.path === path ? fn(ctx, next) : next());
}

function koaServer(app, cleanup = async () => {}) {
  let server;
  return {
    async start(port) {
      server = await listenHttp(app.callback(), port);
      return server.address().port;
    },
    async close() {
      await closeHttp(server);
      await cleanup();
    },
  };
}

async function readJson(req, limit = 16 * 1024) {
  let data = '';
  for await (const chunk of req) {
    data += chunk;
    if (data.length > limit) return null;
  }
  try {
    return JSON.parse(data || '{}');
  } catch {
    return null;
  }
}

async function bareKoa() {
  const app = await koaApp();
  app.use(koaRoute('GET', '/api/me', ctx => {
    ctx.body = { user: USER };
  }));
  return koaServer(app);
}

/** tesseraKoa's shape with nothing in it: two global middleware (auth, routes), a guard around the route. */
async function noopKoa() {
  const app = await koaApp();
  const guard = (ctx, next) => next();
  app.use((ctx, next) => next());
  app.use((ctx, next) => next());
  app.use(koaRoute('GET', '/api/me', ctx => guard(ctx, async () => {
    ctx.body = { user: USER };
  })));
  return koaServer(app);
}

async function tesseraKoa(storeKind, ctx0, name) {
  const app = await koaApp();
  const { tessera } = await import('@tessera/koa');
  const { store, cleanup } = await tesseraStore(storeKind, ctx0, name);
  const auth = tessera(tesseraOptions(store));
  const guard = auth.requireSession();
  app.use(auth);
  app.use(auth.routes());
  app.use(koaRoute('GET', '/api/me', ctx => guard(ctx, async () => {
    ctx.body = { user: ctx.state.tessera.user };
  })));
  return koaServer(app, async () => {
    await auth.core.close?.().catch(() => {});
    await cleanup();
  });
}

async function koaSession() {
  const app = await koaApp();
  const { default: session } = await load('koa-session');
  app.keys = [SECRET];
  // Default koa-session: the session lives in a signed cookie (no server-side store).
  app.use(session({ key: COOKIE, signed: true, httpOnly: true, secure: false }, app));
  app.use(koaRoute('POST', '/auth/login', async ctx => {
    const body = await readJson(ctx.req);
    if (!checkCredentials(body ?? {})) {
      ctx.status = 401;
      ctx.body = { error: 'INVALID_CREDENTIALS' };
      return;
    }
    ctx.session.user = { ...USER };
    ctx.body = { user: ctx.session.user };
  }));
  app.use(koaRoute('GET', '/api/me', ctx => {
    const user = ctx.session.user;
    if (!user) {
      ctx.status = 401;
      ctx.body = { error: 'UNAUTHENTICATED' };
      return;
    }
    ctx.body = { user };
  }));
  return koaServer(app);
}

// ---------------------------------------------------------------------------------------------
// Fastify

async function fastifyApp() {
  const { default: Fastify } = await import('fastify');
  return Fastify({ logger: false });
}

function fastifyServer(app, cleanup = async () => {}) {
  return {
    async start(port) {
      await app.listen({ port, host: HOST });
      return app.server.address().port;
    },
    async close() {
      await app.close();
      await cleanup();
    },
  };
}

async function bareFastify() {
  const app = await fastifyApp();
  app.get('/api/me', async () => ({ user: USER }));
  return fastifyServer(app);
}

/**
 * tesseraFastify's shape with nothing in it: a plugin (fastify-plugin) decorating the request with
 * two fields and adding an onRequest hook, routes under /auth, an onRequest guard on the route.
 */
async function noopFastify() {
  const app = await fastifyApp();
  const kResult = Symbol('result');
  const plugin = async instance => {
    instance.decorateRequest('tessera', null);
    instance.decorateRequest(kResult, null);
    instance.addHook('onRequest', (request, reply, done) => done());
    await instance.register(async child => child.post('/login', async () => ({})), { prefix: '/auth' });
  };
  plugin[Symbol.for('skip-override')] = true; // what fastify-plugin marks: the hook reaches the whole app
  await app.register(plugin);
  app.get('/api/me', { onRequest: (request, reply, done) => done() }, async () => ({ user: USER }));
  return fastifyServer(app);
}

async function tesseraFastify(storeKind, ctx, name) {
  const app = await fastifyApp();
  const { tessera } = await import('@tessera/fastify');
  const { store, cleanup } = await tesseraStore(storeKind, ctx, name);
  await app.register(tessera, tesseraOptions(store));
  app.get('/api/me', { onRequest: app.tessera.requireSession() }, async req => ({ user: req.tessera.user }));
  return fastifyServer(app, async () => {
    await app.tessera.core.close?.().catch(() => {});
    await cleanup();
  });
}

async function fastifySession() {
  const app = await fastifyApp();
  const { default: cookie } = await load('@fastify/cookie');
  const { default: session } = await load('@fastify/session');
  await app.register(cookie);
  // Default store: @fastify/session's in-memory MemoryStore.
  await app.register(session, { secret: SECRET, cookieName: COOKIE, cookie: { secure: false }, saveUninitialized: false });
  app.post('/auth/login', async (req, reply) => {
    if (!checkCredentials(req.body ?? {})) return reply.code(401).send({ error: 'INVALID_CREDENTIALS' });
    await req.session.regenerate();
    req.session.user = { ...USER };
    return { user: req.session.user };
  });
  app.get('/api/me', async (req, reply) => {
    const user = req.session.user;
    if (!user) return reply.code(401).send({ error: 'UNAUTHENTICATED' });
    return { user };
  });
  return fastifyServer(app);
}

async function fastifySecureSession() {
  const app = await fastifyApp();
  const mod = await load('@fastify/secure-session', '@fastify/secure-session (needs sodium-native)');
  const plugin = mod.default ?? mod.fastifySecureSession;
  try {
    // Awaiting register loads the plugin now, so a sodium failure surfaces here (routes can still be added).
    await app.register(plugin, { key: randomBytes(32), cookieName: COOKIE, cookie: { path: '/', httpOnly: true } });
  } catch (err) {
    throw new SkipError(`@fastify/secure-session could not start (sodium-native?): ${firstLine(err)}`);
  }
  app.post('/auth/login', async (req, reply) => {
    if (!checkCredentials(req.body ?? {})) return reply.code(401).send({ error: 'INVALID_CREDENTIALS' });
    req.session.set('user', { ...USER });
    return { user: USER };
  });
  app.get('/api/me', async (req, reply) => {
    const user = req.session.get('user');
    if (!user) return reply.code(401).send({ error: 'UNAUTHENTICATED' });
    return { user };
  });
  return fastifyServer(app);
}

// ---------------------------------------------------------------------------------------------

/** name -> async (ctx: { tmpDir }) => { start(port), close() } */
export const FACTORIES = {
  'bare-express': () => bareExpress(),
  'noop-express': () => noopExpress(),
  'tessera-express-memory': ctx => tesseraExpress('memory', ctx, 'tessera-express-memory'),
  'tessera-express-file': ctx => tesseraExpress('file', ctx, 'tessera-express-file'),
  'tessera-express-redis': ctx => tesseraExpress('redis', ctx, 'tessera-express-redis'),
  'express-session': () => expressSession('memory'),
  'express-session-connect-redis': () => expressSession('redis'),

  'bare-koa': () => bareKoa(),
  'noop-koa': () => noopKoa(),
  'tessera-koa-memory': ctx => tesseraKoa('memory', ctx, 'tessera-koa-memory'),
  'tessera-koa-file': ctx => tesseraKoa('file', ctx, 'tessera-koa-file'),
  'koa-session': () => koaSession(),

  'bare-fastify': () => bareFastify(),
  'noop-fastify': () => noopFastify(),
  'tessera-fastify-memory': ctx => tesseraFastify('memory', ctx, 'tessera-fastify-memory'),
  'tessera-fastify-file': ctx => tesseraFastify('file', ctx, 'tessera-fastify-file'),
  'fastify-session': () => fastifySession(),
  'fastify-secure-session': () => fastifySecureSession(),
};
