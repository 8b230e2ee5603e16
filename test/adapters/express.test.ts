import express from 'express';
import cookieParser from 'cookie-parser';
import { tessera } from '@tessera/express';
import { defineAdapterSuite, isAdmin, listen, type Mount } from '../../packages/testkit/src/index.js';

const mount: Mount = async (core, setup) => {
  const app = express();
  if (setup.trustProxy) app.set('trust proxy', true);
  if (setup.extras) app.use(cookieParser(), express.json());
  const auth = tessera(core);
  app.use(auth);
  app.use('/auth/admin', auth.adminRoutes({ isAdmin }));
  app.use('/auth', auth.routes());
  app.get('/api/me', auth.requireSession(), (req, res) => void res.json({ user: req.tessera!.user }));
  app.post('/api/data', auth.requireSession(), (_req, res) => void res.json({ ok: true }));
  app.get('/public', (req, res) => void res.json({ user: req.tessera?.user ?? null }));
  return listen(app.listen(0, '127.0.0.1'));
};

defineAdapterSuite('express', mount);
