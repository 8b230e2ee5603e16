/** Named locks shared by every process using one directory: O_EXCL lock files, stamped with their holder, taken over when the holder died. */
import { promises as fs, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { StoreError } from '@tessera/core/store';
import { replaceFile, syncDir, writeTemp } from './durable.js';

/** What a holder was in the middle of (e.g. a rotation), kept in its lock file so whoever takes the lock over can finish or undo it. */
export type Intent = Record<string, string>;

/** The content of a lock file. */
interface Owner {
  /** Host and PID namespace: PIDs are only comparable within one. */
  h: string;
  p: number;
  /** Unique per acquisition (a takeover re-checks that the lock it judged is still the one there). */
  t: string;
  i?: Intent;
}

export interface LockOptions {
  dir: string;
  tmpDir: string;
  /** A lock older than this (by modification time) is taken over even when its holder cannot be checked (another host). */
  staleMs: number;
  timeoutMs: number;
  fsync: boolean;
}

export interface Held {
  /** Records `intent` in the lock file (durable before it resolves when fsync is on). */
  intend(intent: Intent): Promise<void>;
}

/** Undoes or completes what a dead holder recorded; runs under the lock before `fn`. Must be idempotent. */
export type Recover = (intent: Intent) => Promise<void>;

const HOST = `${hostname()}/${pidNamespace()}`;

function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}

function parseOwner(text: string): Owner | null {
  try {
    const o = JSON.parse(text) as Owner;
    return typeof o === 'object' && o !== null && typeof o.h === 'string' && Number.isSafeInteger(o.p) && typeof o.t === 'string' ? o : null;
  } catch {
    return null; // being written, or from an older version: judged by age alone
  }
}

/** A holder on this host (and PID namespace) whose process is gone; never this process. */
function holderDead(o: Owner): boolean {
  if (o.h !== HOST || o.p === process.pid) return false;
  try {
    process.kill(o.p, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: alive, someone else's
  }
}

interface Seen {
  text: string;
  ino: number;
  mtimeMs: number;
}

async function inspect(path: string): Promise<Seen | null> {
  try {
    const [text, st] = await Promise.all([fs.readFile(path, 'utf8'), fs.stat(path)]);
    return { text, ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function isStale(seen: Seen, staleMs: number): boolean {
  const owner = parseOwner(seen.text);
  return (owner !== null && holderDead(owner)) || Date.now() - seen.mtimeMs > staleMs;
}

/**
 * Takes over a stale lock: under a second, short-lived `.break` lock (so two breakers never both
 * win), re-checks that it is the same stale lock and renames our own lock file over it, so there is
 * no moment without a lock. Returns the previous holder's intent, or null when not taken over.
 */
async function takeOver(o: LockOptions, path: string, owner: Owner): Promise<{ intent: Intent | undefined } | null> {
  const seen = await inspect(path);
  if (seen === null || !isStale(seen, o.staleMs)) return null;
  const brk = `${path}.break`;
  try {
    await fs.writeFile(brk, '', { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // A breaker that died mid-break leaves its file: it ages out like a lock.
    const st = await fs.stat(brk).catch(() => null);
    if (st && Date.now() - st.mtimeMs > o.staleMs) await fs.rm(brk, { force: true });
    return null;
  }
  try {
    const again = await inspect(path);
    if (again === null || again.ino !== seen.ino || again.text !== seen.text) return null;
    const intent = parseOwner(again.text)?.i;
    // The dead holder's intent stays in the file until it is recovered: a crash during recovery leaves it for the next taker.
    if (intent) owner.i = intent;
    await replaceFile(o.tmpDir, 'lock', path, JSON.stringify(owner), false);
    return { intent };
  } finally {
    await fs.rm(brk, { force: true });
  }
}

/**
 * Creates the lock with its content in one step: a temp file holding the owner, hard-linked to the
 * lock's name (link(2) fails when the name exists, atomically), so no lock is ever seen empty
 * (an empty one could only be judged by age). The temp file is reused across retries while fresh.
 */
class Creator {
  private tmp: string | undefined;
  private writtenAt = 0;

  constructor(
    private readonly o: LockOptions,
    private readonly path: string,
    private readonly owner: Owner,
  ) {}

  async attempt(): Promise<boolean> {
    if (this.tmp === undefined || Date.now() - this.writtenAt > this.o.staleMs / 4) {
      await this.done();
      this.writtenAt = Date.now();
      this.tmp = await writeTemp(this.o.tmpDir, 'lock', JSON.stringify(this.owner), false);
    }
    try {
      await fs.link(this.tmp, this.path);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  async done(): Promise<void> {
    if (this.tmp !== undefined) await fs.rm(this.tmp, { force: true });
    this.tmp = undefined;
  }
}

/**
 * Runs `fn` holding lock `name` (a file `<dir>/<name>.lock`). Waits (backing off up to 20 ms)
 * while a live holder has it, up to `timeoutMs` (then StoreError). A lock whose holder died on this
 * host is taken over at once; one from another host, or unreadable, after `staleMs`; a dead
 * holder's intent is handed to `recover` first. With `wait: false`, returns undefined instead of
 * waiting for a live holder. `meanwhile`, while a live holder has the lock, is asked before each
 * wait whether the call still needs it: a `{ value }` it gives is returned without the lock (a
 * rotation another caller has already made, read from the record, which is only ever replaced whole).
 */
export async function withLock<T>(
  o: LockOptions,
  name: string,
  fn: (held: Held) => Promise<T>,
  recover: Recover,
  wait = true,
  meanwhile?: () => Promise<{ value: T } | undefined>,
): Promise<T | undefined> {
  const path = join(o.dir, `${name}.lock`);
  const owner: Owner = { h: HOST, p: process.pid, t: randomBytes(9).toString('base64url') };
  const deadline = Date.now() + o.timeoutMs;
  let delay = 1;
  let inherited: Intent | undefined;
  const creator = new Creator(o, path, owner);
  try {
    for (;;) {
      if (await creator.attempt()) break;
      const taken = await takeOver(o, path, owner);
      if (taken !== null) {
        inherited = taken.intent;
        break;
      }
      if (!wait) return undefined;
      const settled = await meanwhile?.();
      if (settled !== undefined) return settled.value;
      if (Date.now() > deadline) throw new StoreError(`file store: record lock busy for ${o.timeoutMs} ms`);
      await new Promise(r => setTimeout(r, delay));
      delay = Math.min(delay * 2, 20);
    }
  } finally {
    await creator.done();
  }
  try {
    if (inherited) {
      await recover(inherited);
      delete owner.i;
    }
    const held: Held = {
      async intend(intent) {
        owner.i = intent;
        await replaceFile(o.tmpDir, 'lock', path, JSON.stringify(owner), o.fsync);
        if (o.fsync) await syncDir(o.dir);
      },
    };
    return await fn(held);
  } finally {
    // Not re-read to check it is still ours (that would double the cost of every lock): a holder
    // that stalled past staleMs may remove its successor's lock, as with any lock file judged by age.
    await fs.rm(path, { force: true });
  }
}

/** The names of the locks in `dir` that a dead or stale holder left (lock files, not `.break` files). */
export async function abandonedLocks(o: LockOptions): Promise<string[]> {
  const out: string[] = [];
  for (const file of await fs.readdir(o.dir)) {
    if (!file.endsWith('.lock')) continue;
    const seen = await inspect(join(o.dir, file)).catch(() => null);
    if (seen !== null && isStale(seen, o.staleMs)) out.push(file.slice(0, -'.lock'.length));
  }
  return out;
}

/** Removes `.break` files older than `staleMs` (a breaker died mid-break). */
export async function purgeBreakFiles(o: LockOptions): Promise<void> {
  for (const file of await fs.readdir(o.dir)) {
    if (!file.endsWith('.break')) continue;
    const st = await fs.stat(join(o.dir, file)).catch(() => null);
    if (st && Date.now() - st.mtimeMs > o.staleMs) await fs.rm(join(o.dir, file), { force: true });
  }
}
