/**
 * Keeps what child processes (example servers, the CLI) print, for the CI log scan
 * (scripts/scan-logs.mjs): when CI_LOG_DIR is set, a child's output is appended to a
 * file there, and the secrets it was given are listed (one per line) for the scan to look for.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';

const dir = process.env.CI_LOG_DIR;
let n = 0;

/** The env values that must never appear in output. */
const SECRET_VARS = ['TESSERA_SECRET', 'TESSERA_SAFE_PASSWORD'];

export function captureOutput(name: string, child: ChildProcess, env: Record<string, string | undefined> = {}): void {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name.replace(/[^A-Za-z0-9_-]/g, '_')}-${process.pid}-${++n}.log`);
  const secrets = SECRET_VARS.flatMap(k => (env[k] ?? '').split(',')).map(s => s.trim()).filter(s => s.length >= 16);
  if (secrets.length > 0) appendFileSync(join(dir, 'secrets.list'), secrets.map(s => `${s}\n`).join(''));
  const write = (d: Buffer | string) => appendFileSync(file, d);
  child.stdout?.on('data', write);
  child.stderr?.on('data', write);
}
