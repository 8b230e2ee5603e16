/**
 * The Redis Cluster watch's bookkeeping (lib/cluster-watch.ts) over fake nodes, for the orders of
 * events a real cluster makes hard to force: a node's connection dropping while the others are
 * still being set up, the node list changing or not answering, a failed node coming back. The
 * real cluster runs in redis-cluster-watch.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { ClusterWatch, type ClusterNode } from '../../packages/store-redis/src/lib/cluster-watch.js';
import type { Link, LinkSource } from '../../packages/store-redis/src/lib/watch.js';
import { recorder, until } from '../support/watch-latency.js';

/** A fake node: its links answer the tracking commands; `drop()` breaks the live one, `send()` notifies. */
class FakeNode {
  links: { lost: (err: unknown) => void; onMessage?: (p: unknown) => void; destroyed: boolean }[] = [];
  /** While set, a new link's connect() waits for it. */
  gate: Promise<void> | null = null;
  refuse = false;
  private nextId = 1;

  source(): LinkSource {
    return {
      setupMs: 2000,
      tls: false,
      open: (): Link => {
        const state: FakeNode['links'][number] = { lost: () => {}, destroyed: false };
        this.links.push(state);
        return {
          connect: async () => {
            if (this.gate) await this.gate;
            if (this.refuse) throw new Error('connection refused');
          },
          command: async args => (args[1] === 'ID' ? this.nextId++ : 'OK'),
          subscribe: async onMessage => void (state.onMessage = onMessage),
          ping: async () => 'PONG',
          onLost: fn => void (state.lost = fn),
          destroy: () => void (state.destroyed = true),
        };
      },
    };
  }

  live() {
    return this.links.filter(l => !l.destroyed && l.onMessage);
  }

  drop(): void {
    for (const l of this.live()) l.lost(new Error('connection lost'));
  }

  send(keys: string[]): void {
    for (const l of this.live()) l.onMessage!(keys);
  }
}

function fakeCluster(addresses: string[]) {
  const nodes = new Map(addresses.map(a => [a, new FakeNode()]));
  let list: ClusterNode[] = addresses.map(address => ({ address, role: 'master' }));
  let failing = false;
  return {
    nodes,
    setList(next: ClusterNode[]) {
      list = next;
      for (const n of next) if (!nodes.has(n.address)) nodes.set(n.address, new FakeNode());
    },
    fail(on: boolean) {
      failing = on;
    },
    source: {
      nodes: async () => {
        if (failing) throw new Error('CLUSTER NODES: no master answered');
        return list;
      },
      linksFor: async (address: string) => nodes.get(address)!.source(),
    },
  };
}

describe('redis cluster watch bookkeeping (fake nodes)', () => {
  it('notices from every node reach the listener as record ids; one node dropping is down until it tracks again', async () => {
    const c = fakeCluster(['n1:1', 'n2:2']);
    const rec = recorder();
    const w = new ClusterWatch(c.source, 'p:', rec.listener);
    await w.start();
    try {
      c.nodes.get('n2:2')!.send(['p:r:{ses_a}', 'p:r:{ses_b}', 'p:s:{user}', 'other:r:{x}']);
      c.nodes.get('n1:1')!.send(['p:r:{ses_c}']);
      expect(rec.notices.map(n => n.ids)).toEqual([['ses_a', 'ses_b'], ['ses_c']]);
      c.nodes.get('n1:1')!.drop();
      expect(rec.states.map(s => s.up)).toEqual([false]);
      await until('up again once n1 tracks again', () => rec.states.length === 2, 3000, 10);
      expect(rec.states.map(s => s.up)).toEqual([false, true]);
    } finally {
      w.stop();
    }
  });

  it('a node whose connection drops while another is still being set up: start rejects (it would have said up), nothing is left open', async () => {
    const c = fakeCluster(['n1:1', 'n2:2']);
    let open!: () => void;
    c.nodes.get('n2:2')!.gate = new Promise(r => (open = r));
    const rec = recorder();
    const w = new ClusterWatch(c.source, 'p:', rec.listener);
    const started = w.start();
    await until('n1 tracking', () => c.nodes.get('n1:1')!.live().length === 1, 2000, 5);
    c.nodes.get('n1:1')!.drop();
    open();
    await expect(started).rejects.toThrow(/n1:1 dropped while the others were set up/);
    expect(rec.states).toEqual([]); // the listener heard nothing: watch() rejecting says it all
    for (const n of c.nodes.values()) expect(n.links.every(l => l.destroyed)).toBe(true);
    w.stop();
  });

  it('the node list changing (a node joins, a role changes) or not answering is down at once, then up with the new list watched', async () => {
    const c = fakeCluster(['n1:1', 'n2:2']);
    const rec = recorder();
    const w = new ClusterWatch(c.source, 'p:', rec.listener);
    await w.start();
    try {
      c.setList([
        { address: 'n1:1', role: 'master' },
        { address: 'n2:2', role: 'master' },
        { address: 'n3:3', role: 'master' },
      ]);
      await until('down, then up with n3', () => rec.states.length === 2, 4000, 10);
      expect(rec.states.map(s => s.up)).toEqual([false, true]);
      expect(w.addresses.sort()).toEqual(['n1:1', 'n2:2', 'n3:3']);
      c.nodes.get('n3:3')!.send(['p:r:{ses_n3}']);
      expect(rec.covered(['ses_n3'])).toBe(true);
      // The old connections were closed when the watches were set up again.
      expect(c.nodes.get('n1:1')!.links.filter(l => !l.destroyed)).toHaveLength(1);

      c.setList([
        { address: 'n1:1', role: 'replica' },
        { address: 'n2:2', role: 'master' },
        { address: 'n3:3', role: 'master' },
      ]);
      await until('down, then up after the role change', () => rec.states.length === 4, 4000, 10);
      expect(rec.states.map(s => s.up)).toEqual([false, true, false, true]);

      c.fail(true);
      await until('down while CLUSTER NODES fails', () => rec.states.length === 5, 4000, 10);
      expect(rec.states.at(-1)!.up).toBe(false);
      await new Promise(r => setTimeout(r, 500));
      expect(rec.states).toHaveLength(5); // still down: no answer, no watch
      c.fail(false);
      await until('up once it answers', () => rec.states.length === 6, 8000, 10);
      expect(rec.states.at(-1)!.up).toBe(true);
    } finally {
      w.stop();
    }
    for (const n of c.nodes.values()) expect(n.links.every(l => l.destroyed)).toBe(true);
  }, 20_000);
});
