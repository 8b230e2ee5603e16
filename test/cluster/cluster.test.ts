/**
 * Two server processes sharing one store and no configured secret (so the auto-generated secret
 * must be shared through the store): a token issued by one is accepted by the other, and a logout
 * on one is rejected on the other, whose record cache held the session, within the 50 ms the
 * change notices promise (at once for stores without them). Express and Fastify example apps,
 * started from their built code with TESSERA_STORE picking the store; a Redis Cluster of three
 * masters is started for its target (test/support/redis-cluster.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { postgresAvailable, redisAvailable } from '../../packages/testkit/src/services.js';
import { startServer, stop } from '../support/example-server.js';
import { HOST, missingBinary, startCluster, type TestCluster } from '../support/redis-cluster.js';

interface Target {
  name: string;
  skip: () => Promise<string | false>;
  env: () => Promise<Record<string, string>>;
  cleanup?: () => Promise<void>;
}

const runId = randomBytes(4).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
let dynalite: { close(cb: () => void): void } | undefined;
let redisCluster: TestCluster | undefined;

const targets: Target[] = [
  { name: 'file store (shared directory)', skip: async () => false, env: async () => ({ TESSERA_STORE: `file:${join(tmp, 'shared')}` }) },
  { name: 'redis', skip: () => redisAvailable(), env: async () => ({ TESSERA_STORE: `redis://127.0.0.1:6379?prefix=tessera-cluster-${runId}:` }) },
  {
    name: 'redis cluster',
    skip: async () => missingBinary(),
    env: async () => {
      redisCluster = await startCluster();
      return { TESSERA_STORE: `redis+cluster://${redisCluster.ports.map(p => `${HOST}:${p}`).join(',')}/?prefix=tessera-cluster-${runId}:` };
    },
    cleanup: async () => redisCluster?.stop(),
  },
  { name: 'postgres', skip: () => postgresAvailable(), env: async () => ({ TESSERA_STORE: `postgres://postgres@127.0.0.1:5432/test?table=tessera_cluster_${runId}` }) },
  {
    name: 'dynamodb (dynalite)',
    skip: async () => false,
    env: async () => {
      const pkg = 'dynalite';
      const { default: make } = (await import(pkg)) as unknown as { default: (o: object) => { listen(p: number, h: string, cb: () => void): void; address(): { port: number }; close(cb: () => void): void } };
      const server = make({ createTableMs: 0 });
      await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
      dynalite = server;
      return {
        TESSERA_STORE: `dynamodb://tessera_cluster_${runId}?region=us-east-1&endpoint=${encodeURIComponent(`http://127.0.0.1:${server.address().port}`)}`,
        AWS_ACCESS_KEY_ID: 'local',
        AWS_SECRET_ACCESS_KEY: 'local',
      };
    },
    cleanup: async () => new Promise<void>(r => (dynalite ? dynalite.close(() => r()) : r())),
  },
];

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

for (const target of targets) {
  describe(`cluster of two servers sharing the ${target.name}`, () => {
    let a: { url: string; child: ChildProcess } | undefined;
    let b: { url: string; child: ChildProcess } | undefined;
    let skipped: string | false = false;

    beforeAll(async () => {
      skipped = await target.skip();
      if (skipped) {
        if (process.env.CI) throw new Error(`${target.name} is required under CI: ${skipped}`);
        console.warn(`SKIPPED cluster test on ${target.name}: ${skipped}`);
        return;
      }
      const env = await target.env();
      a = await startServer('express', { ...env, TESSERA_COOKIE_NAME: 'sid' });
      b = await startServer('fastify', { ...env, TESSERA_COOKIE_NAME: 'sid' }); // started after A: A created the schema and the secret
    }, 60_000);

    afterAll(async () => {
      await stop(a?.child);
      await stop(b?.child);
      await target.cleanup?.();
    });

    it('a token issued by one server is accepted by the other; a logout on one is rejected on the other (within 50 ms)', async () => {
      if (skipped) return;
      const login = await request(a!.url).post('/auth/login').send({ username: 'alice', password: 'wonderland' });
      expect(login.status).toBe(200);
      const cookie = (login.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
      expect(cookie.startsWith('sid=')).toBe(true);
      const onB = await request(b!.url).get('/api/me').set('Cookie', cookie);
      expect(onB.status).toBe(200);
      expect(onB.body.user.id).toBe('alice');
      expect((await request(a!.url).get('/api/me').set('Cookie', cookie)).status).toBe(200); // A's record cache holds it now (where A has one)
      const out = await request(b!.url).post('/auth/logout').set('Cookie', cookie);
      expect(out.status).toBe(204);
      // Change notices reach A within milliseconds, and usually before B's reply: asked again only within the 50 ms they promise.
      const t0 = performance.now();
      let onA = await request(a!.url).get('/api/me').set('Cookie', cookie);
      while (onA.status === 200 && performance.now() - t0 < 50) onA = await request(a!.url).get('/api/me').set('Cookie', cookie);
      expect(onA.status).toBe(401);
      expect(onA.body.error.code).toBe('SESSION_ENDED');
    }, 30_000);
  });
}
