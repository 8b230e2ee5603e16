/**
 * Change notices for the Redis Cluster store (`watch`): one tracking watch (watch.ts: CLIENT
 * TRACKING in broadcasting mode on a connection of its own) on every node of the cluster, masters
 * and replicas, since each node names only the keys written on it. The set of nodes is what
 * `CLUSTER NODES` lists, read again every HEARTBEAT_MS.
 *
 * Fail closed, never stale:
 * - any node's watch down (its connection dropped, errored or stopped answering PINGs) is
 *   `state(false)` at once; `state(true)` only when every node's watch tracks again;
 * - the node list changing (a node joined or left, a failover swapped a master and a replica) is
 *   `state(false)` at once; the watches are set up again for the new list, then `state(true)`.
 *   Every listed node is watched whatever its role, so a role change alone misses nothing (this is
 *   caution); a node joining holds no record until slots move to it, which takes further commands,
 *   so a change is seen within about HEARTBEAT_MS of the cluster listing it, before it matters;
 * - `CLUSTER NODES` unanswered (no master reachable) is `state(false)` too, until it answers.
 * Nodes the cluster marks `fail` (agreed unreachable; their slots are served elsewhere) are not
 * watched; a node only suspected (`fail?`) still is, so the watch stays down while it cannot be
 * reached.
 */
import { Backoff, NoticeReporter, type ChangeListener } from '@tessera/core/store';
import { HEARTBEAT_MS, TrackingWatch, type LinkSource } from './watch.js';

/** Where the nodes and their watch connections come from (cluster-conn.ts). */
export interface ClusterNodeSource {
  /** The nodes to watch now, as the cluster lists them (`nodesToWatch`). */
  nodes(): Promise<ClusterNode[]>;
  /** Watch connections to one node, or why there can be none (the node is then not watched: down). */
  linksFor(address: string): Promise<LinkSource>;
}

/** A node to watch: its address (`host:port`) and role. */
export interface ClusterNode {
  address: string;
  role: 'master' | 'replica';
}

/**
 * The nodes in `CLUSTER NODES` output to watch: every master and replica with an address, except
 * those marked `fail` or still in handshake. Sorted by address, one entry per address.
 */
export function nodesToWatch(text: string): ClusterNode[] {
  const out = new Map<string, ClusterNode>();
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 3) continue;
    const flags = fields[2]!.split(',');
    if (flags.includes('fail') || flags.includes('handshake') || flags.includes('noaddr')) continue;
    const address = fields[1]!.split('@')[0]!;
    if (address.lastIndexOf(':') <= 0) continue; // no host (`:0`): a node whose address is not known yet
    out.set(address, { address, role: flags.includes('master') ? 'master' : 'replica' });
  }
  return [...out.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

/** What the watches were set up for: a change of any node's address or role is a new list. */
function listOf(nodes: readonly ClusterNode[]): string {
  return nodes.map(n => `${n.address} ${n.role}`).join(',');
}

/** `{<id>}` as the cluster store writes a record key's tail: the id, or null. */
export function clusterIdOf(rest: string): string | null {
  return rest.length > 2 && rest.charCodeAt(0) === 123 && rest.charCodeAt(rest.length - 1) === 125 ? rest.slice(1, -1) : null;
}

export class ClusterWatch {
  private readonly notices: NoticeReporter;
  /** The watches in force, by node address. */
  private watches = new Map<string, TrackingWatch>();
  /** The watches being set up (build), not in force yet: a drop among them counts too. */
  private building: Map<string, TrackingWatch> | null = null;
  /** Nodes whose watch is down now (of those in force or being set up). */
  private readonly down = new Set<string>();
  /** The node list the watches were set up for (`listOf`); null while they are being set up again. */
  private list: string | null = null;
  private heartbeat: NodeJS.Timeout | undefined;
  private checking = false;
  private readonly retry = new Backoff(
    () => this.rebuild(),
    () => !this.notices.stopped,
  );

  constructor(
    private readonly source: ClusterNodeSource,
    private readonly prefix: string,
    listener: ChangeListener,
  ) {
    this.notices = new NoticeReporter(listener);
  }

  /** Watches every node; resolves once each tracks, rejects when one cannot. */
  async start(): Promise<void> {
    const nodes = await this.source.nodes();
    await this.build(nodes);
    if (this.notices.stopped) return;
    if (this.down.size > 0) {
      // A node's connection dropped while the others were set up: watch() resolving would say up.
      const which = [...this.down].join(', ');
      this.clear();
      throw new Error(`the watch connection to ${which} dropped while the others were set up`);
    }
    this.notices.started();
    this.heartbeat = setInterval(() => void this.check(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Stops for good: no listener call after this returns. Idempotent. */
  stop(): void {
    this.notices.stop();
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.retry.cancel();
    this.clear();
  }

  /** The node addresses watched now (tests). */
  get addresses(): string[] {
    return [...this.watches.keys()];
  }

  /** The watch of each node (tests: their connection names and client ids). */
  get nodeWatches(): TrackingWatch[] {
    return [...this.watches.values()];
  }

  private clear(): void {
    for (const w of this.watches.values()) w.stop();
    this.watches = new Map();
    this.down.clear();
    this.list = null;
  }

  /** A watch on each of `nodes`, all tracking, in force once this resolves; on failure none is. */
  private async build(nodes: ClusterNode[]): Promise<void> {
    this.clear();
    const made = new Map<string, TrackingWatch>();
    this.building = made;
    /** Set when one node failed: the others still on their way stop as they arrive. */
    let abandoned = false;
    try {
      if (nodes.length === 0) throw new Error('CLUSTER NODES lists no node to watch');
      await Promise.all(
        nodes.map(async ({ address }) => {
          const links = await this.source.linksFor(address);
          if (this.notices.stopped || abandoned) return;
          const w = new TrackingWatch(
            links,
            this.prefix,
            {
              changed: ids => {
                if (this.watches.get(address) === w || this.building?.get(address) === w) this.notices.changed(ids);
              },
              state: up => this.nodeState(address, w, up),
            },
            clusterIdOf,
          );
          made.set(address, w);
          try {
            await w.start();
          } finally {
            if (abandoned) w.stop();
          }
        }),
      );
    } catch (err) {
      abandoned = true;
      for (const w of made.values()) w.stop();
      this.down.clear();
      throw err;
    } finally {
      this.building = null;
    }
    if (this.notices.stopped) {
      for (const w of made.values()) w.stop();
      return;
    }
    this.watches = made;
    this.list = listOf(nodes);
  }

  private nodeState(address: string, w: TrackingWatch, up: boolean): void {
    if (this.watches.get(address) !== w && this.building?.get(address) !== w) return;
    if (up) this.down.delete(address);
    else this.down.add(address);
    this.report();
  }

  /** Up when the watches are set up for the current node list and every one of them tracks. */
  private report(): void {
    this.notices.state(this.list !== null && this.down.size === 0);
  }

  /** The node list again: a change (or no answer) is down at once, and the watches are set up anew. */
  private async check(): Promise<void> {
    if (this.checking || this.list === null || this.notices.stopped) return;
    this.checking = true;
    try {
      let nodes: ClusterNode[] | null;
      try {
        nodes = await this.source.nodes();
      } catch {
        nodes = null;
      }
      if (this.notices.stopped || this.list === null) return;
      if (nodes !== null && listOf(nodes) === this.list) return;
      this.clear();
      this.report();
      this.retry.schedule();
    } finally {
      this.checking = false;
    }
  }

  private async rebuild(): Promise<void> {
    const nodes = await this.source.nodes();
    if (this.notices.stopped) return;
    await this.build(nodes);
    this.report();
  }
}
