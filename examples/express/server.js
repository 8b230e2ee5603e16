// Tessera + Express demo. Start: PORT=3000 pnpm --filter ./examples/express start
import express from 'express';
import { tessera } from '@tessera/express';
import { needsSetup } from '@tessera/config';
import { loadConfig, page, port, trustProxySetting, verifyCredentials } from '../shared/demo.mjs';

const { options, store, trustProxy } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await store.setup(); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

const app = express();
if (trustProxy !== undefined) app.set('trust proxy', trustProxySetting(trustProxy));

const auth = tessera({ ...options, verifyCredentials });
app.use(auth); // req.tessera on every request (null when anonymous)
app.use('/auth', auth.routes()); // POST login, refresh, logout; GET session
app.get('/api/me', auth.requireSession(), (req, res) => res.json({ user: req.tessera.user }));
app.get('/', (_req, res) => res.type('html').send(page('Express')));

const server = app.listen(port(), () => console.log(`Tessera Express demo on http://localhost:${server.address().port}`));
const stop = () => server.close(() => auth.core.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
