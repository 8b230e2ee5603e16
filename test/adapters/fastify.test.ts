import Fastify, { type FastifyError } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import { tessera } from '@tessera/fastify';
import { BASIC_LOGIN_FAILED, basicIssueOptions, basicLogin, credentialsDigest, defineAdapterSuite, isAdmin, type Mount } from '../../packages/testkit/src/index.js';

const mount: Mount = async (core, setup) => {
  const app = Fastify({ trustProxy: setup.trustProxy ?? false });
  if (setup.extras) await app.register(fastifyCookie);
  await app.register(tessera, { instance: core, admin: { isAdmin } });
  app.setErrorHandler((err: FastifyError & { status?: number }, _request, reply) =>
    reply.code(err.status ?? 500).send({ error: { code: err.code, message: err.message } }),
  );
  app.post('/auth/basic', async (request, reply) => {
    const user = basicLogin(request.headers.authorization);
    if (user === null) return reply.code(401).send(BASIC_LOGIN_FAILED);
    const token = request.headers['x-upstream-token'];
    await app.tessera.issue(request, reply, user, basicIssueOptions(typeof token === 'string' ? token : undefined));
    return { user };
  });
  app.get('/api/me', { onRequest: app.tessera.requireSession() }, async request => ({ user: request.tessera!.user }));
  app.get('/api/credentials', { onRequest: app.tessera.requireSession() }, async request => ({ digest: credentialsDigest(request.tessera!) }));
  app.post('/api/data', { onRequest: app.tessera.requireSession() }, async () => ({ ok: true }));
  app.post('/api/sensitive', { onRequest: app.tessera.requireFresh() }, async () => ({ ok: true }));
  app.get(
    '/page',
    { onRequest: app.tessera.requireSession({ onReject: (_request, reply, rejection) => void reply.redirect(`/login?reason=${rejection.error.code}`, 302) }) },
    async request => ({ user: request.tessera!.user }),
  );
  app.get('/public', async request => ({ user: request.tessera?.user ?? null }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
};

defineAdapterSuite('fastify', mount);
