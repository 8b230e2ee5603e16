/**
 * Engines on Redis, PostgreSQL and DynamoDB (dynalite) reached through a fault proxy, under traffic,
 * through each fault: fail closed (503 STORE_UNAVAILABLE + Retry-After, never a 500, never an
 * accepted request that should be refused), recover without a restart, lose no session, resurrect
 * no revocation, no false REFRESH_REUSED after a lost ack; a store restarted empty ends sessions
 * cleanly. Prints the measured figures as one table at the end.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { ROTATE } from '../../packages/store-redis/src/lib/scripts.js';
import { postgresAvailable, redisAvailable } from '../../packages/testkit/src/services.js';
import {
  FIGURES,
  STORE_TIMEOUT_MS,
  dynamoRig,
  figure,
  figuresTable,
  first,
  loggedIn,
  memory,
  postgresRig,
  redisRig,
  settle,
  sleep,
  traffic,
  until,
  type Client,
  type Kind,
  type Rig,
} from './support.js';

const skip: Record<Kind, string | false> = {
  redis: await redisAvailable(),
  postgres: await postgresAvailable(),
  dynamodb: false,
};
for (const [kind, why] of Object.entries(skip)) if (why) console.warn(`store faults: ${kind} skipped: ${why}`);
if (process.env.CI && Object.values(skip).some(Boolean)) throw new Error('store faults: a service is missing under CI');

afterAll(() => {
  if (FIGURES.length > 0) console.log(`Store faults (storeTimeout ${STORE_TIMEOUT_MS} ms), measured:\n\n${figuresTable()}\n`);
});

const rigs: Record<Kind, () => Promise<Rig>> = { redis: redisRig, postgres: postgresRig, dynamodb: () => dynamoRig(true) };

/**
 * A request refused while the store fails never waits much past storeTimeout: each store call is
 * bounded by it, and a login's hand-back of its throttle reservation (whose failure is tolerated)
 * may run out its own storeTimeout before the call that fails; plus scheduling and a GC pause.
 */
const MAX_503_MS = 2 * STORE_TIMEOUT_MS + 600;

async function withRig(kind: Kind, fn: (rig: Rig) => Promise<void>): Promise<void> {
  const rig = await rigs[kind]();
  try {
    await fn(rig);
  } finally {
    await rig.close();
  }
}

/** Logged-in clients, two of them logged out before the fault (those logouts must hold). */
async function population(rig: Rig, n = 12): Promise<Client[]> {
  const clients = await loggedIn(rig.engine, n);
  for (const c of clients.slice(0, 2)) expect((await c.logout(rig.engine)).status).toBe(204);
  return clients;
}

const since = (log: { started: number }[], t: number) => log.filter(o => o.started >= t).length;

/**
 * The common shape: traffic, `fault()` at faultAt (all access tokens expire at that moment, so the
 * fault also meets refreshes), `hold()` while it lasts, `back()` at backAt, then recovery and the
 * final check of every client.
 */
async function scenario(
  rig: Rig,
  name: string,
  s: { fault: () => Promise<unknown>; hold: (t: { log: { status: number; started: number; ended: number }[] }, faultAt: number) => Promise<void>; back: () => Promise<unknown>; measureMemory?: boolean; expect503?: boolean },
): Promise<void> {
  const t = rig.engine;
  const clients = await population(rig);
  const tr = traffic(t, clients);
  await until(() => tr.log.filter(o => o.status === 200).length >= 20, 3_000);
  const m0 = s.measureMemory ? memory() : undefined;
  // Requests held up by that collection finish first: the figures time the fault, not the GC pause.
  if (m0) await sleep(50);
  const faultAt = performance.now();
  rig.expireAccessTokens();
  await s.fault();
  if (s.expect503 !== false) await until(() => tr.log.some(o => o.status === 503 && o.ended >= faultAt), 3_000);
  await s.hold(tr, faultAt);
  const m1 = s.measureMemory ? memory() : undefined;
  await s.back();
  const backAt = performance.now();
  await until(() => first(tr.log, 200, backAt) !== undefined, 6_000);
  await sleep(100);
  await tr.stop();
  const wrong = await settle(t, clients);
  const fig = figure(rig.kind, name, tr.log, [...tr.violations, ...wrong], faultAt, backAt, m0 && m1 ? { heapGrowthMb: m1.heap - m0.heap, rssGrowthMb: m1.rss - m0.rss } : {});
  expect(tr.violations).toEqual([]);
  expect(wrong).toEqual([]);
  if (s.expect503 !== false) {
    expect(fig.to503).not.toBeNull();
    if (fig.slowest503 !== null) expect(fig.slowest503).toBeLessThan(MAX_503_MS);
  }
  expect(fig.recovery).not.toBeNull();
  if (fig.heapGrowthMb !== undefined) expect(fig.heapGrowthMb).toBeLessThan(24);
}

/** Matches a client chunk carrying a record read (what every authenticated request waits for), per store protocol. */
const READ_CHUNK: Record<Kind, (chunk: Buffer) => boolean> = {
  redis: chunk => chunk.includes('\r\n$3\r\nGET\r\n'),
  postgres: chunk => chunk.includes('SELECT') && chunk.includes('WHERE id = $1'),
  dynamodb: chunk => chunk.includes('DynamoDB_20120810.GetItem'),
};

/** Matches the client chunk that carries a rotation's compare-and-set, per store protocol. */
const ROTATE_CHUNK: Record<Kind, (chunk: Buffer) => boolean> = {
  redis: chunk => chunk.includes(ROTATE.sha) || chunk.includes('r.replacedBy = nextId'),
  postgres: chunk => chunk.includes('WITH claimed AS'),
  dynamodb: chunk => chunk.includes('"rotatedAt"') && chunk.includes('attribute_not_exists'),
};

/**
 * Six times: a refresh whose rotation commits in the store but whose answer is swallowed. The
 * client retries with the same cookies (within grace) and must get the head the lost answer
 * carried, never REFRESH_REUSED; its session lives on.
 */
async function lostAck(kind: Kind, rig: Rig, name: string): Promise<void> {
  const t = rig.engine;
  const clients = await loggedIn(t, 6);
  const refreshName = t.options.refreshCookie.name;
  const log: Parameters<typeof figure>[2] = [];
  const violations: string[] = [];
  const faultAt = performance.now();
  let backAt = 0;
  for (const c of clients) {
    const used = c.claims(refreshName)!.jti;
    rig.expireAccessTokens();
    const dropped = rig.proxy!.dropReply({ match: ROTATE_CHUNK[kind] });
    const lost = await c.use(t);
    log.push(lost);
    await Promise.race([dropped, sleep(2_000)]);
    await rig.proxy!.pass();
    // The rotation committed; its answer never came.
    const committed = await rig.record(used);
    expect(committed?.rotatedAt).not.toBeNull();
    expect(committed?.replacedBy).toBeTruthy();
    if (backAt === 0) backAt = performance.now();
    if (lost.status === 200) {
      // The store's client retried on its own (DynamoDB: the SDK): it must have found its own claim.
      expect(c.claims(refreshName)!.jti).toBe(committed!.replacedBy);
      continue;
}
    if (lost.code === 'REFRESH_REUSED') violations.push('false REFRESH_REUSED');
    expect({ status: lost.status, code: lost.code }).toEqual({ status: 503, code: 'STORE_UNAVAILABLE' });
    expect(c.claims(refreshName)!.jti).toBe(used);
    // The client retries with the very same cookies (bounded: the connection may still be coming back).
    let retry = await c.use(t);
    for (let i = 0; retry.status === 503 && i < 200; i++) {
      await sleep(10);
      retry = await c.use(t);
}
    log.push(retry);
    if (retry.code === 'REFRESH_REUSED') violations.push('false REFRESH_REUSED');
    else if (retry.status !== 200) violations.push(`retry ${retry.status} ${retry.code}`);
    else expect(c.claims(refreshName)!.jti).toBe(committed!.replacedBy);
  }
  const wrong = await settle(t, clients);
  figure(rig.kind, name, log, [...violations, ...wrong], faultAt, backAt);
  expect(violations).toEqual([]);
  expect(wrong).toEqual([]);
}

function faultsOf(kind: Kind) {
  (skip[kind] ? describe.skip : describe)(`${kind} through the fault proxy`, () => {
    it('down: 503 at once, back without a restart; heap bounded under traffic while down', () =>
      withRig(kind, rig =>
        scenario(rig, 'down', {
          measureMemory: true,
          fault: () => rig.proxy!.down(),
          // Continuous traffic while down: a few thousand refused requests (bounded in time too).
          hold: async (tr, at) => void (await until(() => since(tr.log, at) >= 3_000, 1_500)),
          back: () => rig.proxy!.pass(),
        }),
      ));

    it('slow below storeTimeout: requests are slower, never refused wrongly', () =>
      withRig(kind, rig =>
        scenario(rig, 'slow 40 ms/chunk', {
          expect503: false,
          fault: () => rig.proxy!.slow(40),
          hold: () => sleep(800),
          back: () => rig.proxy!.pass(),
        }),
      ));

    it('slow past storeTimeout (a hung store): 503 after storeTimeout, not later; late commits do not hurt', () =>
      withRig(kind, rig =>
        scenario(rig, 'slow 1000 ms/chunk (hang)', {
          measureMemory: true,
          fault: () => rig.proxy!.slow(1000),
          hold: () => sleep(1_200),
          back: () => rig.proxy!.pass(),
        }),
      ));

    it('reset mid-command (3 reads cut): the half-sent commands fail closed, the connection comes back', () =>
      withRig(kind, rig => {
        let fired: Promise<void> = Promise.resolve();
        return scenario(rig, 'reset mid-command ×3 (reads)', {
          // The AWS SDK resends a request whose connection broke before an answer (maxAttempts): no 503 needs to reach anyone.
          expect503: kind !== 'dynamodb',
          fault: async () => void (fired = rig.proxy!.resetMidCommand({ match: READ_CHUNK[kind], times: 3 })),
          hold: async () => {
            await Promise.race([fired, sleep(3_000)]);
          },
          back: () => rig.proxy!.pass(),
        });
      }));

    it('garbage replies: refused, never decoded into a decision; back after pass', () =>
      withRig(kind, rig =>
        scenario(rig, 'garbage replies', {
          fault: () => rig.proxy!.garbage(),
          hold: () => sleep(600),
          back: () => rig.proxy!.pass(),
        }),
      ));

    it('lost ack during a rotation: the retry with the same refresh token gets the head, not REFRESH_REUSED', () =>
      withRig(kind, rig => lostAck(kind, rig, 'lost ack on rotation ×6')));

    if (kind !== 'dynamodb') {
      it('restarted empty: every session ends cleanly (401 SESSION_ENDED), none is accepted, new logins work', () =>
        withRig(kind, async rig => {
          const t = rig.engine;
          const clients = await population(rig);
          const tr = traffic(t, clients);
          await until(() => tr.log.filter(o => o.status === 200).length >= 20, 3_000);
          const faultAt = performance.now();
          await rig.proxy!.down();
          await until(() => tr.log.some(o => o.status === 503 && o.ended >= faultAt), 3_000);
          for (const c of clients) c.state = 'wiped';
          await sleep(50); // requests that started before the marking are answered by now (503)
          await rig.wipe();
          await rig.proxy!.pass();
          const backAt = performance.now();
          await until(() => first(tr.log, 200, backAt) !== undefined, 6_000);
          await until(() => tr.log.filter(o => o.code === 'SESSION_ENDED' && o.started >= backAt).length >= 10, 3_000);
          await tr.stop();
          const wrong = await settle(t, clients);
          const fig = figure(rig.kind, 'restarted empty', tr.log, [...tr.violations, ...wrong], faultAt, backAt);
          expect(tr.violations).toEqual([]);
          expect(wrong).toEqual([]);
          expect(fig.recovery).not.toBeNull();
          expect(tr.log.filter(o => o.code === 'SESSION_ENDED' && o.started >= backAt).length).toBeGreaterThanOrEqual(10);
        }));
    }
  });
}

faultsOf('redis');
faultsOf('postgres');
faultsOf('dynamodb');

(skip.dynamodb ? describe.skip : describe)('dynamodb: a lost ack the SDK does not retry (maxAttempts 1)', () => {
  it('the client retry with the same refresh token gets the head, not REFRESH_REUSED', () => {
    return dynamoRig(true, 1).then(async rig => {
      try {
        await lostAck('dynamodb', rig, 'lost ack on rotation ×6, no SDK retry');
      } finally {
        await rig.close();
      }
    });
  });
});

describe('dynamodb: dynalite stopped, restarted empty on the same port', () => {
  it('503 while it is down and while its table is missing; after setup, old sessions end cleanly and new logins work', async () => {
    const rig = await dynamoRig(false);
    try {
      const t = rig.engine;
      const clients = await population(rig);
      const tr = traffic(t, clients);
      await until(() => tr.log.filter(o => o.status === 200).length >= 20, 3_000);
      const faultAt = performance.now();
      rig.expireAccessTokens();
      await rig.stop();
      await until(() => tr.log.some(o => o.status === 503 && o.ended >= faultAt), 3_000);
      await sleep(500);
      for (const c of clients) c.state = 'wiped';
      await sleep(2 * STORE_TIMEOUT_MS); // in-flight requests settle (503)
      await rig.restart();
      const restartedAt = performance.now();
      // Restarted empty: no table. The store refuses (the table is created only by setup()), never a 200 or a 500.
      await sleep(600);
      const beforeSetup = tr.log.filter(o => o.started >= restartedAt);
      expect(beforeSetup.length).toBeGreaterThan(0);
      expect(beforeSetup.filter(o => o.status !== 503)).toEqual([]);
      await rig.setup();
      const backAt = performance.now();
      await until(() => first(tr.log, 200, backAt) !== undefined, 6_000);
      await until(() => tr.log.filter(o => o.code === 'SESSION_ENDED' && o.started >= backAt).length >= 10, 3_000);
      await tr.stop();
      const wrong = await settle(t, clients);
      const fig = figure('dynamodb', 'dynalite stopped, restarted empty (+ setup)', tr.log, [...tr.violations, ...wrong], faultAt, backAt);
      expect(tr.violations).toEqual([]);
      expect(wrong).toEqual([]);
      expect(fig.to503).not.toBeNull();
      if (fig.slowest503 !== null) expect(fig.slowest503).toBeLessThan(MAX_503_MS);
      expect(fig.recovery).not.toBeNull();
    } finally {
      await rig.close();
    }
  });
});
