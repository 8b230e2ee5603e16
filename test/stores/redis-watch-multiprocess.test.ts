/**
 * The Redis store's change notices (`watch`: CLIENT TRACKING in broadcasting mode) across
 * processes, and what happens when they may be missed. Process B (a child running the built
 * package, so `tsc -b` runs first) watches a prefix; this process (A) revokes, rotates and touches
 * records under it; B reports every notice with `process.hrtime` (CLOCK_MONOTONIC, one clock for
 * both processes), so the latency from A's write resolving to B's listener firing is measured
 * exactly. Then A kills B's watch connection in Redis (CLIENT KILL ID, the connection found in
 * CLIENT LIST by the name B's watch gave it): state(false), a new connection, state(true), notices
 * again.
 *
 * The in-process cases check the safety nets: a connection that goes silent (a TCP proxy that stops
 * forwarding: only the heartbeat can tell), FLUSHALL, a Redis restart, an ACL user without the
 * rights tracking needs, a client that cannot be duplicated, and that a caller's client is left
 * alone. Those that restart or flush a server use a private redis-server on a free port, never
 * the shared one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { RedisStore } from '@tessera/store-redis';
import { HEARTBEAT_MS, PING_TIMEOUT_MS } from '../../packages/store-redis/src/lib/watch.js';
import { redisAvailable } from '../../packages/testkit/src/services.js';
import { CHANGES, expectNoticeLatency, expectNoticeOfPut, expectOutage, fmtMs, id, latencyRecords, record, recorder, sleep, until, watchers, type WorkerSpec } from '../support/watch-latency.js';

const HOST = '127.0.0.1';
const PORT = 6379;
const REDIS_URL = `redis://${HOST}:${PORT}/0`;
const WATCHES = Symbol.for('tessera.store-redis.watches');

const skip = await redisAvailable(`redis://${HOST}:${PORT}`);
if (skip) console.warn(`SKIPPED: the Redis watch tests need Redis at ${HOST}:${PORT}: ${skip}`);
/** One namespace per run: runs and tests never see each other's keys. */
const RUN = `tessera-watch-mp:${randomBytes(6).toString('hex')}:`;
let n = 0;
const prefix = () => `${RUN}${n++}:`;

/** Child B: watches the prefix; its ready line, and the line it answers `conn` with, carry its watch connection. */
const WORKER: WorkerSpec = {
  dist: fileURLToPath(new URL('../../packages/store-redis/dist/index.js', import.meta.url)),
  store: 'RedisStore',
  argv: ['url', 'prefix'],
  options: '{ url, prefix }',
  prelude: `
const conn = () => {
  const [w] = store[Symbol.for('tessera.store-redis.watches')]();
  return { name: w.name, id: w.clientId };
};`,
  ready: 'conn: conn()',
  commands: { conn: 'out({ conn: conn(), t: now() });' },
};

interface Conn {
  name: string;
  id: number | null;
}

async function adminClient(url = REDIS_URL) {
  const c = createClient({ url });
  c.on('error', () => {});
  await c.connect();
  return c;
}
type Admin = Awaited<ReturnType<typeof adminClient>>;

/** The CLIENT LIST entry of the connection named `name` (fields as key=value), or undefined. */
async function clientEntry(admin: Admin, name: string): Promise<Record<string, string> | undefined> {
  const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
  for (const line of list.split('\n')) {
    const fields = Object.fromEntries(
      line
        .trim()
        .split(' ')
        .map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    if (fields.name === name) return fields;
  }
  return undefined;
}

/** A watch connection as Redis sees it: subscribed, tracking in broadcasting mode, redirected to itself. */
function expectTracking(entry: Record<string, string> | undefined, clientId: number | null): void {
  expect(entry).toBeDefined();
  expect(entry!.id).toBe(String(clientId));
  expect(entry!.redir).toBe(String(clientId));
  expect(entry!.sub).toBe('1');
  for (const flag of ['P', 't', 'B']) expect(entry!.flags).toContain(flag); // pubsub, tracking, BCAST
  expect(entry!.flags).not.toContain('R'); // redirection not broken
}

async function dropRun(admin: Admin): Promise<void> {
  for await (const keys of admin.scanIterator({ MATCH: `${RUN}*`, COUNT: 1000 })) if (keys.length > 0) await admin.del(keys);
}

(skip ? describe.skip : describe)('redis store watch across processes', () => {
  const harness = watchers('tessera-redis-watch-mp-');
  afterAll(async () => {
    harness.cleanup();
    const admin = await adminClient();
    await dropRun(admin);
    await admin.close();
  });

  it(`B sees A's revocations, rotations and touches within 50 ms at p99 (${CHANGES} changes); its watch connection killed in Redis is state(false), then state(true)`, async () => {
    const pfx = prefix();
    const store = new RedisStore({ url: REDIS_URL, prefix: pfx });
    const admin = await adminClient();
    const now = Math.floor(Date.now() / 1000);
    try {
      // Records to change, made before B watches.
      const records = latencyRecords(now);
      for (const r of records.all) await store.put(r);

      const child = await harness.start<{ conn: Conn }>(WORKER, [REDIS_URL, pfx]);
      const conn = child.ready.conn!;
      expect(conn.name).toMatch(/^tessera-watch-\d+-[0-9a-f]+$/);
      expectTracking(await clientEntry(admin, conn.name), conn.id);

      await expectNoticeLatency(store, child, records, now, { title: 'redis store watch (CLIENT TRACKING BCAST)', negative: "B was notified before A's reply was read" });

      // B's watch connection killed in Redis, by its id (found by name: no other connection is touched).
      const { t: tKill, down, up } = await expectOutage(
        child,
        async () => expect(await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(conn.id)])).toBe(1),
        { down: 'state(false) after CLIENT KILL', downMs: 1000, up: 'state(true) once tracking again' },
      );
      expect(down.at - tKill).toBeLessThan(1000);
      console.log(`redis store watch: CLIENT KILL -> state(false) in ${fmtMs(down.at - tKill)}, state(true) ${fmtMs(up.at - down.at)} later`);
      // A new connection, under the same name, tracking again.
      const mark = child.lines.length;
      child.send({ op: 'conn' });
      const again = (await until("B's watch connection", () => child.lines.slice(mark).find(l => l.conn))).conn!;
      expect(again.name).toBe(conn.name);
      expect(again.id).not.toBe(conn.id);
      expectTracking(await clientEntry(admin, conn.name), again.id);
      await expectNoticeOfPut(store, child, now, 'a notice on the new connection');

      expect(await child.exit()).toBe(0);
      await until("B's watch connection gone from CLIENT LIST", async () => (await clientEntry(admin, conn.name)) === undefined, 2000, 5);
    } finally {
      await store.close();
      await admin.close();
    }
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------
// In process: when notices may be missed

type Watches = { name: string; clientId: number | null }[];
const watchesOf = (store: RedisStore): Watches => (store as unknown as Record<symbol, () => Watches>)[WATCHES]!();

/** A TCP proxy to the shared Redis that can stop forwarding (the connections stay open, silent). */
async function silentProxy(): Promise<{ port: number; freeze(on: boolean): void; close(): Promise<void> }> {
  let frozen = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer(a => {
    const b = connect(PORT, HOST);
    for (const s of [a, b]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => (a.destroy(), b.destroy(), sockets.delete(s)));
    }
    a.on('data', d => void (frozen || b.write(d)));
    b.on('data', d => void (frozen || a.write(d)));
  });
  await new Promise<void>(r => server.listen(0, HOST, r));
  return {
    port: (server.address() as { port: number }).port,
    freeze: on => void (frozen = on),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise(r => server.close(r));
    },
  };
}

function redisServerMissing(): string | false {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return `redis-server is not installed (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Redis (apt-get install redis-server) to run the restart, FLUSHALL and ACL cases`;
  return false;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A private redis-server on `port` (no persistence); resolves once it answers. */
async function startServer(port: number): Promise<ChildProcess> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
  await until(`redis-server on ${port} answering`, async () => (await redisAvailable(`redis://${HOST}:${port}`, 500)) === false, 10_000, 5);
  return proc;
}

function stopServer(proc: ChildProcess | undefined): Promise<void> {
  return new Promise(resolve => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });
}

(skip ? describe.skip : describe)('redis store watch: when notices may be missed (shared Redis)', () => {
  const open: RedisStore[] = [];
  const track = (s: RedisStore) => (open.push(s), s);
  afterAll(async () => {
    for (const s of open) await s.close();
    const admin = await adminClient();
    await dropRun(admin);
    await admin.close();
  });
  const now = Math.floor(Date.now() / 1000);

  it('a watch connection that goes silent (no reply, no close) is state(false) by the heartbeat, then state(true) once a connection answers', async () => {
    const proxy = await silentProxy();
    try {
      const pfx = prefix();
      const store = track(new RedisStore({ url: `redis://${HOST}:${proxy.port}/0`, prefix: pfx, connectTimeoutMs: 500 }));
      const writer = track(new RedisStore({ url: REDIS_URL, prefix: pfx }));
      const { notices, states, listener } = recorder();
      await store.watch(listener);
      await sleep(HEARTBEAT_MS + 100); // a heartbeat answered: no false alarm
      expect(states).toEqual([]);
      const t = performance.now();
      proxy.freeze(true);
      const bound = HEARTBEAT_MS + PING_TIMEOUT_MS + 1000;
      await until('state(false) by the heartbeat', () => states.some(s => !s.up), bound, 5);
      expect(states[0]!.at - t).toBeLessThan(bound);
      // While frozen, new connections get no handshake reply: still down.
      await sleep(1000);
      expect(states.map(s => s.up)).toEqual([false]);
      proxy.freeze(false);
      await until('state(true) once a connection answers', () => states.at(-1)?.up === true, 8000, 5);
      const r = record({ id: id('ses'), kind: 'session' }, now);
      const from = notices.length;
      await writer.put(r);
      await until('a notice after reconnecting', () => notices.slice(from).some(x => x.ids?.includes(r.id)), 2000, 5);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it("a caller's client is left alone: the watch runs on a duplicate, which stop() closes", async () => {
    const client = await adminClient();
    try {
      const store = track(new RedisStore({ client, prefix: prefix() }));
      const clientId = Number(await client.sendCommand(['CLIENT', 'ID']));
      const stop = await store.watch(recorder().listener);
      const [w] = watchesOf(store);
      expect(w!.clientId).not.toBe(clientId);
      expectTracking(await clientEntry(client, w!.name), w!.clientId);
      expect(client.isPubSubActive).toBe(false);
      expect(await client.sendCommand(['CLIENT', 'TRACKINGINFO'])).toMatchObject({ flags: ['off'], redirect: -1 });
      await expect(client.ping()).resolves.toBe('PONG');
      await stop();
      await until('the watch connection closed', async () => (await clientEntry(client, w!.name)) === undefined, 2000, 5);
      expect(client.isReady).toBe(true);
    } finally {
      await client.close();
    }
  });

  it('a client without duplicate() rejects watch() with a clear STORE_UNAVAILABLE (the core then does not cache)', async () => {
    const fake = { isOpen: true, isReady: true, sendCommand: async () => 'OK' };
    const store = track(new RedisStore({ client: fake, prefix: prefix() }));
    await expect(store.watch(recorder().listener)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/no duplicate\(\).*connection of their own/) });
  });
});

const noServer = skip || redisServerMissing();
if (noServer && !skip) console.warn(`SKIPPED: ${noServer}`);

(noServer ? describe.skip : describe)('redis store watch: when notices may be missed (private redis-server)', () => {
  let port = 0;
  let server: ChildProcess | undefined;
  const open: RedisStore[] = [];
  const track = (s: RedisStore) => (open.push(s), s);
  afterAll(async () => {
    for (const s of open) await s.close();
    await stopServer(server);
  });
  const now = Math.floor(Date.now() / 1000);
  const url = () => `redis://${HOST}:${port}/0`;

  it('starts a private redis-server', async () => {
    port = await freePort();
    server = await startServer(port);
  });

  it('FLUSHALL is changed(null), without state changes', async () => {
    const store = track(new RedisStore({ url: url(), prefix: prefix() }));
    const { notices, states, listener } = recorder();
    await store.watch(listener);
    const admin = await adminClient(url());
    try {
      await admin.sendCommand(['FLUSHALL']);
    } finally {
      await admin.close();
    }
    await until('changed(null)', () => notices.some(x => x.ids === null), 2000, 5);
    expect(states).toEqual([]);
  });

  it('a Redis restart is state(false) at once, then state(true) once it is back, and notices flow', async () => {
    const pfx = prefix();
    const store = track(new RedisStore({ url: url(), prefix: pfx }));
    const { notices, states, listener } = recorder();
    await store.watch(listener);
    const t = performance.now();
    await stopServer(server);
    await until('state(false)', () => states.some(s => !s.up), 1000, 5);
    expect(states[0]!.at - t).toBeLessThan(1000);
    await sleep(300);
    server = await startServer(port);
    await until('state(true)', () => states.at(-1)?.up === true, 8000, 5);
    expect(states.map(s => s.up)).toEqual([false, true]);
    const writer = track(new RedisStore({ url: url(), prefix: pfx }));
    const r = record({ id: id('ses'), kind: 'session' }, now);
    const from = notices.length;
    await writer.put(r);
    await until('a notice after the restart', () => notices.slice(from).some(x => x.ids?.includes(r.id)), 2000, 5);
  }, 20_000);

  it('an ACL user without the rights tracking needs: watch() rejects with what to grant, never the password', async () => {
    const admin = await adminClient(url());
    const user = `watch-${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(12).toString('hex')}`;
    try {
      // Commands and keys, but no pub/sub channel (the default for new users in Redis 7).
      await admin.sendCommand(['ACL', 'SETUSER', user, 'on', `>${password}`, '~*', '+@all', 'resetchannels']);
      const store = track(new RedisStore({ url: `redis://${user}:${password}@${HOST}:${port}/0`, prefix: prefix() }));
      await store.put(record({ id: id('ses'), kind: 'session' }, now)); // the store itself works
      const err = (await store.watch(recorder().listener).then(
        () => new Error('watch() resolved'),
        (e: unknown) => e,
      )) as Error & { code?: string };
      expect(err.code).toBe('STORE_UNAVAILABLE');
      expect(err.message).toMatch(/SUBSCRIBE refused: ACL: grant .*\+subscribe &__redis__:invalidate \(NOPERM/);
      expect(err.message).not.toContain(password);
    } finally {
      await admin.sendCommand(['ACL', 'DELUSER', user]);
      await admin.close();
    }
  });
});
