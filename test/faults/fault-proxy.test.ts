/** The fault proxy itself, against a loopback echo server that counts what it received: each mode does what it says. */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createFaultProxy, type FaultProxy } from '../../packages/testkit/src/fault-proxy.js';

/** Echoes every chunk back prefixed with '>' and remembers every byte it got. */
let echo: Server;
let received = '';
beforeAll(async () => {
  echo = createServer(s => {
    s.on('error', () => {});
    s.on('data', d => {
      received += d.toString('latin1');
      s.write(`>${d.toString('latin1')}`);
    });
  });
  await new Promise<void>(r => echo.listen(0, '127.0.0.1', () => r()));
});
afterAll(() => new Promise<void>(r => echo.close(() => r())));

async function dial(proxy: FaultProxy): Promise<{ socket: Socket; got: () => string; closed: Promise<string> }> {
  const socket = connect(proxy.port, '127.0.0.1');
  let data = '';
  socket.on('data', d => (data += d.toString('latin1')));
  const closed = new Promise<string>(resolve => {
    socket.on('error', e => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
    socket.on('close', () => resolve('close'));
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, got: () => data, closed };
}

async function waitFor(pred: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise(r => setTimeout(r, 5));
  }
}

describe('fault proxy', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await createFaultProxy({ target: { port: (echo.address() as AddressInfo).port } });
  });
  afterAll(() => proxy.close());

  it('passes bytes both ways unchanged, and listens on loopback only', async () => {
    expect(proxy.host).toBe('127.0.0.1');
    const c = await dial(proxy);
    c.socket.write('hello');
    await waitFor(() => c.got() === '>hello');
    c.socket.destroy();
  });

  it('down: resets open connections and refuses new ones; pass listens again on the same port', async () => {
    const c = await dial(proxy);
    await proxy.down();
    expect(await c.closed).toMatch(/ECONNRESET|close/);
    await expect(dial(proxy)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await proxy.pass();
    const again = await dial(proxy);
    again.socket.write('back');
    await waitFor(() => again.got() === '>back');
    again.socket.destroy();
  });

  it('slow: every chunk waits, both ways; pass does not let a chunk overtake one still waiting', async () => {
    const c = await dial(proxy);
    await proxy.slow(100);
    const t0 = Date.now();
    c.socket.write('a');
    await waitFor(() => c.got() === '>a');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(195); // 100 ms up, 100 ms down
    c.socket.write('b');
    await new Promise(r => setTimeout(r, 20));
    await proxy.pass();
    c.socket.write('c');
    await waitFor(() => c.got().replace(/>/g, '').length === 3);
    expect(c.got().replace(/>/g, '')).toBe('abc');
    c.socket.destroy();
  });

  it('reset: forwards half of the matching chunk, then resets, and returns to pass by itself', async () => {
    const c = await dial(proxy);
    received = '';
    const fired = proxy.resetMidCommand({ match: chunk => chunk.includes('COMMIT') });
    c.socket.write('SELECT');
    await waitFor(() => c.got() === '>SELECT');
    c.socket.write('COMMIT-1234');
    expect(await c.closed).toMatch(/ECONNRESET|close/);
    await fired;
    expect(proxy.mode).toBe('pass');
    await waitFor(() => received === 'SELECTCOMMI');
    c.socket.destroy();
  });

  it('drop-reply: the server gets the whole request, the client never gets the reply, then a reset', async () => {
    const c = await dial(proxy);
    received = '';
    const swallowed = proxy.stats.swallowed;
    const fired = proxy.dropReply({ match: chunk => chunk.includes('ROTATE') });
    c.socket.write('ROTATE x');
    expect(await c.closed).toMatch(/ECONNRESET|close/);
    await fired;
    expect(received).toBe('ROTATE x');
    expect(c.got()).toBe('');
    expect(proxy.stats.swallowed - swallowed).toBe('>ROTATE x'.length);
    expect(proxy.mode).toBe('pass');
  });

  it('garbage: server bytes are replaced by junk of the same length until pass', async () => {
    const c = await dial(proxy);
    await proxy.garbage();
    c.socket.write('ping');
    await waitFor(() => c.got().length === 5);
    expect(c.got()).not.toContain('ping');
    expect(c.got().charCodeAt(0)).toBe(0);
    await proxy.pass();
    c.socket.write('pong');
    await waitFor(() => c.got().endsWith('>pong'));
    c.socket.destroy();
  });

  it('a new mode cancels a one-shot armed before (its promise resolves)', async () => {
    const fired = proxy.dropReply({ match: () => false });
    await proxy.pass();
    await expect(fired).resolves.toBeUndefined();
  });
});
