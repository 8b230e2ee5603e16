/**
 * Two nodes (two `createTessera` engines, each with its own connection to one shared store) whose
 * clocks disagree, on every shared store: file directory, Redis, PostgreSQL, DynamoDB (dynalite).
 *
 * - Skew within `clockTolerance`: each node accepts what the other issued, and a refresh storm
 *   (ten clients of one login refreshing at once, spread over both nodes, round after round)
 *   ends with no refusal, no false REFRESH_REUSED, exactly one rotation per round and one head.
 * - Skew beyond it: a token issued "in the future" by the fast node is refused by the slow one as
 *   TOKEN_INVALID (a clear 401, never a 500), and nothing is revoked by it.
 *
 * The clocks are driven by hand (each node reads `base + skew`), so expiry needs no sleeping.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { HttpRequest, Tessera, TokenStore } from '@tessera/core';
import { Client, open, server, services, type Kind, type Services } from '../migrate/support.js';

const TOLERANCE = 5;
const ACCESS_TTL = 2;
let svc: Services;
let base = Math.floor(Date.now() / 1000);

beforeAll(async () => {
  svc = await services();
  if (svc.skip && process.env.CI) throw new Error(`the multi-node tests need Redis and PostgreSQL under CI: ${svc.skip}`);
  if (svc.skip) console.warn(`SKIPPED the Redis and PostgreSQL multi-node tests: ${svc.skip}`);
});
afterAll(() => svc?.close());

function node(store: TokenStore, skew: number): Tessera {
  return server(store, { clock: () => base + skew, clockTolerance: TOLERANCE, accessTtl: ACCESS_TTL });
}

function get(cookie: string): HttpRequest {
  return { method: 'GET', path: '/api/me', header: n => (n === 'cookie' ? cookie : undefined), ip: '127.0.0.1', secure: false, body: async () => undefined };
}

/** A copy of a client's cookies: another tab of the same browser, at the moment it sends. */
function tab(of: Client): Client {
  const c = new Client(of.user);
  c.absorb(of.header.split('; '));
  return c;
}

/** Refresh records of a login: [all, heads (live and never rotated)]. */
async function family(store: TokenStore, sid: string, now: number): Promise<[number, number]> {
  const { records } = await store.list({ subject: 'alice', kind: 'refresh', limit: 1000 });
  const mine = records.filter(r => r.family === sid);
  const heads = mine.filter(r => r.rotatedAt == null && r.revokedAt === null && (r.expiresAt === null || r.expiresAt > now));
  return [mine.length, heads.length];
}

const KINDS: Kind[] = ['file', 'redis', 'postgres', 'dynamodb'];

describe.each(KINDS)('two nodes sharing the %s store', kind => {
  const skipped = (): boolean => (kind === 'redis' || kind === 'postgres') && svc.skip !== false;
  const opened: TokenStore[] = [];
  /** Two connections to one fresh store (a file directory, key prefix or table per test). */
  async function stores(): Promise<[TokenStore, TokenStore]> {
    const url = svc.url(kind);
    const a = await open(url);
    const b = await open(url);
    opened.push(a, b);
    return [a, b];
  }
  afterAll(async () => {
    for (const s of opened) await s.close();
  });

  it(`clocks ${TOLERANCE - 1} s apart (within clockTolerance): a refresh storm of 10 clients over both nodes, 12 rounds: 0 refusals, one rotation per round, one head`, async () => {
    if (skipped()) return;
    const [sa, sb] = await stores();
    const nodes = [node(sa, 0), node(sb, TOLERANCE - 1)];
    const first = new Client('alice');
    expect(await first.login(nodes[1]!)).toBe(200); // issued by the fast node: iat ahead of the slow one
    const sid = (await nodes[0]!.authenticate(get(first.header))) as { ok: boolean; session?: { id: string } };
    expect(sid.ok).toBe(true);
    const sessionId = sid.session!.id;
    let jar = first;
    const refusals: string[] = [];
    const ROUNDS = 12;
    for (let round = 0; round < ROUNDS; round++) {
      base += ACCESS_TTL + TOLERANCE + 1; // every access token is now past expiry on both clocks
      const tabs = Array.from({ length: 10 }, () => tab(jar));
      const got = await Promise.all(tabs.map((c, i) => c.use(nodes[i % 2]!)));
      got.forEach((g, i) => g !== 'ok' && refusals.push(`round ${round} tab ${i} on node ${i % 2}: ${g}`));
      jar = tabs[round % tabs.length]!;
      // Every tab ended on the family's head: the same refresh cookie everywhere.
      expect(new Set(tabs.map(t => t.header.match(/tessera-refresh=([^;]+)/)?.[1])).size).toBe(1);
    }
    expect(refusals).toEqual([]);
    const [all, heads] = await family(sa, sessionId, base);
    expect(heads).toBe(1);
    expect(all).toBe(ROUNDS + 1); // the login's refresh record and one per round: no fork
    for (const n of nodes) expect(await tab(jar).use(n)).toBe('ok');
  }, 120_000);

  it(`clocks ${TOLERANCE * 6} s apart (beyond clockTolerance): the slow node refuses the fast node's fresh token as TOKEN_INVALID, and nothing is revoked`, async () => {
    if (skipped()) return;
    const [sa, sb] = await stores();
    const slow = node(sa, 0);
    const fast = node(sb, TOLERANCE * 6);
    const c = new Client('alice');
    expect(await c.login(fast)).toBe(200);
    const r = await slow.authenticate(get(c.header));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.code).toBe('TOKEN_INVALID');
      expect(r.reply.status).toBe(401);
    }
    // The refusal revoked nothing: the login still works where the clocks agree with its issuer.
    expect(await tab(c).use(fast)).toBe('ok');
  }, 60_000);
});
