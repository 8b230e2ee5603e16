/**
 * Change notices for the Redis store (`watch`): Redis server-assisted client-side caching in
 * broadcasting mode (Redis 6+). Each watch has a connection of its own: never the store's command
 * connection and never the caller's client, but a new connection from the store's URL and TLS
 * settings, or the caller's client's `duplicate()` (node-redis and ioredis both have it). In RESP2,
 * on that connection:
 *
 *   CLIENT SETNAME tessera-watch-<pid>-<hex>      (best effort: shows the connection in CLIENT LIST)
 *   CLIENT ID                                      -> its own id
 *   CLIENT TRACKING on REDIRECT <own id> BCAST PREFIX <prefix>r:
 *   SUBSCRIBE __redis__:invalidate
 *
 * From the SUBSCRIBE reply on, Redis sends it, after each turn of its event loop, a message naming
 * every record key (`<prefix>r:<id>`) any client wrote, changed, deleted or that expired, or null
 * when a database was flushed (FLUSHALL / FLUSHDB: `changed(null)`). Tracking ignores database
 * numbers: the same key written in another database, or any database flushed, notifies too
 * (harmless: a notice only drops a cached record). Index sets, meta values and counters are not
 * tracked.
 *
 * Fail closed, never stale: the connection erroring or closing (CLIENT KILL, a restart, the
 * network), a heartbeat PING left unanswered for PING_TIMEOUT_MS, or a message that cannot be read
 * is `state(false)` at once and the connection is dropped; a new one is tried with backoff
 * (`Backoff`: 100 ms doubling up to 5 s) and `state(true)` once tracking is set on it. Redis
 * never drops a message silently: a subscriber past its output buffer limit is disconnected.
 */
import { createClient } from 'redis';
import { Backoff, NoticeReporter, type ChangeListener } from '@tessera/core/store';
import { explainFailure, isHintedTlsError, type ResolvedTls } from './tls.js';

/** How often the watch connection is checked with a PING. */
export const HEARTBEAT_MS = 1000;
/** A PING unanswered this long means the connection is dead (a silent partition, a stuck server). */
export const PING_TIMEOUT_MS = 1000;
/** With a caller's client: how long connecting and setting up tracking may take. */
const CLIENT_SETUP_MS = 3000;
/** After the connect: how long the tracking commands may take. */
const COMMANDS_MS = 1000;
const CHANNEL = '__redis__:invalidate';

/** One watch connection, whichever client library carries it. */
export interface Link {
  /** Connects; resolves when commands can be sent. */
  connect(): Promise<void>;
  command(args: string[]): Promise<unknown>;
  /** Subscribes to `__redis__:invalidate`; `onMessage` gets each payload (an array of keys, or null). */
  subscribe(onMessage: (payload: unknown) => void): Promise<void>;
  ping(): Promise<unknown>;
  /** `fn` is called (maybe more than once) when the connection errors, closes or ends. */
  onLost(fn: (err: unknown) => void): void;
  /** Drops the connection at once; idempotent, never throws. */
  destroy(): void;
}

/** Where watch connections come from: a fresh Link per attempt, and how long setting one up may take. */
export interface LinkSource {
  open(): Link;
  setupMs: number;
  /** The connection is TLS the store set up (a failure is then explained as conn.ts does). */
  tls: boolean;
}

/** The parts of a node-redis (v4+) client a watch uses. */
interface NodeRedisWatchClient {
  connect(): Promise<unknown>;
  sendCommand(args: string[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: unknown, channel: unknown) => void): Promise<unknown>;
  ping(): Promise<unknown>;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  destroy(): unknown;
  unref?(): void;
  readonly options?: { socket?: object };
}

/** The parts of an ioredis client a watch uses. */
interface IoRedisWatchClient {
  connect(): Promise<unknown>;
  call(command: string, ...args: string[]): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  ping(): Promise<unknown>;
  on(event: string, fn: (...args: unknown[]) => void): unknown;
  disconnect(): void;
  readonly stream?: { unref?(): void };
}

function nodeRedisLink(client: NodeRedisWatchClient): Link {
  const lost: ((err: unknown) => void)[] = [];
  const fire = (err: unknown) => {
    for (const fn of lost) fn(err);
  };
  // An 'error' event without a listener would crash the process.
  client.on('error', fire);
  client.on('end', () => fire(new Error('connection ended')));
  client.on('reconnecting', () => fire(new Error('connection lost')));
  client.on('terminated', fire);
  let destroyed = false;
  return {
    async connect() {
      client.unref?.(); // a background listener never keeps the process alive (the store's close() stops it)
      await client.connect();
    },
    command: args => client.sendCommand(args),
    async subscribe(onMessage) {
      await client.subscribe(CHANNEL, message => onMessage(message));
    },
    ping: () => client.ping(),
    onLost: fn => void lost.push(fn),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        client.destroy();
      } catch {
        // Already closed.
      }
    },
  };
}

function ioRedisLink(client: IoRedisWatchClient): Link {
  const lost: ((err: unknown) => void)[] = [];
  const fire = (err: unknown) => {
    for (const fn of lost) fn(err);
  };
  client.on('error', fire);
  client.on('close', () => fire(new Error('connection closed')));
  client.on('end', () => fire(new Error('connection ended')));
  let onMessage: ((payload: unknown) => void) | undefined;
  // The raw reply (Buffers, an array of keys or null): the 'message' event joins an array with commas.
  client.on('messageBuffer', (channel: unknown, message: unknown) => {
    if (String(channel) === CHANNEL) onMessage?.(message);
  });
  let destroyed = false;
  return {
    async connect() {
      await client.connect();
      client.stream?.unref?.();
    },
    command: args => client.call(args[0]!, ...args.slice(1)),
    async subscribe(fn) {
      onMessage = fn;
      await client.subscribe(CHANNEL);
    },
    ping: () => client.ping(),
    onLost: fn => void lost.push(fn),
    destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        client.disconnect();
      } catch {
        // Already closed.
      }
    },
  };
}

/** Watch connections made from the store's URL (node-redis, RESP2, the store's TLS settings). */
export function urlLinks(options: { url: string; connectTimeoutMs: number; tls?: ResolvedTls | undefined }): LinkSource {
  return {
    setupMs: options.connectTimeoutMs + COMMANDS_MS,
    tls: options.tls !== undefined,
    open: () =>
      nodeRedisLink(
        createClient({
          url: options.url,
          RESP: 2,
          disableOfflineQueue: true,
          socket: {
            ...(options.tls ? { tls: true as const, ...options.tls } : {}),
            connectTimeout: options.connectTimeoutMs,
            // Never reconnected by node-redis: a drop is handled here (state(false), a new connection).
            reconnectStrategy: false,
          },
        }) as unknown as NodeRedisWatchClient,
      ),
  };
}

/**
 * Watch connections duplicated from a caller's client (same server, credentials, TLS), or an Error
 * saying why there can be none (the store then has no notices and the core does not cache).
 */
export function clientLinks(client: unknown): LinkSource | Error {
  const c = client as Record<string, unknown> | null;
  if (c === null || typeof c !== 'object' || typeof c.duplicate !== 'function') {
    return new Error('the given Redis client has no duplicate(): change notices need a connection of their own (give `url`, or a node-redis or ioredis client)');
  }
  if (c.isCluster === true || 'masters' in c) {
    return new Error('change notices do not support Redis Cluster (the record cache needs a single Redis, or a primary with replicas)');
  }
  const duplicate = (overrides: object) => (c.duplicate as (o: object) => unknown).call(c, overrides);
  // As conn.ts tells them apart (ioredis has a `sendCommand` too).
  if (typeof c.sendCommand === 'function' && typeof c.isOpen === 'boolean') {
    // node-redis: RESP2 (tracking messages arrive on the subscription), commands never queued, and
    // no reconnection of its own (the socket options are kept, so host and TLS stay as given).
    const opts = (c as { options?: { socket?: object } }).options;
    const socket = opts && typeof opts === 'object' ? { socket: { ...opts.socket, reconnectStrategy: false } } : {};
    return {
      setupMs: CLIENT_SETUP_MS,
      tls: false,
      open: () =>
        nodeRedisLink(
          duplicate({
            RESP: 2,
            // RESP3-only features of the caller's client (node-redis refuses them with RESP2).
            clientSideCache: undefined,
            emitInvalidate: undefined,
            maintNotifications: 'disabled',
            disableOfflineQueue: true,
            pingInterval: undefined,
            ...socket,
          }) as NodeRedisWatchClient,
        ),
    };
  }
  if (typeof c.call === 'function' && typeof c.status === 'string') {
    return {
      setupMs: CLIENT_SETUP_MS,
      tls: false,
      open: () =>
        ioRedisLink(
          duplicate({
            lazyConnect: true,
            retryStrategy: () => null,
            reconnectOnError: () => false,
            autoResubscribe: false,
            autoResendUnfulfilledCommands: false,
            enableOfflineQueue: false,
            enableAutoPipelining: false,
            monitor: false,
          }) as IoRedisWatchClient,
        ),
    };
  }
  return new Error('change notices need a node-redis (v4+) or ioredis client');
}

/** A name for CLIENT SETNAME (no spaces), so the connection can be told apart in CLIENT LIST. */
function connectionName(): string {
  return `tessera-watch-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
}

function errorText(err: unknown): string {
  const m = (err as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m.split('\n')[0]! : String(err);
}

/** A tracking command refused: say what the watch needs, first (the store cuts messages at 200 characters). */
function refused(command: string, err: unknown): Error {
  const text = errorText(err);
  const why = /unknown (sub)?command|syntax|wrong number/i.test(text)
    ? 'change notices need Redis 6 or later'
    : /NOPERM|no permissions/i.test(text)
      ? 'ACL: grant +client|id +client|tracking +subscribe &__redis__:invalidate'
      : 'change notices cannot be set up';
  return new Error(`${command} refused: ${why} (${text.slice(0, 80)})`, { cause: err });
}

export class TrackingWatch {
  private link: Link | null = null;
  /** The Redis client id of the connection in use (null while down). For tests and logs. */
  clientId: number | null = null;
  /** The name given to the watch connections (CLIENT SETNAME). */
  readonly name = connectionName();
  private heartbeat: NodeJS.Timeout | undefined;
  /** The timeout of the PING in flight. */
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly notices: NoticeReporter;
  /** A new connection after one is lost. */
  private readonly retry = new Backoff(
    () => this.reopen(),
    () => !this.notices.stopped,
  );
  private readonly keyPrefix: string;

  constructor(
    private readonly source: LinkSource,
    /** The store's key prefix: record keys are `<prefix>r:<id>` (`<prefix>r:{<id>}` on a cluster). */
    prefix: string,
    listener: ChangeListener,
    /** The record id in what follows `<prefix>r:` in a key, or null when it names none. Default: all of it. */
    private readonly idOf: (rest: string) => string | null = rest => rest,
  ) {
    this.keyPrefix = `${prefix}r:`;
    this.notices = new NoticeReporter(listener);
  }

  /** Watches; resolves once tracking is set and the invalidation channel subscribed, rejects when it cannot be. */
  async start(): Promise<void> {
    await this.open();
    if (this.notices.stopped) return;
    this.notices.started();
    this.heartbeat = setInterval(() => this.ping(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Stops for good: no listener call after this returns. Idempotent. */
  stop(): void {
    this.notices.stop();
    clearInterval(this.heartbeat);
    this.retry.cancel();
    this.heartbeat = undefined;
    this.drop();
  }

  /** A new connection with tracking set, in use once this resolves; on failure it is dropped. */
  private async open(): Promise<void> {
    const link = this.source.open();
    this.link = link;
    let ready = false;
    /** What broke the connection while it was being set up (checked again once set up: the break may come last). */
    let broke: { err: unknown } | undefined;
    /** A TLS failure the connection reported (the call itself may fail with only its consequence, the socket closing). */
    let tlsFailure: unknown;
    let failed: (err: unknown) => void = () => {};
    const broken = new Promise<never>((_, reject) => (failed = reject));
    broken.catch(() => {});
    link.onLost(err => {
      if (this.link !== link) return;
      if (ready) return this.lost(link);
      if (isHintedTlsError(err)) tlsFailure ??= err;
      broke ??= { err };
      failed(err);
    });
    const timer = setTimeout(() => failed(new Error(`no tracking within ${this.source.setupMs} ms`)), this.source.setupMs);
    try {
      const id = await Promise.race([this.setUp(link), broken]);
      if (broke !== undefined) throw broke.err;
      if (this.link !== link) throw new Error('watch stopped');
      ready = true;
      this.clientId = id;
    } catch (err) {
      if (this.link === link) this.drop();
      link.destroy();
      throw explainFailure(err, { tls: this.source.tls, seen: tlsFailure, everReady: false });
    } finally {
      clearTimeout(timer);
    }
  }

  /** The tracking commands, in order; resolves the connection's client id. */
  private async setUp(link: Link): Promise<number> {
    await link.connect();
    await link.command(['CLIENT', 'SETNAME', this.name]).catch(() => {}); // a user without +client|setname still gets notices
    const id = Number(await link.command(['CLIENT', 'ID']).catch(err => Promise.reject(refused('CLIENT ID', err))));
    if (!Number.isSafeInteger(id) || id <= 0) throw new Error('CLIENT ID gave no client id');
    await link
      .command(['CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id), 'BCAST', 'PREFIX', this.keyPrefix])
      .catch(err => Promise.reject(refused('CLIENT TRACKING', err)));
    await link.subscribe(payload => this.onMessage(link, payload)).catch(err => Promise.reject(refused('SUBSCRIBE', err)));
    return id;
  }

  private onMessage(link: Link, payload: unknown): void {
    if (this.link !== link || this.notices.stopped) return;
    if (payload === null || payload === undefined) return this.notices.changed(null);
    if (!Array.isArray(payload)) return this.notices.changed(null); // not what Redis sends: drop everything
    const ids: string[] = [];
    for (const k of payload) {
      const key = typeof k === 'string' ? k : Buffer.isBuffer(k) ? k.toString('utf8') : null;
      if (key === null) return this.notices.changed(null);
      // BCAST with one prefix names only keys under it.
      if (!key.startsWith(this.keyPrefix) || key.length === this.keyPrefix.length) continue;
      const id = this.idOf(key.slice(this.keyPrefix.length));
      if (id !== null) ids.push(id);
    }
    if (ids.length > 0) this.notices.changed(ids);
  }

  /** A PING on the watch connection; no reply within PING_TIMEOUT_MS is a dead connection. */
  private ping(): void {
    const link = this.link;
    if (link === null || this.clientId === null || this.pingTimer !== undefined || this.notices.stopped) return;
    const timer = setTimeout(() => {
      // Replies read in this turn of the loop are handled before setImmediate: a stalled loop is not a dead connection.
      setImmediate(() => {
        if (this.pingTimer === timer) this.lost(link);
      });
    }, PING_TIMEOUT_MS);
    timer.unref();
    this.pingTimer = timer;
    link.ping().then(
      () => {
        if (this.pingTimer !== timer) return;
        clearTimeout(timer);
        this.pingTimer = undefined;
      },
      () => {
        if (this.pingTimer === timer) this.lost(link);
      },
    );
  }

  /** The connection in use failed: down at once, and a new one is tried. */
  private lost(link: Link): void {
    if (this.link !== link || this.notices.stopped) return;
    this.drop();
    this.notices.state(false);
    this.retry.schedule();
  }

  private async reopen(): Promise<void> {
    await this.open();
    if (this.notices.stopped || this.link === null) return;
    this.notices.state(true);
  }

  private drop(): void {
    const link = this.link;
    this.link = null;
    this.clientId = null;
    clearTimeout(this.pingTimer);
    this.pingTimer = undefined;
    link?.destroy();
  }
}
