/** A loopback TCP proxy between an app and its store that injects network faults on demand (tests only). */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * `pass`: bytes flow unchanged. `down`: nothing listens (connections are refused) and every open
 * connection is reset. `slow`: every chunk, both ways, waits `ms` (a round trip gains 2 × ms).
 * `reset`: a matching client chunk is cut in half, the first half forwarded, then the connection
 * reset (the server sees a partial command). `drop-reply`: a matching client chunk is forwarded
 * whole, the server's reply is swallowed and the connection reset once it arrives (the server
 * committed, the client never hears: the lost ack). `garbage`: every server chunk is replaced by
 * junk of the same length.
 */
export type FaultMode = 'pass' | 'down' | 'slow' | 'reset' | 'drop-reply' | 'garbage';

export interface FaultProxyOptions {
  /** Where connections go, e.g. `{ port: 6379 }` (host default 127.0.0.1). */
  target: { host?: string; port: number };
  /** Port to listen on (127.0.0.1 only). Default 0: a random free port. */
  port?: number;
}

export interface OneShot {
  /** Which client chunk arms the fault (default: the next one). Protocol-agnostic: look for a statement text or a script hash. */
  match?: (chunk: Buffer) => boolean;
  /** How many times it fires before the proxy returns to `pass` by itself. Default 1. */
  times?: number;
}

export interface FaultProxyStats {
  /** Connections accepted so far. */
  accepted: number;
  /** Connections open now. */
  open: number;
  /** Connections the proxy reset (down, reset, drop-reply). */
  resets: number;
  /** Times a one-shot fault (reset, drop-reply) fired. */
  fired: number;
  /** Server bytes swallowed (drop-reply) or replaced by junk (garbage). */
  swallowed: number;
  garbled: number;
}

export interface FaultProxy {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly mode: FaultMode;
  readonly stats: Readonly<FaultProxyStats>;
  /** Back to forwarding unchanged; listens again after `down` (same port). */
  pass(): Promise<void>;
  down(): Promise<void>;
  slow(ms: number): Promise<void>;
  /** Resolves once the fault fired `times` times (the proxy is then back to `pass`). */
  resetMidCommand(options?: OneShot): Promise<void>;
  /** Resolves once `times` replies were swallowed and their connections reset (the proxy is then back to `pass`). */
  dropReply(options?: OneShot): Promise<void>;
  garbage(): Promise<void>;
  close(): Promise<void>;
}

/** Bytes no store protocol parses: a NUL first, so neither RESP nor the PostgreSQL wire format nor HTTP can take them for a reply. */
function junk(length: number): Buffer {
  const b = Buffer.alloc(length, 0xff);
  b[0] = 0x00;
  return b;
}

type Dir = 'up' | 'down';

/** One proxied connection: both sockets and, per direction, the chunks waiting for their time (slow). */
class Pair {
  readonly queue: Record<Dir, { chunk: Buffer; due: number }[]> = { up: [], down: [] };
  readonly timer: Record<Dir, NodeJS.Timeout | undefined> = { up: undefined, down: undefined };
  /** A drop-reply fired on this connection: every server byte from now on is swallowed. */
  dropping: (() => void) | null = null;
  /** Half a chunk went out and the reset follows: nothing more may reach the server after it. */
  cut = false;
  closed = false;
  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
  ) {}

  /** Ends both sides: with an RST when `abort` (the peer sees ECONNRESET, as when a server or a link dies). */
  close(abort: boolean): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of ['up', 'down'] as const) {
      clearTimeout(this.timer[d]);
      this.queue[d].length = 0;
    }
    for (const s of [this.client, this.upstream]) {
      if (abort && s.readyState === 'open') s.resetAndDestroy();
      else s.destroy();
    }
  }

  reset(): void {
    this.close(true);
  }
}

export async function createFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const targetHost = options.target.host ?? '127.0.0.1';
  const targetPort = options.target.port;
  const pairs = new Set<Pair>();
  const stats: FaultProxyStats = { accepted: 0, open: 0, resets: 0, fired: 0, swallowed: 0, garbled: 0 };
  let mode: FaultMode = 'pass';
  let delayMs = 0;
  let shot: { match: (chunk: Buffer) => boolean; left: number; done: () => void } | null = null;
  let listening = false;
  let closed = false;

  const server: Server = createServer({ noDelay: true }, client => onConnection(client));
  server.on('error', () => {});

  function listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => reject(err);
      server.once('error', fail);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', fail);
        listening = true;
        resolve();
      });
    });
  }

  function stopListening(): Promise<void> {
    if (!listening) return Promise.resolve();
    listening = false;
    return new Promise(resolve => server.close(() => resolve()));
  }

  function resetAll(): void {
    for (const p of pairs) {
      if (!p.closed) stats.resets++;
      p.reset();
    }
  }

  function write(p: Pair, dir: Dir, chunk: Buffer): void {
    if (p.closed) return;
    (dir === 'up' ? p.upstream : p.client).write(chunk);
  }

  /** Forwards the chunks whose time has come, in order; re-arms a timer for the next one. */
  function pump(p: Pair, dir: Dir): void {
    p.timer[dir] = undefined;
    const q = p.queue[dir];
    const now = Date.now();
    while (q.length > 0 && q[0]!.due <= now) write(p, dir, q.shift()!.chunk);
    if (q.length > 0 && !p.closed) p.timer[dir] = setTimeout(() => pump(p, dir), q[0]!.due - now);
  }

  /** Forwards now, or after `delayMs` in slow mode; a chunk never overtakes one still waiting. */
  function send(p: Pair, dir: Dir, chunk: Buffer): void {
    const q = p.queue[dir];
    const due = mode === 'slow' ? Date.now() + delayMs : 0;
    if (q.length === 0 && due === 0) return write(p, dir, chunk);
    q.push({ chunk, due: Math.max(due, q.length > 0 ? q[q.length - 1]!.due : 0) });
    if (p.timer[dir] === undefined) pump(p, dir);
  }

  function fire(): void {
    stats.fired++;
    if (shot !== null && --shot.left <= 0) {
      const done = shot.done;
      shot = null;
      mode = 'pass';
      done();
    }
  }

  function fromClient(p: Pair, chunk: Buffer): void {
    if (p.closed || p.cut) return;
    if (mode === 'reset' && shot !== null && shot.match(chunk)) {
      const half = chunk.subarray(0, Math.floor(chunk.length / 2));
      p.cut = true;
      stats.resets++;
      fire();
      if (half.length === 0) return p.reset();
      p.upstream.write(half, () => p.reset());
      return;
    }
    if (mode === 'drop-reply' && shot !== null && p.dropping === null && shot.match(chunk)) {
      // Fired once the server answered (it has committed by then), not now.
      const s = shot;
      p.dropping = () => {
        stats.resets++;
        if (shot === s) fire();
        p.reset();
      };
    }
    send(p, 'up', chunk);
  }

  function fromServer(p: Pair, chunk: Buffer): void {
    if (p.closed) return;
    if (p.dropping !== null) {
      stats.swallowed += chunk.length;
      const finish = p.dropping;
      // A moment for the rest of the reply to arrive and be swallowed too, then the reset.
      p.dropping = () => {};
      setTimeout(finish, 5);
      return;
    }
    if (mode === 'garbage') {
      stats.garbled += chunk.length;
      return send(p, 'down', junk(chunk.length));
    }
    send(p, 'down', chunk);
  }

  function onConnection(client: Socket): void {
    stats.accepted++;
    if (mode === 'down' || closed) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: targetHost, port: targetPort, noDelay: true });
    const p = new Pair(client, upstream);
    pairs.add(p);
    stats.open++;
    const end = () => {
      if (!pairs.delete(p)) return;
      stats.open--;
      p.close(false);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    // A half-close is passed on (a client's QUIT, a server's shutdown), once the queue before it has drained.
    client.on('end', () => (p.queue.up.length === 0 ? upstream.end() : end()));
    upstream.on('end', () => (p.queue.down.length === 0 ? client.end() : end()));
    client.on('data', chunk => fromClient(p, chunk));
    upstream.on('data', chunk => fromServer(p, chunk));
  }

  await listen(options.port ?? 0);
  const port = (server.address() as AddressInfo).port;

  /** Switches mode; a one-shot armed before and not yet fired resolves (it is cancelled). */
  function setMode(next: FaultMode): void {
    if (closed) throw new Error('fault proxy is closed');
    const pending = shot;
    shot = null;
    mode = next;
    pending?.done();
  }

  function oneShot(next: 'reset' | 'drop-reply', o: OneShot = {}): Promise<void> {
    const times = o.times ?? 1;
    if (!Number.isSafeInteger(times) || times < 1) throw new RangeError('times must be a positive integer');
    setMode(next);
    return new Promise<void>(resolve => {
      shot = { match: o.match ?? (() => true), left: times, done: resolve };
    });
  }

  return {
    host: '127.0.0.1',
    port,
    get mode() {
      return mode;
    },
    stats,
    async pass() {
      setMode('pass');
      if (!listening && !closed) await listen(port);
    },
    async down() {
      setMode('down');
      await Promise.all([stopListening(), Promise.resolve(resetAll())]);
    },
    async slow(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('ms must be >= 0');
      delayMs = ms;
      setMode('slow');
    },
    resetMidCommand: o => oneShot('reset', o),
    dropReply: o => oneShot('drop-reply', o),
    async garbage() {
      setMode('garbage');
    },
    async close() {
      if (closed) return;
      setMode('down');
      closed = true;
      resetAll();
      await stopListening();
    },
  };
}
