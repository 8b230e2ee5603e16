/**
 * Change notices for the file store (`watch`): `fs.watch` on the records directory (inotify on
 * Linux). Every change of a record is a directory entry change there (a temp file renamed or
 * linked into place, a file removed), so every process sharing the directory on this machine gets
 * an event naming `<id>.json`, its own writes included.
 *
 * `fs.watch` can lose events without saying so, so this watch does not trust it alone:
 * - an event without a file name (a Windows buffer overflow), or naming the directory itself, is
 *   `changed(null)`;
 * - Linux drops the kernel's queue-overflow notice (libuv ignores it): a burst of BURST events
 *   between two turns of the event loop (the queue holds 16384 by default), or the loop stalled
 *   for LAG_MS or more, is `changed(null)` too;
 * - every CHECK_MS the directory is looked at: gone or replaced (another inode) is `state(false)`
 *   and a new watch is tried until one works (`state(true)`); its modification time having moved
 *   with no event at all by the next check means changes are not being seen (a writer on another
 *   machine of a network file system): `state(false)` for good, the record cache stays bypassed;
 * - a watcher 'error' or an unexpected close is `state(false)`, then retried the same way.
 * Network file systems known to Linux (NFS, SMB, CephFS, ...) are refused up front: their
 * changes made on other machines send no events here.
 */
import { watch as fsWatch, promises as fs, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import { Backoff, NoticeReporter, type ChangeListener } from '@tessera/core/store';

/** How often the directory itself is checked (one stat). */
export const CHECK_MS = 1000;
/** A check this late means the event loop stalled: the kernel's event queue may have overflowed meanwhile. */
export const LAG_MS = 1000;
/** Events handled in one turn of the event loop past which some may have been dropped (see above). */
export const BURST = 1024;

/** statfs(2) `f_type` of Linux file systems shared between machines: changes made elsewhere send no inotify event. */
const NETWORK_FS = new Map<number, string>([
  [0x6969, 'nfs'],
  [0x517b, 'smb'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0x00c36400, 'ceph'],
  [0x5346414f, 'afs'],
  [0x01021997, '9p'],
  [0x0bd00bd0, 'lustre'],
  [0x01161970, 'gfs2'],
  [0x7461636f, 'ocfs2'],
  [0x73757245, 'coda'],
]);

/** The network file system `dir` is on (Linux only), or null. */
export async function networkFileSystem(dir: string): Promise<string | null> {
  if (process.platform !== 'linux') return null;
  const st = await fs.statfs(dir);
  return NETWORK_FS.get(Number(st.type) >>> 0) ?? null;
}

export class RecordsWatch {
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly notices: NoticeReporter;
  /** A new watcher after one is lost. */
  private readonly retry = new Backoff(
    () => this.reopen(),
    () => !this.notices.stopped && !this.broken,
  );
  /** Changes were seen without events: down until stopped. */
  private broken = false;
  /** Events seen, and in the current turn of the event loop. */
  private events = 0;
  private burst = 0;
  /** The watched directory, and what the previous check saw. */
  private dev = 0n;
  private ino = 0n;
  private mtime = 0n;
  private counted = 0;
  /** The event count before a check that saw the directory change: no event since then by the next check is a miss. */
  private suspect: number | null = null;
  private due = 0;
  private checking = false;
  private readonly name: string;

  constructor(
    private readonly dir: string,
    listener: ChangeListener,
    /** A file name in the directory to the record id it holds, or null (not a record). */
    private readonly idOf: (name: string) => string | null,
  ) {
    this.name = basename(dir);
    this.notices = new NoticeReporter(listener);
  }

  /** The fs.watch handle in use (null while down); for tests, which may emit 'error' on it. */
  get fsWatcher(): FSWatcher | null {
    return this.watcher;
  }

  /** Watches; resolves once events flow (fs.watch registers synchronously), rejects when it cannot. */
  async start(): Promise<void> {
    const type = await networkFileSystem(this.dir);
    if (type !== null) {
      throw new Error(
        `${this.dir} is on a network file system (${type}): changes made on other machines send no notice, so records cannot be cached (set recordCacheSize: 0)`,
      );
    }
    await this.open();
    this.notices.started();
    this.due = performance.now() + CHECK_MS;
    this.timer = setInterval(() => void this.check(), CHECK_MS);
    this.timer.unref();
  }

  /** Stops for good: no listener call after this returns. Idempotent. */
  stop(): void {
    this.notices.stop();
    clearInterval(this.timer);
    this.retry.cancel();
    this.timer = undefined;
    this.closeWatcher();
  }

  private async open(): Promise<void> {
    let w: FSWatcher;
    try {
      w = fsWatch(this.dir, { persistent: false }, (_type, name) => this.onEvent(w, name));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EMFILE') {
        throw new Error(`cannot watch ${this.dir} (${code}): the inotify limits (fs.inotify.max_user_watches, max_user_instances) are reached`, { cause: err });
      }
      throw err;
    }
    w.on('error', () => this.lost(w));
    w.on('close', () => this.lost(w));
    this.watcher = w;
    try {
      // After the watch is set, and the count before the stat: a change in between is in the
      // baseline and still counts as an event after it (never a miss that was not one).
      const seen = this.events;
      const st = await fs.stat(this.dir, { bigint: true });
      [this.dev, this.ino, this.mtime, this.counted, this.suspect] = [st.dev, st.ino, st.mtimeNs, seen, null];
    } catch (err) {
      this.closeWatcher();
      throw err;
    }
    if (this.notices.stopped) this.closeWatcher();
  }

  private onEvent(w: FSWatcher, name: string | Buffer | null | undefined): void {
    if (this.watcher !== w) return;
    this.events++;
    if (this.burst++ === 0) setImmediate(() => (this.burst = 0));
    if (this.burst === BURST) this.notices.changed(null);
    if (name === null || name === undefined) return this.notices.changed(null);
    const file = typeof name === 'string' ? name : name.toString('utf8');
    const id = this.idOf(file);
    if (id !== null) return this.notices.changed([id]);
    if (file !== this.name) return;
    // The directory itself (removed, moved, an attribute), or an event without a name that libuv
    // labels with the directory's (an overflow, in some versions): drop everything, and look now.
    this.notices.changed(null);
    void this.checkDir(w);
  }

  /** The watcher failed or closed on its own: down, and a new watch is tried. */
  private lost(w: FSWatcher): void {
    if (this.watcher !== w || this.notices.stopped) return;
    this.closeWatcher();
    this.notices.state(false);
    this.retry.schedule();
  }

  private async reopen(): Promise<void> {
    await this.open();
    if (this.notices.stopped || this.watcher === null) return;
    this.due = performance.now() + CHECK_MS;
    this.notices.state(true);
  }

  private async check(): Promise<void> {
    const now = performance.now();
    const late = now - this.due > LAG_MS;
    this.due = now + CHECK_MS;
    const w = this.watcher;
    if (w === null || this.checking || this.notices.stopped) return;
    // The loop stalled: the kernel's queue may have overflowed meanwhile, and Linux says nothing.
    if (late) this.notices.changed(null);
    this.checking = true;
    const seen = this.events;
    try {
      const st = await this.checkDir(w);
      if (st === null) return;
      if (late) this.suspect = null;
      else if (this.suspect !== null && seen === this.suspect) return this.fail();
      else this.suspect = null;
      if (st.mtimeNs !== this.mtime) this.suspect = this.counted;
      this.mtime = st.mtimeNs;
      this.counted = seen;
    } finally {
      this.checking = false;
    }
  }

  /** The directory's stat, or null when it is gone or another one (then down, and a new watch is tried). */
  private async checkDir(w: FSWatcher): Promise<{ mtimeNs: bigint } | null> {
    const st = await fs.stat(this.dir, { bigint: true }).catch(() => null);
    if (this.watcher !== w) return null;
    if (st === null || st.dev !== this.dev || st.ino !== this.ino) {
      this.lost(w);
      return null;
    }
    return st;
  }

  /** The directory changed and no event came: notices cannot be trusted here. Down until stopped. */
  private fail(): void {
    this.broken = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.closeWatcher();
    this.notices.state(false);
  }

  private closeWatcher(): void {
    const w = this.watcher;
    this.watcher = null;
    try {
      w?.close();
    } catch {
      // Already closed by the error that brought us here.
    }
  }
}
