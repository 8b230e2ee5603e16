import Fastify from 'fastify';
import fastifyCookie from '@fastify/cookie';
import { tessera } from '@tessera/fastify';
import { defineAdapterSuite, isAdmin, type Mount } from '../../packages/testkit/src/index.js';

const mount: Mount = async (core, setup) => {
  const app = Fastify({ trustProxy: setup.trustProxy ?? false });
  if (setup.extras) await app.register(fastifyCookie);
  await app.register(tessera, { instance: core, admin: { isAdmin } });
  app.get('/api/me', { onRequest: app.tessera.requireSession() }, async request => ({ user: request.tessera!.user }));
  app.post('/api/data', { onRequest: app.tessera.requireSession() }, async () => ({ ok: true }));
  app.get('/public', async request => ({ user: request.tessera?.user ?? null }));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
};

defineAdapterSuite('fastify', mount);
