/**
 * The live switch between every ordered pair of shared stores (file, Redis, PostgreSQL, DynamoDB
 * on dynalite): two servers on the source keep serving clients (requests, refreshes in pair mode,
 * logins, logouts) while `migrate()` runs; no request fails, and once it is done the source is
 * emptied and every session that should live still does on both servers, every logout stays.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { migrate } from '@tessera/core/migrate';
import { Client, empty, expectSessions, open, server, services, withTraffic, type Kind } from './support.js';

const svc = await services();
afterAll(() => svc.close());
const CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
if (svc.skip) console.warn(`\n*** live-switch pair tests SKIPPED: ${svc.skip}\n`);

const KINDS: Kind[] = ['file', 'redis', 'postgres', 'dynamodb'];
const PAIRS = KINDS.flatMap(a => KINDS.filter(b => b !== a).map(b => [a, b] as const));

describe.each(PAIRS)('live switch %s -> %s', (from, to) => {
  const run = svc.skip && !CI ? it.skip : it;
  run('no request fails, nothing is lost, logouts stay', async () => {
    if (svc.skip) throw new Error(`services missing under CI: ${svc.skip}`);
    const fromUrl = svc.url(from);
    const toUrl = svc.url(to);
    const storeA1 = await open(fromUrl);
    const storeA2 = await open(fromUrl);
    const target = await open(toUrl);
    const source = await open(fromUrl);
    const servers = [server(storeA1), server(storeA2)];
    const clients = [...Array(40)].map((_, i) => new Client(i % 2 ? 'alice' : 'bob'));
    for (const [i, c] of clients.entries()) expect(await c.login(servers[i % 2]!)).toBe(200);

    let copied = 0;
    const { failures } = await withTraffic(servers, clients, async () => {
      await new Promise(res => setTimeout(res, 300));
      const res = await migrate({ from: source, to: target, toUrl, batch: 25 });
      copied = res.copied + res.skipped;
    });
    expect(failures).toEqual([]);
    expect(copied).toBeGreaterThanOrEqual(40);

    await empty(source);
    await expectSessions(servers, clients);
    expect(clients.filter(c => c.loggedOut).length).toBeGreaterThan(0);
    for (const s of servers) await s.close();
    await Promise.all([source.close(), target.close()]);
  }, 60_000);
});
