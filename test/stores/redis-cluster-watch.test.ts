/**
 * The Redis Cluster store's change notices (`watch`: a tracking connection on every node) across
 * processes, on a 3-master cluster this file starts (test/support/redis-cluster.ts). Process B (a
 * child running the built package) watches; this process (A) revokes, rotates and touches records
 * spread over the masters; the latency from A's write resolving to B's listener is measured
 * (test/support/watch-latency.ts). Then one node's watch connection is killed in Redis: state(false),
 * a new connection, state(true). In-process: a node joining the cluster is down-then-up, and once a
 * slot moves to it, the records written there are notified.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createClient } from 'redis';
import { RedisClusterStore } from '@tessera/store-redis';
import { HOST, missingBinary, startCluster } from '../support/redis-cluster.js';
import { expectNoticeLatency, expectNoticeOfPut, expectOutage, fmtMs, id, latencyRecords, record, recorder, until, watchers, type WorkerSpec } from '../support/watch-latency.js';

const skip = missingBinary();
if (skip && process.env.CI) throw new Error(`the Redis Cluster watch tests are required under CI: ${skip}`);
if (skip) console.warn(`SKIPPED: the Redis Cluster watch tests: ${skip}`);
const cluster = skip ? undefined : await startCluster();
const ports = cluster?.ports ?? [0, 0, 0];
const url = (prefix: string) => `redis+cluster://${ports.map(p => `${HOST}:${p}`).join(',')}/?prefix=${encodeURIComponent(prefix)}`;
const RUN = `tessera-cwatch:${randomBytes(6).toString('hex')}:`;
let n = 0;
const prefix = () => `${RUN}${n++}:`;
const WATCHES = Symbol.for('tessera.store-redis.watches');

interface NodeConn {
  address: string;
  name: string;
  id: number | null;
}

/** Child B: watches the prefix; `conn` lists its watch connection on each node. */
const WORKER: WorkerSpec = {
  dist: fileURLToPath(new URL('../../packages/store-redis/dist/index.js', import.meta.url)),
  store: 'RedisClusterStore',
  argv: ['url'],
  options: '{ url }',
  prelude: `
const conn = () => {
  const [w] = store[Symbol.for('tessera.store-redis.watches')]();
  return w.nodeWatches.map((x, i) => ({ address: w.addresses[i], name: x.name, id: x.clientId }));
};`,
  ready: 'conn: conn()',
  commands: { conn: 'out({ conn: conn(), t: now() });' },
};

async function nodeClient(port: number) {
  const c = createClient({ url: `redis://${HOST}:${port}` });
  c.on('error', () => {});
  await c.connect();
  return c;
}

const b = watchers('tessera-cwatch-');

/** Whether the node `admin` is connected to serves `slot` (its own line of CLUSTER NODES). */
async function ownsSlot(admin: Awaited<ReturnType<typeof nodeClient>>, slot: number): Promise<boolean> {
  return String(await admin.sendCommand(['CLUSTER', 'NODES']))
    .split('\n')
    .find(l => l.includes('myself'))!
    .split(' ')
    .slice(8)
    .some(range => {
      const [a, z = a] = range.split('-').map(Number);
      return slot >= a! && slot <= z!;
    });
}

/** A store watching prefix `p` (its watch and what it heard), and another writing under it. */
async function watching(p: string) {
  const store = new RedisClusterStore({ url: url(p) });
  const writer = new RedisClusterStore({ url: url(p) });
  const rec = recorder();
  const stop = await store.watch(rec.listener);
  const w = (store as unknown as Record<symbol, () => Array<{ addresses: string[] }>>)[WATCHES]!()[0]!;
  return {
    store,
    writer,
    rec,
    w,
    async close() {
      await stop();
      await store.close();
      await writer.close();
    },
  };
}

afterAll(async () => {
  b.cleanup();
  await cluster?.stop(); // the whole cluster goes, this run's keys with it
});

const describeIf = skip ? describe.skip : describe;

describeIf('redis cluster store watch: two processes', () => {
  it('B hears A\'s revocations, rotations and touches on every master within 50 ms at p99; a node\'s watch connection killed is down, then up', async () => {
    const p = prefix();
    const store = new RedisClusterStore({ url: url(p) });
    try {
      const now = Math.floor(Date.now() / 1000);
      const records = latencyRecords(now);
      for (const r of records.all) await store.put(r);
      const child = await b.start<{ conn: NodeConn[] }>(WORKER, [url(p)]);
      const conns = child.ready.conn!;
      // One tracking connection per master, each on its node.
      expect(conns.map(c => c.address).sort()).toEqual(ports.map(port => `${HOST}:${port}`).sort());
      for (const c of conns) expect(c.id).toEqual(expect.any(Number));

      await expectNoticeLatency(store, child, records, now, { title: 'redis cluster store watch (CLIENT TRACKING BCAST on each node)', negative: "B was notified before A's reply was read" });

      // One node's watch connection killed in Redis: the whole watch is down until it tracks again.
      const victim = conns[1]!;
      const admin = await nodeClient(Number(victim.address.split(':')[1]));
      try {
        const { t, down, up } = await expectOutage(child, async () => expect(await admin.sendCommand(['CLIENT', 'KILL', 'ID', String(victim.id)])).toBe(1), {
          down: 'state(false) after CLIENT KILL on one node',
          downMs: 1000,
          up: 'state(true) once that node tracks again',
        });
        console.log(`redis cluster store watch: CLIENT KILL on ${victim.address} -> state(false) in ${fmtMs(down.at - t)}, state(true) ${fmtMs(up.at - down.at)} later`);
      } finally {
        await admin.close();
      }
      await expectNoticeOfPut(store, child, now, 'a notice once every node tracks again');
      expect(await child.exit()).toBe(0);
    } finally {
      await store.close();
    }
  }, 90_000);
});

describeIf('redis cluster store watch: topology', () => {
  it('a node joining is down, then up with the node watched; records in a slot moved to it are notified', async () => {
    const p = prefix();
    const { writer, rec, w, close } = await watching(p);
    try {
      expect(w.addresses.length).toBe(3);
      const states = rec.states.length;
      const port = await cluster!.addNode();
      const added = `${HOST}:${port}`;
      const down = await until('state(false) once the cluster lists the new node', () => rec.states.slice(states).find(s => !s.up), 5000, 20);
      const up = await until('state(true) with the new node watched', () => rec.states.slice(states).find(s => s.up), 5000, 20);
      expect(up.at).toBeGreaterThan(down.at);
      expect(w.addresses).toContain(added);
      console.log(`redis cluster store watch: node ${added} joined -> state(true) again ${fmtMs(up.at - down.at)} after state(false)`);

      // Move an empty slot to the new node (no keys to migrate), then write a record there.
      const fresh = await nodeClient(port);
      const admins = await Promise.all(ports.map(nodeClient));
      try {
        const now = Math.floor(Date.now() / 1000);
        const freshId = String(await fresh.sendCommand(['CLUSTER', 'MYID']));
        /** The index of the master owning `slot`. */
        const ownerOf = async (slot: number) => {
          for (let i = 0; i < admins.length; i++) if (await ownsSlot(admins[i]!, slot)) return i;
          return -1;
        };
        // A record whose slot holds no key yet (nothing to migrate: the slot just changes hands).
        let r = record({ id: id('ses'), kind: 'session' }, now);
        let slot = -1;
        let owner = -1;
        for (let tries = 0; tries < 20 && owner < 0; tries++) {
          r = record({ id: id('ses'), kind: 'session' }, now);
          slot = Number(await fresh.sendCommand(['CLUSTER', 'KEYSLOT', `${p}r:{${r.id}}`]));
          const i = await ownerOf(slot);
          if (i >= 0 && Number(await admins[i]!.sendCommand(['CLUSTER', 'COUNTKEYSINSLOT', String(slot)])) === 0) owner = i;
        }
        expect(owner).toBeGreaterThanOrEqual(0);
        const ownerId = String(await admins[owner]!.sendCommand(['CLUSTER', 'MYID']));
        // Every node knows every other (the cluster bus's handshakes and gossip are done).
        const ids = [freshId, ...(await Promise.all(admins.map(async a => String(await a.sendCommand(['CLUSTER', 'MYID'])))))];
        for (const c of [fresh, ...admins]) {
          await until('the nodes to know each other', async () => {
            const table = String(await c.sendCommand(['CLUSTER', 'NODES']));
            return ids.every(x => table.split('\n').some(l => l.startsWith(x) && !l.includes('handshake'))) || undefined;
          }, 10_000, 50);
        }
        await fresh.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', ownerId]);
        await admins[owner]!.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', freshId]);
        await fresh.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'NODE', freshId]);
        for (const a of admins) await a.sendCommand(['CLUSTER', 'SETSLOT', String(slot), 'NODE', freshId]);

        const from = rec.notices.length;
        await until('the record written on the new node', async () => {
          try {
            await writer.put(r);
            return true;
          } catch {
            return undefined; // the writer's client still learning the new slot map
          }
        }, 5000, 100);
        expect(Number(await fresh.sendCommand(['EXISTS', `${p}r:{${r.id}}`]))).toBe(1); // on the new node indeed
        await until('the notice of a put on the new node', () => rec.covered([r.id], from), 2000);
        const from2 = rec.notices.length;
        expect(await writer.revoke({ id: r.id }, now)).toBe(1);
        await until('the notice of a revocation on the new node', () => rec.covered([r.id], from2), 2000);
        expect(rec.states.slice(states).length).toBe(2); // down once, up once: nothing since
      } finally {
        await fresh.close();
        for (const a of admins) await a.close();
      }
    } finally {
      await close();
    }
  }, 60_000);

  it('a replica added, then promoted by a failover: down and up each time, the replica watched; writes on the promoted master are notified', async () => {
    const p = prefix();
    const { writer, rec, w, close } = await watching(p);
    const admins = await Promise.all(ports.map(nodeClient));
    try {
      const now = Math.floor(Date.now() / 1000);
      // A record on the first master, whose replica this will be.
      const masterId = String(await admins[0]!.sendCommand(['CLUSTER', 'MYID']));
      let r = record({ id: id('ses'), kind: 'session' }, now);
      for (let tries = 0; tries < 200; tries++) {
        r = record({ id: id('ses'), kind: 'session' }, now);
        const slot = Number(await admins[0]!.sendCommand(['CLUSTER', 'KEYSLOT', `${p}r:{${r.id}}`]));
        if (await ownsSlot(admins[0]!, slot)) break;
      }
      await writer.put(r);

      const port = await cluster!.addNode();
      const replica = await nodeClient(port);
      try {
        await until('the new node to know the master', async () => String(await replica.sendCommand(['CLUSTER', 'NODES'])).includes(masterId) || undefined, 10_000, 50);
        let states = rec.states.length;
        await replica.sendCommand(['CLUSTER', 'REPLICATE', masterId]);
        await until('the watch up with the replica watched', () => w.addresses.includes(`${HOST}:${port}`) && rec.states.at(-1)?.up === true && rec.states.length > states, 10_000, 20);
        await until('the replica in sync', async () => String(await replica.sendCommand(['INFO', 'replication'])).includes('master_link_status:up') || undefined, 10_000, 50);

        // The failover: the replica becomes the master of those slots, the old master its replica.
        states = rec.states.length;
        await replica.sendCommand(['CLUSTER', 'FAILOVER']);
        await until('the replica promoted', async () => String(await replica.sendCommand(['ROLE'])).startsWith('master') || undefined, 10_000, 50);
        const down = await until('state(false) after the failover', () => rec.states.slice(states).find(x => !x.up), 5000, 20);
        const up = await until('state(true) after the failover', () => rec.states.slice(states).find(x => x.up && x.at > down.at), 5000, 20);
        console.log(`redis cluster store watch: failover -> state(true) again ${fmtMs(up.at - down.at)} after state(false)`);

        // A revocation now lands on the promoted master: notified.
        const from = rec.notices.length;
        await until('the revocation on the promoted master', async () => {
          try {
            return (await writer.revoke({ id: r.id }, now)) === 1 || undefined;
          } catch {
            return undefined; // the writer's client still learning who the master is
          }
        }, 10_000, 100);
        await until('the notice of the revocation', () => rec.covered([r.id], from), 2000);
      } finally {
        await replica.close();
      }
    } finally {
      await close();
      for (const a of admins) await a.close();
    }
  }, 60_000);
});
