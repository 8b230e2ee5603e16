/** Runs the built `tessera` command (packages/cli/dist/bin.js) as a child process, and fills stores for it. */
import { spawn } from 'node:child_process';
import { captureOutput } from '../support/log-capture.js';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createTessera, type HttpRequest, type TokenStore } from '@tessera/core';
import type { TokenRecord } from '@tessera/core/store';

export const ROOT = resolve(import.meta.dirname, '../..');
export const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment without the caller's TESSERA_* (and jest's NODE_OPTIONS), so each test sets exactly what it means. */
export function cleanEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('TESSERA_') && k !== 'NODE_OPTIONS') out[k] = v;
  return out;
}

export function assertBuilt(): void {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run pnpm build first`);
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'tessera-cli-'));
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Called with the child once spawned (e.g. to send it SIGINT). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

/** `node packages/cli/dist/bin.js ...args` in `cwd` with `env` added to a clean environment. */
export function runCommand(command: string, args: string[], o: RunOptions): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(command, args, { cwd: o.cwd, env: { ...cleanEnv(), ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    // `tessera secret` prints a secret by design: that output is the command's product, not a log.
    if (args[1] !== 'secret') captureOutput('cli', child, o.env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${command} ${args.join(' ')} did not finish in ${o.timeoutMs ?? 60_000} ms: ${stdout}${stderr}`));
    }, o.timeoutMs ?? 60_000);
    child.once('error', err => {
      clearTimeout(timer);
      rej(err);
    });
    child.once('close', code => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
    o.onSpawn?.(child);
  });
}

export function tessera(args: string[], o: RunOptions): Promise<RunResult> {
  return runCommand(process.execPath, [BIN, ...args], o);
}

/** Exit code 1, nothing on stdout, and exactly one line `tessera: ...` on stderr (no stack trace). */
export function expectOneLineFailure(r: RunResult): string {
  const lines = r.stderr.split('\n').filter(l => l !== '');
  if (r.code !== 1 || lines.length !== 1 || !lines[0]!.startsWith('tessera: ') || r.stdout !== '') {
    throw new Error(`expected exit 1 with one stderr line, got exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return lines[0]!;
}

/** Exit code 0, and stdout parsed as one JSON document on one line. */
export function json<T = any>(r: RunResult): T {
  if (r.code !== 0) throw new Error(`expected exit 0, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const lines = r.stdout.split('\n').filter(l => l !== '');
  if (lines.length !== 1) throw new Error(`expected one line of JSON, got: ${r.stdout}`);
  return JSON.parse(lines[0]!) as T;
}

export function ok(r: RunResult): string {
  if (r.code !== 0) throw new Error(`expected exit 0, got ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export const now = (): number => Math.floor(Date.now() / 1000);

/** A session record (`expiresIn` seconds from now; negative: already expired). */
export function sessionRecord(id: string, subject: string, o: { expiresIn?: number; revoked?: boolean; createdAgo?: number } = {}): TokenRecord {
  const t = now();
  return {
    id,
    kind: 'session',
    subject,
    family: id,
    createdAt: t - (o.createdAgo ?? 60),
    lastSeenAt: t - 10,
    expiresAt: t + (o.expiresIn ?? 3600),
    revokedAt: o.revoked ? t - 5 : null,
    user: { id: subject },
  };
}

/** A refresh-token record of session `family`. */
export function refreshRecord(id: string, family: string, subject: string): TokenRecord {
  const t = now();
  return { id, kind: 'refresh', subject, family, createdAt: t - 60, lastSeenAt: t - 60, expiresAt: t + 7200, revokedAt: null };
}

/**
 * The standard population: alice has two live sessions (s-alice-1 with a refresh token), bob one
 * live and one expired, carol one revoked.
 */
export async function populate(store: TokenStore): Promise<void> {
  await store.put(sessionRecord('s-alice-1', 'alice', { createdAgo: 300 }));
  await store.put(refreshRecord('r-alice-1', 's-alice-1', 'alice'));
  await store.put(sessionRecord('s-alice-2', 'alice', { createdAgo: 200 }));
  await store.put(sessionRecord('s-bob-1', 'bob', { createdAgo: 100 }));
  await store.put(sessionRecord('s-bob-old', 'bob', { createdAgo: 9000, expiresIn: -60 }));
  await store.put(sessionRecord('s-carol-1', 'carol', { revoked: true }));
}

function request(): HttpRequest {
  return { method: 'POST', path: '/auth/login', header: () => undefined, ip: '127.0.0.1', secure: false, body: async () => undefined };
}

/** Real sessions started by the core (pair mode) in `store`, which is closed after: returns their ids and every token handed out. */
export async function issueSessions(store: TokenStore, secret: string, users: string[]): Promise<{ ids: string[]; tokens: string[] }> {
  const core = createTessera({ store, secret, mode: 'pair', logger: false });
  const ids: string[] = [];
  const tokens: string[] = [];
  for (const id of users) {
    const r = await core.issue(request(), { id });
    if (!r.ok) throw new Error(`issue failed: ${r.error.code}`);
    ids.push(r.session.id);
    for (const c of r.cookies) tokens.push(decodeURIComponent(c.split(';')[0]!.split('=').slice(1).join('=')));
  }
  await core.close();
  return { ids, tokens };
}
