/**
 * The directory's layout version, and the upgrade of a directory written by an earlier version:
 * version 1 (no `layout` file) had records only; version 2 adds the `by-subject` and `by-family`
 * indexes, built here from the records, in the background from the first open (the store scans
 * the directory, as version 1 did, until it is done).
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { TokenRecord } from '@tessera/core/store';
import { replaceFile, syncDir, syncDirs } from './durable.js';
import type { RecordIndex } from './record-index.js';

export const LAYOUT_VERSION = 2;
export const LAYOUT_FILE = 'layout';

/** Records indexed at once while rebuilding. */
const PARALLEL = 16;

export interface LayoutContext {
  root: string;
  tmpDir: string;
  index: RecordIndex;
  fsync: boolean;
  ids(): Promise<string[]>;
  read(id: string): Promise<TokenRecord | null>;
  /** Throws to abandon the rebuild (the store was closed); the next open starts again. */
  checkOpen(): void;
}

/** The version the directory says it has: 1 when it has no layout file (written before there was one). */
export async function layoutVersion(root: string): Promise<number> {
  try {
    const v = Number.parseInt((await fs.readFile(join(root, LAYOUT_FILE), 'utf8')).trim(), 10);
    return Number.isSafeInteger(v) && v > 0 ? v : 1;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 1;
    throw err;
  }
}

/**
 * Brings a version 1 directory to LAYOUT_VERSION: indexes every readable record, syncs the index
 * directories, then writes the layout file, so a crash midway leaves no layout file and the next
 * open rebuilds again (adding an entry is idempotent). Records written meanwhile index themselves;
 * an entry added for a record removed or moved meanwhile is a stray, harmless and purged. Two
 * processes opening at once both rebuild; that is harmless too. Returns how many records were indexed.
 */
export async function rebuildLayout(ctx: LayoutContext): Promise<number> {
  const ids = await ctx.ids();
  const changed = new Set<string>();
  let n = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      ctx.checkOpen();
      const rec = await ctx.read(ids[next++]!);
      if (rec === null) continue; // unreadable: indexed if it ever becomes readable (written again) or by a purge
      for (const d of (await ctx.index.add(rec.id, rec.subject, rec.family)).changed) changed.add(d);
      n++;
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  if (ctx.fsync) await syncDirs(changed);
  await replaceFile(ctx.tmpDir, 'layout', join(ctx.root, LAYOUT_FILE), `${LAYOUT_VERSION}\n`, ctx.fsync);
  if (ctx.fsync) await syncDir(ctx.root);
  return n;
}
