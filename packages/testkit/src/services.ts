/**
 * Quick reachability checks for the services some store tests need. Each returns a skip
 * reason (string) when the service does not answer, or false when it does, so a test file can
 * write `defineStoreSuite('redis', make, { skip: await redisAvailable() })`.
 */
import { connect, type Socket } from 'node:net';

const DEFAULT_TIMEOUT_MS = 750;

interface Target {
  host: string;
  port: number;
}

function target(url: string, defaultPort: number): Target {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1', port: u.port ? Number(u.port) : defaultPort };
}

/**
 * Connects, writes `probe`, and resolves with the first bytes received (or an error text).
 * Never throws and never waits longer than `timeoutMs`.
 */
type Exchange = { ok: true; data: Buffer } | { ok: false; connected: boolean; error: string };

function exchange(t: Target, probe: Buffer, timeoutMs: number): Promise<Exchange> {
  return new Promise(resolve => {
    let done = false;
    let connected = false;
    let socket: Socket | undefined;
    const finish = (r: Exchange) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, connected, error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    socket = connect({ host: t.host, port: t.port });
    socket.once('connect', () => {
      connected = true;
      socket!.write(probe);
    });
    socket.once('data', data => finish({ ok: true, data }));
    socket.once('error', err => finish({ ok: false, connected, error: (err as NodeJS.ErrnoException).code ?? err.message }));
    socket.once('close', () => finish({ ok: false, connected, error: 'connection closed without an answer' }));
  });
}

/** Redis answers PING with +PONG, or -NOAUTH when a password is required: either way it is there. */
export async function redisAvailable(url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string | false> {
  let t: Target;
  try {
    t = target(url, 6379);
  } catch {
    return 'Redis URL is not a valid URL';
  }
  const where = `${t.host}:${t.port}`;
  if (url.startsWith('rediss:')) return false; // TLS: a plain-text PING cannot tell; let the tests find out.
  const r = await exchange(t, Buffer.from('PING\r\n'), timeoutMs);
  if (!r.ok && r.connected) return `the service at ${where} does not answer like Redis (${r.error})`;
  if (!r.ok) return `Redis is not reachable at ${where} (${r.error}); start it with: redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no`;
  const text = r.data.toString('latin1');
  if (text.startsWith('+PONG') || text.startsWith('-NOAUTH')) return false;
  return `the service at ${where} does not speak the Redis protocol`;
}

/**
 * PostgreSQL answers an SSLRequest with a single 'S' or 'N' byte before any authentication,
 * which tells a server from any other listener without credentials.
 */
export async function postgresAvailable(url = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test', timeoutMs = DEFAULT_TIMEOUT_MS): Promise<string | false> {
  let t: Target;
  try {
    t = target(url, 5432);
  } catch {
    return 'PostgreSQL URL is not a valid URL';
  }
  const where = `${t.host}:${t.port}`;
  const sslRequest = Buffer.alloc(8);
  sslRequest.writeInt32BE(8, 0);
  sslRequest.writeInt32BE(80877103, 4);
  const r = await exchange(t, sslRequest, timeoutMs);
  if (!r.ok && r.connected) return `the service at ${where} does not answer like PostgreSQL (${r.error})`;
  if (!r.ok) return `PostgreSQL is not reachable at ${where} (${r.error}); start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`;
  const first = r.data[0];
  if (first === 0x53 || first === 0x4e) return false;
  return `the service at ${where} does not speak the PostgreSQL protocol`;
}

/**
 * A TCP server on 127.0.0.1 that accepts connections and never answers: the failure mode where a
 * store client would hang forever without its own timeouts.
 */
export async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const { createServer } = await import('node:net');
  const sockets: import('node:net').Socket[] = [];
  const server = createServer(socket => void sockets.push(socket));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as import('node:net').AddressInfo;
  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>(resolve => server.close(() => resolve()));
    },
  };
}

/** Settles `p` and reports how long it took, never throwing (for "fails fast" assertions). */
export async function timed<R>(p: Promise<R>): Promise<{ value?: R; error?: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    return { value: await p, ms: performance.now() - t0 };
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
}
