// Tessera + Fastify demo. Start: PORT=3000 pnpm --filter ./examples/fastify start
import Fastify from 'fastify';
import { tessera } from '@tessera/fastify';
import { needsSetup } from '@tessera/config';
import { loadConfig, page, port, trustProxySetting, verifyCredentials } from '../shared/demo.mjs';

const { options, store, trustProxy } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await store.setup(); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

const app = Fastify({ trustProxy: trustProxySetting(trustProxy) ?? false });
await app.register(tessera, { ...options, verifyCredentials }); // request.tessera; routes under /auth
app.get('/api/me', { onRequest: app.tessera.requireSession() }, async request => ({ user: request.tessera.user }));
app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page('Fastify')));
app.addHook('onClose', async () => app.tessera.core.close());

const address = await app.listen({ port: port(), host: process.env.HOST ?? '::' });
console.log(`Tessera Fastify demo on ${address}`);
const stop = () => app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
