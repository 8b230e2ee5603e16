import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { MemoryStore, createTessera, generateSecret, readKeyring, retireAfter, rotateKeyring, type Logger, type Tessera, type TesseraOptions, type TokenStore } from '../src/index.js';
import { INITIAL_KEYRING, KEYRING_META, parseKeyring, rotateStep } from '../src/keyring.js';
import { contextOf } from '../src/tessera.js';
import { codeOf, decodeJwt, fakeClock, login, req, verifyCredentials, type Jar } from './helpers.js';

const sleep = (ms: number) => new Promise<void>(r => setTimeout(r, ms));
const nowSec = () => Math.floor(Date.now() / 1000);

function recorder() {
  const lines: { level: string; msg: string }[] = [];
  const at = (level: string) => (_obj: object, msg?: string) => void lines.push({ level, msg: msg ?? '' });
  const logger: Logger = { info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines };
}

function server(store: TokenStore, options: Partial<TesseraOptions> = {}, refreshMs?: number): Tessera {
  const core = createTessera({ store, verifyCredentials, logger: false, ...options });
  if (refreshMs !== undefined) contextOf(core).keys.refreshMs = refreshMs;
  return core;
}

const kidOfJar = (jar: Jar) => decodeJwt(jar.get('tessera')!).header.kid as string;
const jwksKids = async (core: Tessera) => ((await core.route('jwks', req({ path: '/auth/jwks' }))).body as { keys: { kid: string }[] }).keys.map(k => k.kid);

/**
 * Clients that log in and then authenticate against both servers in turn, as fast as they can,
 * until stopped; every refusal is recorded.
 */
function traffic(servers: Tessera[], clients = 4) {
  const refused: string[] = [];
  const kids = new Set<string>();
  let served = 0;
  let stopped = false;
  const run = async (i: number) => {
    while (!stopped) {
      const { jar } = await login(servers[i % servers.length]!);
      kids.add(kidOfJar(jar));
      for (let n = 1; n <= 10 && !stopped; n++) {
        const r = await servers[(i + n) % servers.length]!.authenticate(req({ cookie: jar.header }));
        if (r.ok) served++;
        else refused.push(String(codeOf(r)));
        await sleep(2);
      }
    }
  };
  const done = Promise.all(Array.from({ length: clients }, (_, i) => run(i)));
  return {
    refused,
    kids,
    served: () => served,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

describe('the keyring document', () => {
  it('parses only well-formed keyrings; absent is the initial one', () => {
    expect(parseKeyring(null)).toEqual(INITIAL_KEYRING);
    const ok = { v: 1, keys: [{ id: 'initial', state: 'retiring', since: 5 }, { id: 'abc', state: 'signing', since: 5 }] };
    expect(parseKeyring(JSON.stringify(ok))).toEqual(ok);
    for (const bad of ['{', '[]', '{"v":2,"keys":[]}', JSON.stringify({ v: 1, keys: [] }), JSON.stringify({ v: 1, keys: [...ok.keys, { id: 'x', state: 'signing', since: 1 }] })]) {
      expect(parseKeyring(bad)).toBeNull();
    }
    expect(parseKeyring(JSON.stringify({ v: 1, keys: [{ id: 'a b', state: 'signing', since: 1 }] }))).toBeNull();
  });

  it('rotateStep: add (verify-only), wait for the publish delay, promote; drop retiring keys past their time', () => {
    const o = { publishDelay: 100, retire: 1000 };
    const s1 = rotateStep(INITIAL_KEYRING, { ...o, now: 10 });
    expect(s1.outcome.action).toBe('added');
    expect(s1.doc.keys.map(k => k.state)).toEqual(['signing', 'next']);
    expect(rotateStep(s1.doc, { ...o, now: 50 }).outcome).toMatchObject({ action: 'waiting', readyAt: 110 });
    expect(rotateStep(s1.doc, { ...o, now: 50, force: true }).outcome.action).toBe('promoted');
    const s2 = rotateStep(s1.doc, { ...o, now: 110 });
    expect(s2.outcome).toMatchObject({ action: 'promoted', demoted: 'initial' });
    expect(s2.doc.keys.map(k => [k.id === 'initial', k.state])).toEqual([[true, 'retiring'], [false, 'signing']]);
    expect(rotateStep(s2.doc, { ...o, now: 1109 }).dropped).toEqual([]);
    const s3 = rotateStep(s2.doc, { ...o, now: 1110 });
    expect(s3.dropped).toEqual(['initial']);
    expect(s3.outcome.action).toBe('added');
  });
});

describe('a rotating keyring kept in the store', () => {
  it.each(['EdDSA', 'HS256'] as const)('%s: rotation under continuous traffic on two servers sharing the store refuses no request', async algorithm => {
    const store = new MemoryStore();
    const log = recorder();
    const a = server(store, { algorithm, logger: log.logger }, 100);
    const b = server(store, { algorithm }, 100);
    await Promise.all([a.ready(), b.ready()]);
    const initialKid = kidOfJar((await login(a)).jar);
    const t = traffic([a, b]);
    await sleep(200);
    const root = await store.initSecret(generateSecret());
    const c = { algorithm, root, retire: retireAfter(a.options), publishDelay: 0 };
    const added = await rotateKeyring(store, { ...c, now: nowSec() });
    expect(added.action).toBe('added');
    await sleep(300); // both servers re-read: the next key verifies (and is published) everywhere before it signs
    if (algorithm === 'EdDSA') for (const s of [a, b]) expect(await jwksKids(s)).toEqual([initialKid, added.kid]);
    const promoted = await rotateKeyring(store, { ...c, now: nowSec() });
    expect(promoted).toMatchObject({ action: 'promoted', kid: added.kid, demoted: { kid: initialKid } });
    await sleep(400);
    await t.stop();
    expect(t.refused).toEqual([]);
    expect(t.served()).toBeGreaterThan(50);
    expect([...t.kids]).toEqual(expect.arrayContaining([initialKid, added.kid]));
    for (const s of [a, b]) expect(kidOfJar((await login(s)).jar)).toBe(added.kid);
    if (algorithm === 'EdDSA') expect(await jwksKids(a)).toEqual([added.kid, initialKid]);
    expect(log.lines).toContainEqual({ level: 'info', msg: 'signing with the key the keyring in the store names now' });
  });

  it('promoted at once (--now): a server that has not re-read learns the key from its first token, still refusing nothing', async () => {
    const store = new MemoryStore();
    const a = server(store, { algorithm: 'ES256' }, 100); // re-reads often: signs with the new key soon
    const b = server(store, { algorithm: 'ES256' }); // the default 30 s: learns from the unknown kid
    await Promise.all([a.ready(), b.ready()]);
    const t = traffic([a, b]);
    await sleep(100);
    const c = { algorithm: 'ES256' as const, root: await store.initSecret(generateSecret()), retire: retireAfter(a.options), now: nowSec() };
    const added = await rotateKeyring(store, c);
    const promoted = await rotateKeyring(store, { ...c, force: true });
    expect(promoted.action).toBe('promoted');
    await sleep(500);
    await t.stop();
    expect(t.refused).toEqual([]);
    expect(t.kids.has(added.kid)).toBe(true);
    expect(kidOfJar((await login(b)).jar)).toBe(added.kid);
  });

  it('a retiring key verifies until every token it signed has expired, then is dropped', async () => {
    const clock = fakeClock(nowSec());
    const store = new MemoryStore();
    const core = server(store, { algorithm: 'EdDSA', clock, ttl: 3600 }, 0);
    const { jar } = await login(core);
    const c = { algorithm: 'EdDSA' as const, root: await store.initSecret(generateSecret()), retire: retireAfter(core.options), now: clock() };
    await rotateKeyring(store, c);
    const promoted = await rotateKeyring(store, { ...c, force: true });
    expect(promoted.demoted!.until).toBe(c.now + 3600 + 5 + 60);
    expect((await core.authenticate(req({ cookie: jar.header }))).ok).toBe(true);
    expect(await jwksKids(core)).toHaveLength(2);
    clock.advance(3600 + 5 + 60);
    // Requests start the re-read (every 0 ms here) and are answered with the keys in use meanwhile.
    const deadline = Date.now() + 2000;
    while ((await jwksKids(core)).length > 1 && Date.now() < deadline) await sleep(5);
    expect(await jwksKids(core)).toEqual([promoted.kid]);
    const report = await readKeyring(store, { ...c, now: clock() });
    expect(report.keys.map(k => k.state)).toEqual(['signing', 'retiring']); // in the document until the next rotate drops it
  });

  it('an unknown kid re-reads at most once per 5 s, however many tokens name one', async () => {
    const store = new MemoryStore();
    const core = server(store, { algorithm: 'EdDSA' });
    await core.ready();
    let reads = 0;
    const getMeta = store.getMeta.bind(store);
    store.getMeta = (key: string) => {
      if (key === KEYRING_META) reads++;
      return getMeta(key);
    };
    const stranger = generateKeyPairSync('ed25519').privateKey;
    const forged = (kid: string) =>
      new SignJWT({ sid: 's' }).setProtectedHeader({ alg: 'EdDSA', typ: 'tessera-session+jwt', kid }).setIssuer('tessera').setAudience('tessera').setSubject('x').setJti('j').setIssuedAt().setExpirationTime('1h').sign(stranger);
    const results = await Promise.all(Array.from({ length: 50 }, async (_, i) => core.authenticate(req({ cookie: `tessera=${await forged(`made-up-${i}`)}` }))));
    expect(results.map(codeOf)).toEqual(Array(50).fill('TOKEN_INVALID'));
    expect(reads).toBe(1);
  });

  it('after the store lost its secret, servers converge on one key; the one whose key no longer matches says so', async () => {
    let inner = new MemoryStore();
    // A store that forgets everything (a restart without persistence) when told to.
    const store = new Proxy({} as TokenStore, {
      get: (_t, prop) => {
        const v = (inner as unknown as Record<PropertyKey, unknown>)[prop];
        return typeof v === 'function' ? (...args: unknown[]) => (v as (...a: unknown[]) => unknown).apply(inner, args) : v;
      },
    });
    const log = recorder();
    const a = server(store, { algorithm: 'EdDSA', logger: log.logger });
    await a.ready();
    inner = new MemoryStore();
    const b = server(store, { algorithm: 'EdDSA' });
    const fromB = (await login(b)).jar;
    // a sees b's kid, re-reads, finds the store's secret is no longer its own: it takes the store's.
    expect((await a.authenticate(req({ cookie: fromB.header }))).ok).toBe(true);
    expect(log.lines).toContainEqual({ level: 'warn', msg: expect.stringMatching(/no longer matches the store's/) });
    const fromA = (await login(a)).jar;
    expect(kidOfJar(fromA)).toBe(kidOfJar(fromB));
    expect((await b.authenticate(req({ cookie: fromA.header }))).ok).toBe(true);
  });

  it('a live switch carries the keyring to the target store', async () => {
    const from = new MemoryStore();
    const core = server(from, { algorithm: 'EdDSA' });
    await core.ready();
    const c = { algorithm: 'EdDSA' as const, root: await from.initSecret(generateSecret()), retire: retireAfter(core.options), now: nowSec() };
    await rotateKeyring(from, c);
    const to = new MemoryStore();
    await core.switchStore(to);
    expect(await to.getMeta(KEYRING_META)).toBe(await from.getMeta(KEYRING_META));
    expect((await readKeyring(to, c)).keys).toEqual((await readKeyring(from, c)).keys);
  });
});
