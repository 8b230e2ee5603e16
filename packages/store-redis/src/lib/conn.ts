/**
 * A tiny command layer over either Redis client, so the store logic is written once:
 * node-redis v4+ (`sendCommand`, `isOpen`) or ioredis (`call`, `status`).
 */
import { ConfigError } from '@tessera/core';
import { createClient } from 'redis';
import { explainFailure, isHintedTlsError, type ResolvedTls } from './tls.js';

/** The parts of a node-redis (v4+) client the store uses. */
export interface NodeRedisClientLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(args: string[]): Promise<unknown>;
}

/** The parts of an ioredis client the store uses. */
export interface IoRedisClientLike {
  readonly status: string;
  call(command: string, ...args: string[]): Promise<unknown>;
  evalsha(...args: never[]): unknown;
}

export type RedisClientLike = NodeRedisClientLike | IoRedisClientLike;

/** Thrown (and turned into StoreError by the store) when the connection cannot take commands now. */
export class NotConnectedError extends Error {
  override readonly name = 'NotConnectedError';
}

export interface Commands {
  call(args: string[]): Promise<unknown>;
  /** Quits the connection when the layer owns it; leaves a caller's client alone. */
  close(): Promise<void>;
}

function isNodeRedis(c: unknown): c is NodeRedisClientLike {
  return typeof c === 'object' && c !== null && typeof (c as NodeRedisClientLike).sendCommand === 'function' && typeof (c as NodeRedisClientLike).isOpen === 'boolean';
}

function isIoRedis(c: unknown): c is IoRedisClientLike {
  return typeof c === 'object' && c !== null && typeof (c as IoRedisClientLike).evalsha === 'function' && typeof (c as IoRedisClientLike).status === 'string' && typeof (c as IoRedisClientLike).call === 'function';
}

/** A caller's node-redis client: commands fail at once when it is not connected (no offline queueing). */
class NodeRedisCommands implements Commands {
  constructor(private readonly client: NodeRedisClientLike) {}

  private check(): void {
    if (!this.client.isOpen) throw new NotConnectedError('redis client is closed');
    if (!this.client.isReady) throw new NotConnectedError('redis client is not connected');
  }

  async call(args: string[]): Promise<unknown> {
    this.check();
    return this.client.sendCommand(args);
  }

  async close(): Promise<void> {}
}

/** A caller's ioredis client. */
class IoRedisCommands implements Commands {
  constructor(private readonly client: IoRedisClientLike) {}

  private check(): void {
    const s = this.client.status;
    if (s === 'end' || s === 'close') throw new NotConnectedError('redis client is closed');
    if (s === 'reconnecting') throw new NotConnectedError('redis client is not connected');
  }

  async call(args: string[]): Promise<unknown> {
    this.check();
    return this.client.call(args[0]!, ...args.slice(1));
  }

  async close(): Promise<void> {}
}

export interface UrlConnectionOptions {
  url: string;
  connectTimeoutMs: number;
  /** TLS settings for a `rediss://` URL (see tls.ts); undefined for `redis://`. */
  tls?: ResolvedTls | undefined;
}

function ownedClient(options: UrlConnectionOptions, wasReady: () => boolean) {
  return createClient({
    url: options.url,
    RESP: 2,
    disableOfflineQueue: true,
    socket: {
      ...(options.tls ? { tls: true as const, ...options.tls } : {}),
      connectTimeout: options.connectTimeoutMs,
      // Before the first success, fail the connect at once (the caller gets STORE_UNAVAILABLE and
      // the next command tries again); after a drop, keep reconnecting with a capped backoff.
      // (`false`, not an Error: node-redis tests `instanceof Error`, which fails across realms, e.g. under jest.)
      reconnectStrategy: (retries: number) => (wasReady() ? Math.min(50 * 2 ** retries, 2000) : false),
    },
  });
}

type OwnedClient = ReturnType<typeof ownedClient>;

/**
 * A connection the store owns, made from a URL: connects lazily on first use, never queues
 * commands while disconnected (they fail at once), and reconnects in the background after
 * a drop. A failed first connect is retried by the next command.
 */
class OwnedCommands implements Commands {
  private client!: OwnedClient;
  private inner!: NodeRedisCommands;
  private connecting: Promise<void> | undefined;
  private closed = false;
  /** The TLS failure that kept the current client from becoming ready (a failed call names it). */
  private tlsFailure: unknown;
  /** Some connection of this store has been ready (a later close is a drop, not a refusal). */
  private everReady = false;

  constructor(private readonly options: UrlConnectionOptions) {
    this.make();
  }

  /** A new client, not yet connected (the next command connects it). */
  private make(): void {
    let wasReady = false;
    const client = ownedClient(this.options, () => wasReady);
    // An 'error' event without a listener would crash the process; failures reach callers as rejections.
    client.on('error', (err: unknown) => {
      if (isHintedTlsError(err)) this.tlsFailure = err;
      // An error while the socket is still up is a reply node-redis could not decode (garbage
      // on the wire). It resets its decoder but keeps the commands waiting for replies that will
      // never match them: every later command would hang until a restart. Drop the connection
      // instead (its pending commands fail at once); the next command opens a fresh one.
      if (client.isReady) this.discard(client);
    });
    client.on('ready', () => {
      wasReady = true;
      this.everReady = true;
      this.tlsFailure = undefined;
    });
    this.client = client;
    this.inner = new NodeRedisCommands(client as unknown as NodeRedisClientLike);
  }

  /** Drops `client` (its pending commands fail at once); unless closing, the next command connects a new one. */
  private discard(client: OwnedClient): void {
    if (client !== this.client) return;
    if (!this.closed) this.make();
    if (client.isOpen) client.destroy();
  }

  private async ensure(): Promise<void> {
    if (this.closed) throw new NotConnectedError('redis store is closed');
    if (!this.client.isOpen) this.connecting ??= this.connect(this.client);
    if (this.connecting) await this.connecting;
  }

  /**
   * node-redis bounds the TCP connect only: a server that accepts but never answers the
   * handshake, or answers garbage, would leave the connect (and every command awaiting it, and
   * close()) pending forever. The whole connect gets connectTimeoutMs.
   */
  private connect(client: OwnedClient): Promise<void> {
    const timer = setTimeout(() => this.discard(client), this.options.connectTimeoutMs);
    const p: Promise<void> = client
      .connect()
      .then(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        if (this.connecting === p) this.connecting = undefined;
      });
    return p;
  }

  async call(args: string[]): Promise<unknown> {
    try {
      await this.ensure();
      return await this.inner.call(args);
    } catch (err) {
      throw explainFailure(err, { tls: this.options.tls !== undefined, seen: this.client.isReady ? undefined : this.tlsFailure, everReady: this.everReady });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.connecting) await this.connecting.catch(() => {});
    if (!this.client.isOpen) return;
    // Graceful when connected (pending replies arrive first); a reconnecting client is just dropped.
    if (this.client.isReady) await this.client.close();
    else this.client.destroy();
  }
}

export function commandsFor(client: unknown): Commands {
  if (isNodeRedis(client)) return new NodeRedisCommands(client);
  if (isIoRedis(client)) return new IoRedisCommands(client);
  throw new ConfigError('store.client', 'must be a node-redis (v4+) or ioredis client');
}

export function commandsForUrl(options: UrlConnectionOptions): Commands {
  return new OwnedCommands(options);
}
