// Tessera + Fastify demo. Start: PORT=3000 pnpm --filter ./examples/fastify start
import Fastify from 'fastify';
import { tessera } from '@tessera/fastify';
import { needsSetup } from '@tessera/config';
import { CLIENT_SCRIPT, LOGIN_FAILED, basicUser, errorReply, isAdmin, loadConfig, page, port, startup, verifyCredentials } from '../shared/demo.mjs';

const { options, store } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await startup(() => store.setup()); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

// TESSERA_TRUST_PROXY, already parsed (true, a hop count or addresses): Tessera reads it, and so does Fastify.
const app = Fastify({ trustProxy: options.trustProxy ?? false });
// Before registering anything, so every plugin's routes fall back to it: a bug answers
// { error: { code: 'INTERNAL' } } 500, never a stack trace or the error's message.
app.setErrorHandler((err, _request, reply) => {
  const { status, body } = errorReply(err);
  return reply.code(status).header('cache-control', 'no-store').send(body);
});
await startup(async () => {
  // request.tessera; routes under /auth; admin routes under /auth/admin (own sessions for everyone; alice may act on anyone's)
  await app.register(tessera, { ...options, verifyCredentials, admin: { isAdmin } });
});
// Loads the signing secret (from the store when TESSERA_SECRET is unset): a broken store or
// secret stops start-up here with one line, instead of failing every request later.
await startup(() => app.tessera.core.ready());
app.get('/api/me', { onRequest: app.tessera.requireSession() }, async request => ({ user: request.tessera.user }));
// A session started by the app's own authentication (here HTTP Basic; an SSO callback works the same way).
app.post('/auth/basic', async (request, reply) => {
  reply.header('cache-control', 'no-store');
  const user = await basicUser(request.headers.authorization);
  if (!user) return reply.code(401).send(LOGIN_FAILED);
  await app.tessera.issue(request, reply, user);
  return { user };
});
// A sensitive action: only for a login younger than freshAge (TESSERA_FRESH_AGE), else 401 REAUTH_REQUIRED.
app.post('/api/sensitive', { onRequest: app.tessera.requireFresh() }, async () => ({ ok: true }));
app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page('Fastify')));
app.get('/tessera-client.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').send(CLIENT_SCRIPT)); // the browser build of @tessera/client
app.addHook('onClose', async () => app.tessera.core.close());

const address = await startup(() => app.listen({ port: port(), host: process.env.HOST ?? '::' }));
console.log(`Tessera Fastify demo on ${address}`);
const stop = () => app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
