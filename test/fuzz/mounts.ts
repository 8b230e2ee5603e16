/**
 * The apps the adapter fuzzers attack, one minimal mount per framework on 127.0.0.1: the tessera
 * middleware, the auth routes under /auth, GET /api/me (guarded, `{ user }`) and GET /public.
 * An error reaching the framework's error handling is answered `err.status ?? 500`, as the
 * conformance mounts do, so anything but a contract refusal shows up as a 5xx.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type ErrorRequestHandler } from 'express';
import Koa from 'koa';
import Fastify, { type FastifyError } from 'fastify';
import type { Tessera } from '@tessera/core';
import { tessera as expressTessera } from '@tessera/express';
import { tessera as koaTessera } from '@tessera/koa';
import { tessera as fastifyTessera } from '@tessera/fastify';

export interface Mounted {
  port: number;
  close(): Promise<void>;
}

export type FuzzMount = (core: Tessera) => Promise<Mounted>;

async function listening(server: Server): Promise<Mounted> {
  if (!server.listening) await new Promise<void>(r => server.once('listening', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>(r => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export const mountExpress: FuzzMount = async core => {
  const app = express();
  const auth = expressTessera(core);
  app.use(auth);
  app.use('/auth', auth.routes());
  app.get('/api/me', auth.requireSession(), (req, res) => void res.json({ user: req.tessera!.user }));
  app.get('/public', (req, res) => void res.json({ user: req.tessera?.user ?? null }));
  const errors: ErrorRequestHandler = (err, _req, res, _next) => {
    res.status(err.status ?? 500).json({ error: { code: err.code, message: err.message } });
  };
  app.use(errors);
  return listening(app.listen(0, '127.0.0.1'));
};

export const mountKoa: FuzzMount = async core => {
  const app = new Koa();
  const auth = koaTessera(core);
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; code?: string; message?: string };
      ctx.status = e.status ?? 500;
      ctx.body = { error: { code: e.code, message: e.message } };
    }
  });
  app.use(auth);
  app.use(auth.routes({ prefix: '/auth' }));
  const guard = auth.requireSession();
  app.use(async (ctx, next) => {
    if (ctx.path === '/api/me' && ctx.method === 'GET') return guard(ctx, async () => void (ctx.body = { user: ctx.state.tessera!.user }));
    if (ctx.path === '/public' && ctx.method === 'GET') return void (ctx.body = { user: ctx.state.tessera?.user ?? null });
    await next();
  });
  return listening(app.listen(0, '127.0.0.1'));
};

export const mountFastify: FuzzMount = async core => {
  const app = Fastify();
  await app.register(fastifyTessera, { instance: core });
  app.setErrorHandler((err: FastifyError & { status?: number }, _request, reply) =>
    reply.code(err.status ?? 500).send({ error: { code: err.code, message: err.message } }),
  );
  app.get('/api/me', { onRequest: app.tessera.requireSession() }, async request => ({ user: request.tessera!.user }));
  app.get('/public', async request => ({ user: request.tessera?.user ?? null }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as AddressInfo).port, close: () => app.close() };
};
