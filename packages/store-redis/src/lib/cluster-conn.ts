/**
 * The command layer of the Redis Cluster store (cluster.ts) over a node-redis (v4+) cluster or an
 * ioredis `Cluster`, or a cluster the store connects itself (node-redis `createCluster`): a command
 * routed by its key to the master of the key's slot (the client follows MOVED/ASK), and a
 * connection to each master for the SCANs that must visit every one.
 */
import { ConfigError } from '@tessera/core';
import { createCluster } from 'redis';
import { NotConnectedError } from './conn.js';
import { nodesToWatch, type ClusterNode, type ClusterNodeSource } from './cluster-watch.js';
import { clientLinks, urlLinks, type LinkSource } from './watch.js';

/** A master of a node-redis cluster, as listed by `cluster.masters`. */
export interface NodeRedisMasterLike {
  readonly host: string;
  readonly port: number;
}

/** The parts of a node-redis (v4+) cluster client (`createCluster`) the store uses. */
export interface NodeRedisClusterLike {
  readonly isOpen: boolean;
  readonly isReady: boolean;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
  readonly masters: readonly NodeRedisMasterLike[];
  nodeClient(node: NodeRedisMasterLike): unknown;
}

/** The parts of an ioredis `Cluster` the store uses. */
export interface IoRedisClusterLike {
  readonly isCluster: boolean;
  readonly status: string;
  call(command: string, ...args: string[]): Promise<unknown>;
  nodes(role?: 'master' | 'slave' | 'all'): ReadonlyArray<{ readonly options: { host?: string; port?: number }; call(command: string, ...args: string[]): Promise<unknown> }>;
}

export type RedisClusterClientLike = NodeRedisClusterLike | IoRedisClusterLike;

/** One master, for commands that must run on each (SCAN). */
export interface MasterCommands {
  /** `host:port`, the order of a cluster-wide scan. */
  readonly address: string;
  call(args: string[]): Promise<unknown>;
}

export interface ClusterCommands {
  /** Runs a command on the master of `key`'s slot. */
  call(key: string, args: string[]): Promise<unknown>;
  /** Every master of the cluster now, sorted by address. */
  masters(): Promise<MasterCommands[]>;
  /** Quits the connections when the layer owns them; leaves a caller's client alone. */
  close(): Promise<void>;
  /** The nodes to watch and connections to them, for change notices (cluster-watch.ts). */
  watchSource(): ClusterNodeSource;
}

/** The nodes to watch, from `CLUSTER NODES` on the first master that answers. */
async function listNodes(layer: ClusterCommands): Promise<ClusterNode[]> {
  let last: unknown = new Error('no master to ask');
  for (const m of await layer.masters()) {
    try {
      return nodesToWatch(String(await m.call(['CLUSTER', 'NODES'])));
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

/** `host:port` split at its last colon (IPv6 hosts have colons of their own). */
function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i), port: Number(address.slice(i + 1)) };
}

/** Watch connections duplicated from a caller's node client; an Error when it has none. */
function linksOf(client: unknown, address: string): LinkSource {
  if (client === undefined || client === null) throw new Error(`the cluster client has no connection to node ${address} yet`);
  const links = clientLinks(client);
  if (links instanceof Error) throw links;
  return links;
}

export function isNodeRedisCluster(c: unknown): c is NodeRedisClusterLike {
  const o = c as Partial<NodeRedisClusterLike> & { getMasters?: unknown };
  return typeof c === 'object' && c !== null && typeof o.sendCommand === 'function' && typeof o.nodeClient === 'function' && (Array.isArray(o.masters) || typeof o.getMasters === 'function');
}

export function isIoRedisCluster(c: unknown): c is IoRedisClusterLike {
  const o = c as Partial<IoRedisClusterLike>;
  return typeof c === 'object' && c !== null && o.isCluster === true && typeof o.nodes === 'function' && typeof o.call === 'function' && typeof o.status === 'string';
}

function byAddress(a: MasterCommands, b: MasterCommands): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
}

/** Node clients of a node-redis cluster: standalone clients (`sendCommand(args)`). */
interface NodeClientLike {
  sendCommand(args: string[]): Promise<unknown>;
}

/** A caller's node-redis cluster: commands fail at once while it is closed or not connected. */
class NodeRedisClusterCommands implements ClusterCommands {
  constructor(private readonly client: NodeRedisClusterLike) {}

  protected check(): void {
    if (!this.client.isOpen) throw new NotConnectedError('redis cluster client is closed');
    if (!this.client.isReady) throw new NotConnectedError('redis cluster client is not connected');
  }

  async call(key: string, args: string[]): Promise<unknown> {
    this.check();
    // isReadonly false: always the slot's master, never a replica that may lag behind a revocation.
    return this.client.sendCommand(key, false, args);
  }

  async masters(): Promise<MasterCommands[]> {
    this.check();
    const c = this.client as NodeRedisClusterLike & { getMasters?: () => NodeRedisMasterLike[] };
    const list = Array.isArray(c.masters) ? c.masters : (c.getMasters?.() ?? []);
    const out = await Promise.all(
      list.map(async (m): Promise<MasterCommands> => {
        const node = (await this.client.nodeClient(m)) as NodeClientLike;
        return { address: `${m.host}:${m.port}`, call: args => node.sendCommand(args) };
      }),
    );
    return out.sort(byAddress);
  }

  async close(): Promise<void> {}

  watchSource(): ClusterNodeSource {
    return {
      nodes: () => listNodes(this),
      linksFor: async address => {
        this.check();
        const c = this.client as NodeRedisClusterLike & { replicas?: readonly NodeRedisMasterLike[]; getMasters?: () => NodeRedisMasterLike[] };
        const all = [...(Array.isArray(c.masters) ? c.masters : (c.getMasters?.() ?? [])), ...(Array.isArray(c.replicas) ? c.replicas : [])];
        const node = all.find(n => `${n.host}:${n.port}` === address);
        return linksOf(node === undefined ? undefined : await this.client.nodeClient(node), address);
      },
    };
  }
}

/** A caller's ioredis Cluster. */
class IoRedisClusterCommands implements ClusterCommands {
  constructor(private readonly client: IoRedisClusterLike) {}

  private check(): void {
    const s = this.client.status;
    if (s === 'end' || s === 'close') throw new NotConnectedError('redis cluster client is closed');
    if (s === 'reconnecting') throw new NotConnectedError('redis cluster client is not connected');
  }

  async call(_key: string, args: string[]): Promise<unknown> {
    this.check();
    // ioredis finds the key in the command itself (EVALSHA's numkeys included) and routes by it.
    return this.client.call(args[0]!, ...args.slice(1));
  }

  async masters(): Promise<MasterCommands[]> {
    this.check();
    return this.client
      .nodes('master')
      .map((n): MasterCommands => ({ address: `${n.options.host ?? '127.0.0.1'}:${n.options.port ?? 6379}`, call: args => n.call(args[0]!, ...args.slice(1)) }))
      .sort(byAddress);
  }

  async close(): Promise<void> {}

  watchSource(): ClusterNodeSource {
    return {
      nodes: () => listNodes(this),
      linksFor: async address => {
        this.check();
        const node = this.client.nodes('all').find(n => `${n.options.host ?? '127.0.0.1'}:${n.options.port ?? 6379}` === address);
        return linksOf(node, address);
      },
    };
  }
}

export function clusterCommandsFor(client: unknown): ClusterCommands {
  if (isIoRedisCluster(client)) {
    const scaleReads = (client as { options?: { scaleReads?: unknown } }).options?.scaleReads;
    if (scaleReads !== undefined && scaleReads !== 'master') {
      throw new ConfigError('store.client', `reads must go to masters: create the ioredis Cluster with scaleReads 'master' (the default), not ${JSON.stringify(String(scaleReads))}`);
    }
    return new IoRedisClusterCommands(client);
  }
  if (isNodeRedisCluster(client)) return new NodeRedisClusterCommands(client);
  throw new ConfigError('store.client', 'must be a node-redis cluster (createCluster) or an ioredis Cluster; for a single Redis use RedisStore');
}

export interface OwnedClusterOptions {
  /** Seed nodes: the cluster's topology is discovered from the first that answers. */
  nodes: Array<{ host: string; port: number }>;
  username?: string | undefined;
  password?: string | undefined;
  connectTimeoutMs: number;
}

function ownedCluster(options: OwnedClusterOptions, wasReady: () => boolean) {
  return createCluster({
    rootNodes: options.nodes.map(n => ({ socket: { host: n.host, port: n.port, connectTimeout: options.connectTimeoutMs, reconnectStrategy: false as const } })),
    defaults: {
      ...(options.username !== undefined ? { username: options.username } : {}),
      ...(options.password !== undefined ? { password: options.password } : {}),
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeoutMs,
        // As the single-node store: fail the first connect at once, then reconnect with a capped backoff.
        reconnectStrategy: (retries: number) => (wasReady() ? Math.min(50 * 2 ** retries, 2000) : false),
      },
    },
    RESP: 2,
  });
}

type OwnedCluster = ReturnType<typeof ownedCluster>;

/**
 * A cluster connection the store owns: connects (discovers the topology and connects to every
 * master) on first use, within connectTimeoutMs; a failed connect is retried by the next call.
 * Commands never queue while a node is disconnected (they fail at once).
 */
export class OwnedClusterCommands implements ClusterCommands {
  private cluster: OwnedCluster | undefined;
  private inner: NodeRedisClusterCommands | undefined;
  private connecting: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: OwnedClusterOptions) {}

  private async ensure(): Promise<NodeRedisClusterCommands> {
    if (this.closed) throw new NotConnectedError('redis store is closed');
    if (this.inner === undefined || !this.cluster?.isOpen) this.connecting ??= this.connect();
    if (this.connecting) await this.connecting;
    if (this.inner === undefined) throw new NotConnectedError('redis cluster is not connected');
    return this.inner;
  }

  private connect(): Promise<void> {
    let wasReady = false;
    const cluster = ownedCluster(this.options, () => wasReady);
    // An 'error' event without a listener would crash the process; failures reach callers as rejections.
    cluster.on('error', () => {});
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no cluster connection within ${this.options.connectTimeoutMs} ms`)), this.options.connectTimeoutMs);
    });
    const p: Promise<void> = Promise.race([cluster.connect(), timeout])
      .then(() => {
        wasReady = true;
        if (this.closed) {
          cluster.destroy();
          return;
        }
        this.cluster = cluster;
        this.inner = new NodeRedisClusterCommands(cluster as unknown as NodeRedisClusterLike);
      })
      .catch((err: unknown) => {
        try {
          cluster.destroy();
        } catch {
          // not open: nothing to tear down
        }
        throw err;
      })
      .finally(() => {
        clearTimeout(timer);
        if (this.connecting === p) this.connecting = undefined;
      });
    return p;
  }

  async call(key: string, args: string[]): Promise<unknown> {
    return (await this.ensure()).call(key, args);
  }

  async masters(): Promise<MasterCommands[]> {
    return (await this.ensure()).masters();
  }

  watchSource(): ClusterNodeSource {
    const { username, password, connectTimeoutMs } = this.options;
    const auth = username === undefined && password === undefined ? '' : `${encodeURIComponent(username ?? '')}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
    return {
      nodes: () => listNodes(this),
      linksFor: async address => {
        const { host, port } = splitAddress(address);
        return urlLinks({ url: `redis://${auth}${host.includes(':') ? `[${host}]` : host}:${port}`, connectTimeoutMs });
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.connecting) await this.connecting.catch(() => {});
    const cluster = this.cluster;
    this.cluster = undefined;
    this.inner = undefined;
    if (!cluster?.isOpen) return;
    try {
      await cluster.close();
    } catch {
      cluster.destroy();
    }
  }
}

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})$/;

/** (The text is not echoed in the error: a URL missing its `@` would show its password there.) */
function hostPort(field: string, s: string, n: number): { host: string; port: number } {
  const m = HOST_PORT.exec(s);
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new ConfigError(field, `node ${n} is not host:port (the port is required): redis+cluster://[user:password@]host:port[,host:port...]`);
  return { host: m[1] ?? m[2]!, port };
}

function decode(field: string, s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new ConfigError(field, 'has a malformed %-escape in its credentials');
  }
}

export interface ParsedClusterUrl {
  nodes: Array<{ host: string; port: number }>;
  username?: string;
  password?: string;
  prefix?: string;
}

/**
 * `redis+cluster://[user:password@]host:port[,host:port...][/][?prefix=...]`: the seed nodes (any
 * masters or replicas of the cluster; the rest is discovered), credentials for every node, and the
 * key prefix. `rediss+cluster://` (TLS) is refused: give a cluster client configured for TLS.
 */
export function parseClusterUrl(url: string): ParsedClusterUrl {
  const field = 'store.url';
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(\?[^#]*)?$/i.exec(url.trim());
  if (!m) throw new ConfigError(field, 'must be redis+cluster://[user:password@]host:port[,host:port...][?prefix=...]');
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'rediss+cluster') {
    throw new ConfigError(field, 'TLS (rediss+cluster://) is not made from a URL: pass a node-redis or ioredis cluster client configured for TLS as `client`');
  }
  if (scheme !== 'redis+cluster') throw new ConfigError(field, 'must be a redis+cluster:// URL');
  const out: ParsedClusterUrl = { nodes: [] };
  if (m[2] !== undefined) {
    const i = m[2].indexOf(':');
    const user = i < 0 ? m[2] : m[2].slice(0, i);
    if (user !== '') out.username = decode(field, user);
    if (i >= 0) out.password = decode(field, m[2].slice(i + 1));
  }
  m[3]!.split(',').forEach((part, i) => {
    if (part.trim() !== '') out.nodes.push(hostPort(field, part.trim(), i + 1));
  });
  if (out.nodes.length === 0) throw new ConfigError(field, 'names no node: redis+cluster://host:port[,host:port...]');
  const path = m[4] ?? '';
  if (path !== '' && path !== '/' && path !== '/0') throw new ConfigError(field, 'a Redis Cluster has database 0 only: leave the path out');
  const query = new URLSearchParams(m[5] ?? '');
  for (const [k, v] of query) {
    if (k !== 'prefix') throw new ConfigError(field, `unknown parameter ?${k} (only ?prefix= is read)`);
    out.prefix = v;
  }
  return out;
}
