/**
 * The `tessera` command's contract (packages/cli/README.md), checked from outside against the
 * built bin on the file store: every command, `--json` shapes, exit codes, one-line failures,
 * and that no token or secret is ever printed.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret, kidOf } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import { ROOT, assertBuilt, expectOneLineFailure, issueSessions, json, ok, populate, runCommand, sessionRecord, tempDir, tessera } from './support.js';

// Every test spawns the bin a few times: generous, for a loaded machine.
jest.setTimeout(120_000);

const dirs: string[] = [];
/** A fresh working directory for one test (the default store is ./.tessera in it). */
function cwd(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
beforeAll(assertBuilt);
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A working directory whose default store (./.tessera) holds the standard population. */
async function populated(): Promise<string> {
  const dir = cwd();
  const store = new FileStore({ dir: join(dir, '.tessera') });
  await populate(store);
  await store.close();
  return dir;
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

describe('usage', () => {
  it('prints usage with --help, for the program and every command', async () => {
    const dir = cwd();
    const top = ok(await tessera(['--help'], { cwd: dir }));
    for (const c of ['secret', 'setup', 'sessions', 'purge', 'keys', 'migrate']) expect(top).toContain(c);
    for (const c of [['secret'], ['setup'], ['sessions'], ['sessions', 'list'], ['sessions', 'revoke'], ['purge'], ['keys'], ['keys', 'list'], ['keys', 'rotate'], ['migrate']]) {
      const out = ok(await tessera([...c, '--help'], { cwd: dir }));
      expect(out).toContain(`Usage: tessera ${c.join(' ')}`);
    }
    const migrate = ok(await tessera(['migrate', '--help'], { cwd: dir }));
    for (const o of ['--from', '--to', '--abort', '--settle', '--batch', '--json']) expect(migrate).toContain(o);
    const revoke = ok(await tessera(['sessions', 'revoke', '--help'], { cwd: dir }));
    for (const o of ['--user', '--id', '--all', '--store', '--json']) expect(revoke).toContain(o);
  });

  it('fails with one line on no command, an unknown command or subcommand, an unknown option', async () => {
    const dir = cwd();
    expect(expectOneLineFailure(await tessera([], { cwd: dir }))).toMatch(/missing command/);
    expect(expectOneLineFailure(await tessera(['frobnicate'], { cwd: dir }))).toMatch(/unknown command 'frobnicate'/);
    expect(expectOneLineFailure(await tessera(['sesions', 'list'], { cwd: dir }))).toMatch(/unknown command 'sesions'.*sessions/);
    expect(expectOneLineFailure(await tessera(['sessions'], { cwd: dir }))).toMatch(/missing command: list or revoke/);
    expect(expectOneLineFailure(await tessera(['sessions', 'show'], { cwd: dir }))).toMatch(/unknown command 'show'/);
    expect(expectOneLineFailure(await tessera(['keys'], { cwd: dir }))).toMatch(/missing command/);
    expect(expectOneLineFailure(await tessera(['sessions', 'list', '--bogus'], { cwd: dir }))).toMatch(/unknown option '--bogus'/);
    expect(expectOneLineFailure(await tessera(['sessions', 'list', '--store'], { cwd: dir }))).toMatch(/--store/);
    expect(expectOneLineFailure(await tessera(['secret', 'extra'], { cwd: dir }))).toMatch(/too many arguments|unknown command/);
  });
});

describe('tessera secret', () => {
  it('prints a new 256-bit base64url secret on one line, or {"secret"} with --json', async () => {
    const dir = cwd();
    const a = ok(await tessera(['secret'], { cwd: dir }));
    const b = ok(await tessera(['secret'], { cwd: dir }));
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(Buffer.from(a.trim(), 'base64url')).toHaveLength(32);
    expect(a).not.toBe(b);
    const j = json(await tessera(['secret', '--json'], { cwd: dir }));
    expect(Object.keys(j)).toEqual(['secret']);
    expect(j.secret).toMatch(SECRET_RE);
    // Needs no store and no configuration: it even helps while TESSERA_SECRET holds a bad value.
    expect(ok(await tessera(['secret'], { cwd: dir, env: { TESSERA_SECRET: 'tiny', TESSERA_STORE: 'ftp://x' } }))).toMatch(/^[A-Za-z0-9_-]{43}\n$/);
    expect(existsSync(join(dir, '.tessera'))).toBe(false);
  });

  it('works as `pnpm tessera secret` from the repository root', async () => {
    const r = await runCommand('pnpm', ['tessera', 'secret'], { cwd: ROOT, timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    const last = r.stdout.trim().split('\n').pop();
    expect(last).toMatch(SECRET_RE);
    const silent = await runCommand('pnpm', ['--silent', 'tessera', 'secret', '--json'], { cwd: ROOT, timeoutMs: 60_000 });
    expect(JSON.parse(silent.stdout).secret).toMatch(SECRET_RE);
  });
});

describe('tessera setup', () => {
  it('says the file store needs no setup and exits 0', async () => {
    const dir = cwd();
    expect(ok(await tessera(['setup'], { cwd: dir }))).toMatch(/needs no setup/);
    expect(json(await tessera(['setup', '--json'], { cwd: dir }))).toEqual({ setup: false });
    expect(json(await tessera(['setup', '--json', '--store', 'memory:'], { cwd: dir }))).toEqual({ setup: false });
  });
});

describe('tessera sessions list', () => {
  it('lists every live session as a table: full id, user, created, last seen, expires', async () => {
    const dir = await populated();
    const out = ok(await tessera(['sessions', 'list'], { cwd: dir }));
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^SESSION ID\s+USER\s+CREATED\s+LAST SEEN\s+EXPIRES$/);
    expect(lines).toHaveLength(4);
    // Oldest first; full ids.
    expect(lines.slice(1).map(l => l.split(/\s+/).slice(0, 2))).toEqual([
      ['s-alice-1', 'alice'],
      ['s-alice-2', 'alice'],
      ['s-bob-1', 'bob'],
    ]);
    for (const l of lines.slice(1)) expect(l.split(/\s+/).slice(2)).toEqual([expect.stringMatching(ISO), expect.stringMatching(ISO), expect.stringMatching(ISO)]);
    expect(out).not.toMatch(/s-bob-old|s-carol-1|r-alice-1/);
  });

  it('--json: {"sessions":[{id,user,createdAt,lastSeenAt,expiresAt}]} with ISO 8601 times; --user filters', async () => {
    const dir = await populated();
    const all = json(await tessera(['sessions', 'list', '--json'], { cwd: dir }));
    expect(Object.keys(all)).toEqual(['sessions']);
    expect(all.sessions.map((s: { id: string }) => s.id)).toEqual(['s-alice-1', 's-alice-2', 's-bob-1']);
    for (const s of all.sessions) {
      expect(Object.keys(s).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastSeenAt', 'user']);
      expect(s.createdAt).toMatch(ISO);
      expect(s.lastSeenAt).toMatch(ISO);
      expect(Date.parse(s.expiresAt)).toBeGreaterThan(Date.now());
    }
    const alice = json(await tessera(['sessions', 'list', '--user', 'alice', '--json'], { cwd: dir }));
    expect(alice.sessions.map((s: { id: string; user: string }) => [s.id, s.user])).toEqual([
      ['s-alice-1', 'alice'],
      ['s-alice-2', 'alice'],
    ]);
    expect(json(await tessera(['sessions', 'list', '--user', 'carol', '--json'], { cwd: dir }))).toEqual({ sessions: [] });
    expect(ok(await tessera(['sessions', 'list', '--user', 'nobody'], { cwd: dir }))).toBe('no live sessions for user nobody\n');
    expect(ok(await tessera(['sessions', 'list'], { cwd: cwd() }))).toBe('no live sessions\n');
  });

  it('pages through more sessions than one store page holds', async () => {
    const dir = cwd();
    const store = new FileStore({ dir: join(dir, '.tessera') });
    for (let i = 0; i < 620; i++) await store.put(sessionRecord(`s-${String(i).padStart(4, '0')}`, `u${i % 7}`));
    await store.close();
    const all = json(await tessera(['sessions', 'list', '--json'], { cwd: dir }));
    expect(new Set(all.sessions.map((s: { id: string }) => s.id)).size).toBe(620);
    const u3 = json(await tessera(['sessions', 'list', '--json', '--user', 'u3'], { cwd: dir }));
    expect(u3.sessions).toHaveLength(Array.from({ length: 620 }, (_, i) => i).filter(i => i % 7 === 3).length);
  });

  it('--store overrides TESSERA_STORE, which overrides ./.tessera', async () => {
    const dir = await populated();
    const empty = cwd();
    const fromEnv = json(await tessera(['sessions', 'list', '--json'], { cwd: empty, env: { TESSERA_STORE: `file:${join(dir, '.tessera')}` } }));
    expect(fromEnv.sessions).toHaveLength(3);
    const overridden = json(
      await tessera(['sessions', 'list', '--json', '--store', `file:${join(dir, '.tessera')}`], { cwd: empty, env: { TESSERA_STORE: `file:${join(empty, 'other')}` } }),
    );
    expect(overridden.sessions).toHaveLength(3);
    expect(json(await tessera(['sessions', 'list', '--json', '--store', `file:${join(empty, 'other')}`], { cwd: dir })).sessions).toEqual([]);
  });
});

describe('tessera sessions revoke', () => {
  it('revokes a session with its refresh tokens (--id), a user (--user), everything (--all), and prints how many', async () => {
    const dir = await populated();
    expect(json(await tessera(['sessions', 'revoke', '--id', 's-alice-1', '--json'], { cwd: dir }))).toEqual({ revoked: 2 });
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir })).sessions.map((s: { id: string }) => s.id)).toEqual(['s-alice-2', 's-bob-1']);
    // Every unrevoked record of bob's, the expired one included.
    expect(ok(await tessera(['sessions', 'revoke', '--user', 'bob'], { cwd: dir }))).toBe('revoked 2 records\n');
    expect(ok(await tessera(['sessions', 'revoke', '--all'], { cwd: dir }))).toBe('revoked 1 record\n');
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir }))).toEqual({ sessions: [] });
    expect(json(await tessera(['sessions', 'revoke', '--all', '--json'], { cwd: dir }))).toEqual({ revoked: 0 });
    expect(json(await tessera(['sessions', 'revoke', '--id', 'no-such-session', '--json'], { cwd: dir }))).toEqual({ revoked: 0 });
  });

  it('takes exactly one of --user, --id, --all', async () => {
    const dir = await populated();
    for (const args of [[], ['--user', 'alice', '--all'], ['--id', 's-bob-1', '--user', 'bob'], ['--user', 'a', '--id', 'b', '--all'], ['--user', ''], ['--all', '--json', '--id', 'x']]) {
      expect(expectOneLineFailure(await tessera(['sessions', 'revoke', ...args], { cwd: dir }))).toMatch(/exactly one of --user|must not be empty/);
    }
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir })).sessions).toHaveLength(3);
  });
});

describe('tessera purge', () => {
  it('deletes expired and revoked records and prints the count', async () => {
    const dir = await populated();
    expect(json(await tessera(['purge', '--json'], { cwd: dir }))).toEqual({ purged: 2 });
    expect(ok(await tessera(['purge'], { cwd: dir }))).toBe('purged 0 records\n');
    expect(json(await tessera(['sessions', 'list', '--json'], { cwd: dir })).sessions).toHaveLength(3);
    await tessera(['sessions', 'revoke', '--user', 'alice'], { cwd: dir });
    expect(ok(await tessera(['purge'], { cwd: dir }))).toBe('purged 3 records\n');
  });
});

describe('tessera keys', () => {
  it('list: says no secret is generated yet, without creating one', async () => {
    const dir = cwd();
    expect(ok(await tessera(['keys', 'list'], { cwd: dir }))).toMatch(/^no signing secret yet/);
    expect(json(await tessera(['keys', 'list', '--json'], { cwd: dir }))).toEqual({ keys: [] });
    expect(existsSync(join(dir, '.tessera', 'secret'))).toBe(false);
  });

  it('list: the kid of TESSERA_SECRET (a keyring: the first signs), never the secret', async () => {
    const dir = cwd();
    const [a, b] = [generateSecret(), generateSecret()];
    const one = await tessera(['keys', 'list'], { cwd: dir, env: { TESSERA_SECRET: a } });
    expect(ok(one)).toMatch(new RegExp(`^${kidOf(a)}\\s+sign\\s+TESSERA_SECRET\\n$`));
    expect(json(await tessera(['keys', 'list', '--json'], { cwd: dir, env: { TESSERA_SECRET: `${a},${b}` } }))).toEqual({
      keys: [
        { kid: kidOf(a), use: 'sign', source: 'TESSERA_SECRET' },
        { kid: kidOf(b), use: 'verify', source: 'TESSERA_SECRET' },
      ],
    });
    expect(one.stdout + one.stderr).not.toContain(a);
  });

  it('list: the kid of the secret a server generated into the store, never the secret', async () => {
    const dir = cwd();
    const store = new FileStore({ dir: join(dir, '.tessera') });
    const secret = await store.initSecret(generateSecret());
    await store.close();
    const r = await tessera(['keys', 'list', '--json'], { cwd: dir });
    expect(json(r)).toEqual({ keys: [{ kid: kidOf(secret), use: 'sign', source: 'store' }] });
    const text = await tessera(['keys', 'list'], { cwd: dir });
    expect(ok(text)).toContain(kidOf(secret));
    expect(r.stdout + r.stderr + text.stdout + text.stderr).not.toContain(secret);
  });

  it('rotate: adds a verify-only key, promotes it once published (--now: at once), the old one retiring; list shows the keyring', async () => {
    const dir = cwd();
    const store = new FileStore({ dir: join(dir, '.tessera') });
    const secret = await store.initSecret(generateSecret());
    await store.close();
    const added = json(await tessera(['keys', 'rotate', '--json'], { cwd: dir }));
    expect(added).toMatchObject({ action: 'added', retired: [] });
    expect(added.kid).not.toBe(kidOf(secret));
    // HMAC: published once every server re-read the keyring (two 30 s periods).
    expect(Date.parse(added.readyAt) / 1000 - Date.now() / 1000).toBeGreaterThan(50);
    expect(json(await tessera(['keys', 'rotate', '--json'], { cwd: dir }))).toMatchObject({ action: 'waiting', kid: added.kid, readyAt: added.readyAt });
    const listed = json(await tessera(['keys', 'list', '--json'], { cwd: dir })).keys as { kid: string; use: string; state: string }[];
    expect(listed.map(k => [k.kid, k.use, k.state])).toEqual([
      [kidOf(secret), 'sign', 'signing'],
      [added.kid, 'verify', 'next'],
    ]);
    const promoted = await tessera(['keys', 'rotate', '--now'], { cwd: dir });
    expect(ok(promoted)).toMatch(new RegExp(`^${added.kid} signs now; ${kidOf(secret)} verifies until \\S+Z, then retires\n$`));
    const after = json(await tessera(['keys', 'list', '--json'], { cwd: dir })).keys as { kid: string; state: string }[];
    expect(after.map(k => [k.kid, k.state])).toEqual([
      [added.kid, 'signing'],
      [kidOf(secret), 'retiring'],
    ]);
    expect(promoted.stdout + promoted.stderr).not.toContain(secret);
  });

  it('rotate: configured keys are rotated by configuration, not in the store', async () => {
    const dir = cwd();
    const line = expectOneLineFailure(await tessera(['keys', 'rotate'], { cwd: dir, env: { TESSERA_SECRET: generateSecret() } }));
    expect(line).toMatch(/keys come from TESSERA_SECRET: rotate them there/);
    expect(expectOneLineFailure(await tessera(['keys', 'rotate'], { cwd: dir, env: { TESSERA_STORE: 'memory:' } }))).toMatch(/cannot keep a keyring/);
  });
});

describe('failures: exit 1, one line on stderr', () => {
  it('an unknown store scheme names where the URL came from and hides its password', async () => {
    const dir = cwd();
    for (const cmd of [['sessions', 'list'], ['setup'], ['sessions', 'revoke', '--all']]) {
      const viaEnv = expectOneLineFailure(await tessera(cmd, { cwd: dir, env: { TESSERA_STORE: 'ftp://admin:hunter2@files.example' } }));
      expect(viaEnv).toMatch(/TESSERA_STORE: unsupported store URL/);
      expect(viaEnv).not.toContain('hunter2');
      const viaFlag = expectOneLineFailure(await tessera([...cmd, '--store', 'ftp://admin:hunter2@files.example'], { cwd: dir }));
      expect(viaFlag).toMatch(/--store: unsupported store URL/);
      expect(viaFlag).not.toContain('hunter2');
    }
  });

  it('an unreachable Redis fails promptly with the reason, password hidden', async () => {
    const dir = cwd();
    for (const cmd of [['sessions', 'list', '--user', 'alice'], ['sessions', 'revoke', '--all'], ['purge', '--json']]) {
      const t0 = Date.now();
      const line = expectOneLineFailure(await tessera(cmd, { cwd: dir, env: { TESSERA_STORE: 'redis://user:hunter2@127.0.0.1:1' } }));
      expect(Date.now() - t0).toBeLessThan(15_000); // a 2 s connect timeout, on a loaded machine
      expect(line).toMatch(/store unavailable/);
      expect(line).not.toContain('hunter2');
    }
  });

  it('a bad TESSERA_* value: the ConfigError naming the variable', async () => {
    const dir = cwd();
    const cases: [string, string, string[]][] = [
      ['TESSERA_TTL', 'forever', ['sessions', 'list']],
      ['TESSERA_COOKIE_SECURE', 'perhaps', ['purge']],
      ['TESSERA_MODE', 'triple', ['setup']],
      ['TESSERA_SECRET', 'tiny-secret-value', ['keys', 'list']],
      ['TESSERA_SECRET', 'tiny-secret-value', ['sessions', 'revoke', '--all']],
    ];
    for (const [name, value, cmd] of cases) {
      const line = expectOneLineFailure(await tessera(cmd, { cwd: dir, env: { [name]: value } }));
      expect(line).toContain(`configuration error: ${name}:`);
      if (name === 'TESSERA_SECRET') expect(line).not.toContain(value);
    }
  });
});

describe('secrets and tokens are never printed', () => {
  it('no output of any command contains TESSERA_SECRET or an issued token (secret prints only its own)', async () => {
    const dir = cwd();
    const secret = generateSecret();
    const issued = await issueSessions(new FileStore({ dir: join(dir, '.tessera') }), secret, ['alice', 'bob']);
    expect(issued.tokens.length).toBeGreaterThanOrEqual(4);
    const env = { TESSERA_SECRET: secret };
    const runs = [
      ['sessions', 'list'],
      ['sessions', 'list', '--json'],
      ['sessions', 'list', '--user', 'alice', '--json'],
      ['keys', 'list'],
      ['keys', 'list', '--json'],
      ['keys', 'rotate'],
      ['setup'],
      ['purge', '--json'],
      ['migrate', '--to', `file:${join(dir, 'target')}`],
      ['migrate'],
      ['sessions', 'list', '--store', 'ftp://x'],
      ['sessions', 'list', '--store', 'redis://127.0.0.1:1'],
      ['sessions', 'revoke', '--id', issued.ids[0]!, '--json'],
      ['sessions', 'revoke', '--all'],
      ['--help'],
    ];
    let seen = '';
    for (const args of runs) {
      const r = await tessera(args, { cwd: dir, env, timeoutMs: 30_000 });
      seen += r.stdout + r.stderr;
      expect(r.stdout + r.stderr).not.toContain(secret);
      for (const t of issued.tokens) expect(r.stdout + r.stderr).not.toContain(t);
    }
    // The listings did show the sessions (so the check above looked at real output).
    for (const id of issued.ids) expect(seen).toContain(id);
    const own = ok(await tessera(['secret'], { cwd: dir, env }));
    expect(own.trim()).toMatch(SECRET_RE);
    expect(own).not.toContain(secret);
  });
});
