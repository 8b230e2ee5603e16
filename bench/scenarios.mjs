/**
 * The scenario list, shared by run.mjs (which runs them) and server.mjs (which serves one).
 *
 * kind:  'bare'    - constant JSON, no auth at all (the ceiling for its framework)
 *        'tessera' - Tessera with the given store
 *        'peer'    - an established session library on the same framework
 *        'noop'    - the bare server with the middleware shape Tessera's scenario mounts (global
 *                    middleware or hook, the /auth routes, the route's guard), each doing nothing:
 *                    what the framework itself charges for that shape, so that Tessera's own work
 *                    is the gap between this and the tessera scenario
 * login: whether the scenario needs a cookie from POST /auth/login before the load run.
 * redis: whether the scenario needs Redis at 127.0.0.1:6379.
 */
export const SCENARIOS = [
  { name: 'bare-express', framework: 'express', kind: 'bare', login: false },
  { name: 'noop-express', framework: 'express', kind: 'noop', login: false },
  { name: 'tessera-express-memory', framework: 'express', kind: 'tessera', store: 'memory', login: true },
  { name: 'tessera-express-file', framework: 'express', kind: 'tessera', store: 'file', login: true },
  { name: 'express-session', framework: 'express', kind: 'peer', store: 'memory', login: true },
  { name: 'tessera-express-redis', framework: 'express', kind: 'tessera', store: 'redis', login: true, redis: true },
  { name: 'express-session-connect-redis', framework: 'express', kind: 'peer', store: 'redis', login: true, redis: true },

  { name: 'bare-koa', framework: 'koa', kind: 'bare', login: false },
  { name: 'noop-koa', framework: 'koa', kind: 'noop', login: false },
  { name: 'tessera-koa-memory', framework: 'koa', kind: 'tessera', store: 'memory', login: true },
  { name: 'tessera-koa-file', framework: 'koa', kind: 'tessera', store: 'file', login: true },
  { name: 'koa-session', framework: 'koa', kind: 'peer', store: 'cookie', login: true },

  { name: 'bare-fastify', framework: 'fastify', kind: 'bare', login: false },
  { name: 'noop-fastify', framework: 'fastify', kind: 'noop', login: false },
  { name: 'tessera-fastify-memory', framework: 'fastify', kind: 'tessera', store: 'memory', login: true },
  { name: 'tessera-fastify-file', framework: 'fastify', kind: 'tessera', store: 'file', login: true },
  { name: 'fastify-session', framework: 'fastify', kind: 'peer', store: 'memory', login: true },
  { name: 'fastify-secure-session', framework: 'fastify', kind: 'peer', store: 'cookie', login: true },
];

export const FRAMEWORKS = ['express', 'koa', 'fastify'];

/** Credentials every scenario's login route accepts (and nothing else). */
export const CREDENTIALS = { username: 'alice', password: 'wonderland' };
export const USER = { id: 'alice' };

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * A Redis key prefix unique to this process and run, under a namespace of its own
 * (`benchrun:`), so no other user of the shared Redis (tests, other benches) matches it with
 * a wildcard, and our clean-up never touches their keys.
 */
export function redisPrefix(kind) {
  return `benchrun:${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}:${kind}:`;
}

/** Everything this bench talks to must be on this machine: refuse anything but loopback. */
export function assertLoopback(url) {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new Error(`refusing non-loopback address ${host} (the bench only targets 127.0.0.1)`);
  }
  return url;
}

export function findScenario(name) {
  return SCENARIOS.find(s => s.name === name);
}
