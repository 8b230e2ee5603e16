/**
 * The per-user and per-login indexes: `by-subject/<hash(subject)>/<id>` and
 * `by-family/<hash(family)>/<id>`, empty marker files, so revoking or listing a user or a login
 * reads that user's or that login's records, not the directory. A record whose family is its own
 * id (a session, an API token: the login itself) has no family entry: the family's lookup adds
 * the family id itself, which saves a directory per login. An entry is a hint: readers check
 * the record itself, so an entry left behind (a crash, a failed write, a record whose subject
 * changed) is harmless and `purgeExpired` removes it.
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';

export type IndexKind = 'subject' | 'family';

const ID_RE = /^[A-Za-z0-9_-]{1,200}$/;

/** A subject or family as a directory name: fixed length, any characters in, nothing to escape. */
export function keyHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

export class RecordIndex {
  readonly bySubject: string;
  readonly byFamily: string;

  constructor(root: string) {
    this.bySubject = join(root, 'by-subject');
    this.byFamily = join(root, 'by-family');
  }

  dir(kind: IndexKind, hash: string): string {
    return join(kind === 'subject' ? this.bySubject : this.byFamily, hash);
  }

  /**
   * Adds the entries of record `id` for `subject` and `family`, each unless present. Returns the
   * directories changed (an entry added, a directory made), which the caller syncs before writing
   * the record when it must survive a power loss, and whether an entry was there already.
   */
  async add(id: string, subject: string, family: string): Promise<{ changed: string[]; existed: boolean }> {
    const changed: string[] = [];
    const made = await Promise.all([
      this.mark(this.dir('subject', keyHash(subject)), id, changed),
      family === id ? true : this.mark(this.dir('family', keyHash(family)), id, changed),
    ]);
    return { changed, existed: made.includes(false) };
  }

  /** Creates one entry; false when it was there already. */
  private async mark(dir: string, id: string, changed: string[]): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.writeFile(join(dir, id), '', { flag: 'wx', mode: 0o600 });
        changed.push(dir);
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') return false;
        // No directory yet, or a purge just removed it as empty: make it (again).
        if (code !== 'ENOENT' || attempt >= 5) throw err;
      }
      if ((await fs.mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined) changed.push(dirname(dir));
    }
  }

  /** When an entry was written (its modification time), or null when absent. */
  async writtenAt(kind: IndexKind, hash: string, id: string): Promise<number | null> {
    const st = await fs.stat(join(this.dir(kind, hash), id)).catch(() => null);
    return st === null ? null : st.mtimeMs;
  }

  /** Removes the entries of record `id` (by hashes); absent ones are fine. The directories go once empty (purge). */
  async remove(id: string, subjectHash: string, familyHash: string): Promise<void> {
    await Promise.all([fs.rm(join(this.dir('subject', subjectHash), id), { force: true }), fs.rm(join(this.dir('family', familyHash), id), { force: true })]);
  }

  /** Removes one entry (a record that moved to another subject or family). */
  async drop(kind: IndexKind, hash: string, id: string): Promise<void> {
    await fs.rm(join(this.dir(kind, hash), id), { force: true });
  }

  /** Whether both entries of a record are present. */
  async has(id: string, subject: string, family: string): Promise<boolean> {
    const there = (p: string) => fs.access(p).then(
      () => true,
      () => false,
    );
    const [s, f] = await Promise.all([there(join(this.dir('subject', keyHash(subject)), id)), family === id || there(join(this.dir('family', keyHash(family)), id))]);
    return s && f;
  }

  /** The record ids filed under a subject or family (with a family, the family id too), sorted: candidates, each to be read and checked. */
  async ids(kind: IndexKind, value: string): Promise<string[]> {
    let names: string[] = [];
    try {
      names = await fs.readdir(this.dir(kind, keyHash(value)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const ids = new Set(names.filter(id => ID_RE.test(id)));
    if (kind === 'family' && ID_RE.test(value)) ids.add(value);
    return [...ids].sort();
  }

  /** Every index directory as [kind, hash] (for the purge's sweep). */
  async *buckets(): AsyncGenerator<[IndexKind, string]> {
    for (const kind of ['subject', 'family'] as const) {
      let names: string[];
      try {
        names = await fs.readdir(kind === 'subject' ? this.bySubject : this.byFamily);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for (const hash of names) yield [kind, hash];
    }
  }

  /** The entries of one bucket (all names, for the sweep). */
  async entries(kind: IndexKind, hash: string): Promise<string[]> {
    return fs.readdir(this.dir(kind, hash)).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return [];
      throw err;
    });
  }

  /** Removes a bucket directory if it is empty (a concurrent writer re-creates it, see `mark`). */
  async dropIfEmpty(kind: IndexKind, hash: string): Promise<void> {
    await fs.rmdir(this.dir(kind, hash)).catch(() => {});
  }
}
