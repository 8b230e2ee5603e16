// Tessera + Express demo. Start: PORT=3000 pnpm --filter ./examples/express start
import express from 'express';
import { tessera } from '@tessera/express';
import { needsSetup } from '@tessera/config';
import { CLIENT_SCRIPT, LOGIN_FAILED, basicUser, errorReply, fail, isAdmin, loadConfig, page, port, startup, verifyCredentials } from '../shared/demo.mjs';

const { options, store } = await loadConfig(); // TESSERA_* variables; TESSERA_STORE picks the store (default file:.tessera)
if (needsSetup(store)) await startup(() => store.setup()); // PostgreSQL / DynamoDB: explicit, idempotent schema creation

const app = express();
// TESSERA_TRUST_PROXY, already parsed (true, a hop count or addresses): Tessera reads it, and so does Express.
if (options.trustProxy !== undefined) app.set('trust proxy', options.trustProxy);

const auth = await startup(() => tessera({ ...options, verifyCredentials }));
// Loads the signing secret (from the store when TESSERA_SECRET is unset): a broken store or
// secret stops start-up here with one line, instead of failing every request later.
await startup(() => auth.core.ready());

app.use(auth); // req.tessera on every request (null when anonymous)
app.use('/auth/admin', auth.adminRoutes({ isAdmin })); // own sessions for everyone; alice may act on anyone's
app.use('/auth', auth.routes()); // POST login, refresh, logout, jobs; GET session; DELETE jobs/:jobId
// A session started by the app's own authentication (here HTTP Basic; an SSO callback works the same way).
app.post('/auth/basic', async (req, res, next) => {
  try {
    const user = await basicUser(req.get('authorization'));
    if (!user) return void res.status(401).set('Cache-Control', 'no-store').json(LOGIN_FAILED);
    await auth.issue(req, res, user);
    res.set('Cache-Control', 'no-store').json({ user });
  } catch (err) {
    next(err);
  }
});
app.get('/api/me', auth.requireSession(), (req, res) => res.json({ user: req.tessera.user }));
// A sensitive action: only for a login younger than freshAge (TESSERA_FRESH_AGE), else 401 REAUTH_REQUIRED.
app.post('/api/sensitive', auth.requireFresh(), (_req, res) => res.json({ ok: true }));
app.get('/', (_req, res) => res.type('html').send(page('Express')));
app.get('/tessera-client.js', (_req, res) => res.type('text/javascript').send(CLIENT_SCRIPT)); // the browser build of @tessera/client
// Last: anything that escaped a route. A bug answers { error: { code: 'INTERNAL' } } 500, never a stack trace.
app.use((err, req, res, _next) => {
  if (res.headersSent) return void req.socket?.destroy();
  const { status, body } = errorReply(err);
  res.status(status).set('Cache-Control', 'no-store').json(body);
});

const server = app.listen(port(), err => {
  if (err) fail('start-up failed', err);
  console.log(`Tessera Express demo on http://localhost:${server.address().port}`);
});
const stop = () => server.close(() => auth.core.close().finally(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
