/** Writing files so that a crash (of the process or of the machine) leaves either the old or the new content. */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Makes the entries of `dir` (files created, renamed or removed in it) survive a power loss.
 * Windows cannot open a directory for fsync, and NTFS journals its metadata anyway.
 */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Syncs several directories, up to 32 at once (a journalling file system commits them together). */
export async function syncDirs(dirs: Iterable<string>): Promise<void> {
  const todo = [...new Set(dirs)];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < todo.length) await syncDir(todo[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(32, todo.length) }, worker));
}

/** A new file in `tmpDir` holding `data`, flushed to disk first when `sync`; returns its path. */
export async function writeTemp(tmpDir: string, prefix: string, data: string, sync: boolean): Promise<string> {
  const tmp = join(tmpDir, `${prefix}.${randomBytes(6).toString('hex')}`);
  const h = await fs.open(tmp, 'wx', 0o600);
  try {
    await h.writeFile(data, 'utf8');
    if (sync) await h.sync();
  } catch (err) {
    await h.close().catch(() => {});
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await h.close();
  return tmp;
}

/**
 * Replaces `target` with `data` atomically: a temp file (flushed first when `sync`), then
 * rename(2) over the target, so a reader, or the file system after a crash, sees the old or the
 * new content, never a mix. The rename itself is made durable by the caller's `syncDir` of the
 * target's directory (once per batch of writes).
 */
export async function replaceFile(tmpDir: string, prefix: string, target: string, data: string, sync: boolean): Promise<void> {
  const tmp = await writeTemp(tmpDir, prefix, data, sync);
  try {
    await fs.rename(tmp, target);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
