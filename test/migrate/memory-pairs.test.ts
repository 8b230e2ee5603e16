/**
 * The in-process switch (`switchStore()`) between the memory store and each other store, both
 * ways, with clients using the server throughout: what a single server moving off (or onto) the
 * memory store gets. No request fails, nothing is lost, logouts stay.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { MemoryStore, type TokenStore } from '@tessera/core';
import { Client, empty, expectSessions, open, server, services, withTraffic, type Kind } from './support.js';

const svc = await services();
afterAll(() => svc.close());
const CI = !!process.env.CI && process.env.CI !== 'false' && process.env.CI !== '0';
if (svc.skip) console.warn(`\n*** memory live-switch tests SKIPPED: ${svc.skip}\n`);

const OTHERS: Kind[] = ['file', 'redis', 'postgres', 'dynamodb'];
const CASES = OTHERS.flatMap(k => [['memory', k] as const, [k, 'memory'] as const]);

describe.each(CASES)('switchStore %s -> %s', (from, to) => {
  const run = svc.skip && !CI ? it.skip : it;
  run('no request fails, nothing is lost, logouts stay', async () => {
    if (svc.skip) throw new Error(`services missing under CI: ${svc.skip}`);
    const make = async (k: Kind): Promise<TokenStore> => (k === 'memory' ? new MemoryStore() : open(svc.url(k)));
    const source = await make(from);
    const target = await make(to);
    const t = server(source);
    const clients = [...Array(30)].map((_, i) => new Client(i % 2 ? 'alice' : 'bob'));
    for (const c of clients) expect(await c.login(t)).toBe(200);
    let copied = 0;
    const { failures } = await withTraffic([t], clients, async () => {
      await new Promise(res => setTimeout(res, 200));
      const res = await t.switchStore(target, { batch: 10 });
      copied = res.copied + res.skipped;
    });
    expect(failures).toEqual([]);
    expect(copied).toBeGreaterThanOrEqual(30);
    await empty(source);
    await expectSessions([t], clients);
    await t.close();
    await target.close();
  }, 60_000);
});
