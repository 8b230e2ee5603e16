import express, { type ErrorRequestHandler } from 'express';
import cookieParser from 'cookie-parser';
import { tessera } from '@tessera/express';
import { BASIC_LOGIN_FAILED, basicIssueOptions, basicLogin, credentialsDigest, defineAdapterSuite, isAdmin, listen, type Mount } from '../../packages/testkit/src/index.js';

const mount: Mount = async (core, setup) => {
  const app = express();
  if (setup.trustProxy) app.set('trust proxy', true);
  if (setup.extras) app.use(cookieParser(), express.json());
  const auth = tessera(core);
  app.use(auth);
  app.post('/auth/basic', async (req, res, next) => {
    const user = basicLogin(req.headers.authorization);
    if (user === null) return void res.status(401).json(BASIC_LOGIN_FAILED);
    try {
      await auth.issue(req, res, user, basicIssueOptions(req.get('x-upstream-token')));
      res.json({ user });
    } catch (err) {
      next(err);
    }
  });
  app.use('/auth/admin', auth.adminRoutes({ isAdmin }));
  app.use('/auth', auth.routes());
  app.get('/api/me', auth.requireSession(), (req, res) => void res.json({ user: req.tessera!.user }));
  app.get('/api/credentials', auth.requireSession(), (req, res) => void res.json({ digest: credentialsDigest(req.tessera!) }));
  app.post('/api/data', auth.requireSession(), (_req, res) => void res.json({ ok: true }));
  app.post('/api/sensitive', auth.requireFresh(), (_req, res) => void res.json({ ok: true }));
  app.get(
    '/page',
    auth.requireSession({ onReject: (_req, res, rejection) => res.redirect(302, `/login?reason=${rejection.error.code}`) }),
    (req, res) => void res.json({ user: req.tessera!.user }),
  );
  app.get('/public', (req, res) => void res.json({ user: req.tessera?.user ?? null }));
  const errors: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(err.status ?? 500).json({ error: { code: err.code, message: err.message } });
  };
  app.use(errors);
  return listen(app.listen(0, '127.0.0.1'));
};

defineAdapterSuite('express', mount);
