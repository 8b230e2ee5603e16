/**
 * Two Node processes share one file-store directory (a shared volume) and race `rotate` on the
 * same id: the O_EXCL record lock must make exactly one call win across both processes,
 * `initSecret` must agree, concurrent `hit`s of one counter must each count once, and concurrent
 * `countReuse` calls (counted together per process: one lock and one synced write for the calls
 * that waited together) must count exactly up to the limit across both. The children run the
 * built package (dist/), so `tsc -b` runs first.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import type { TokenRecord } from '@tessera/core/store';
import { FileStore } from '@tessera/store-file';

const DIST = fileURLToPath(new URL('../../packages/store-file/dist/index.js', import.meta.url));
const ROUNDS = 5;
const PER_PROCESS = 50;

/** Child: waits for a command per line on stdin, answers one JSON line per command on stdout. */
const WORKER = `
import { createInterface } from 'node:readline';
import { FileStore } from ${JSON.stringify(pathToFileURL(DIST).href)};
const [dir, name, count] = process.argv.slice(2);
const store = new FileStore({ dir, lockTimeoutMs: 30000 });
const reply = v => process.stdout.write(JSON.stringify(v) + '\\n');
reply({ ready: name });
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  if (cmd.op === 'rotate') {
    const nexts = Array.from({ length: Number(count) }, (_, i) => ({ ...cmd.template, id: name + '_' + cmd.round + '_' + i }));
    const results = await Promise.all(nexts.map(n => store.rotate(cmd.usedId, n, cmd.now).then(r => r.status, e => 'error:' + (e.code ?? e.message))));
    reply({ round: cmd.round, ids: nexts.map(n => n.id), results });
  } else if (cmd.op === 'hit') {
    const counts = await Promise.all(Array.from({ length: Number(count) }, () => store.hit(cmd.key, 60, cmd.now).then(r => r.count, e => 'error:' + (e.code ?? e.message))));
    reply({ counts });
  } else if (cmd.op === 'reuse') {
    const counted = await Promise.all(Array.from({ length: Number(count) }, () => store.countReuse(cmd.id, cmd.limit).then(r => r, e => 'error:' + (e.code ?? e.message))));
    reply({ counted });
  } else if (cmd.op === 'secret') {
    const got = await Promise.all([store.initSecret(name + '-a-' + cmd.salt), store.initSecret(name + '-b-' + cmd.salt)]);
    reply({ secret: got });
  } else {
    await store.close();
    process.exit(0);
  }
}
`;

interface Child {
  proc: ChildProcessWithoutNullStreams;
  next(): Promise<Record<string, unknown>>;
}

function startChild(script: string, dir: string, name: string): Child {
  const proc = spawn(process.execPath, [script, dir, name, String(PER_PROCESS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  return {
    proc,
    async next() {
      const { value, done } = await lines.next();
      if (done) throw new Error(`child ${name} exited: ${stderr.slice(0, 2000)}`);
      return JSON.parse(value as string) as Record<string, unknown>;
    },
  };
}

describe('file store across processes', () => {
  const root = mkdtempSync(join(tmpdir(), 'tessera-file-mp-'));
  const children: Child[] = [];
  afterAll(() => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    rmSync(root, { recursive: true, force: true });
  });

  it('two processes racing rotate on one id: exactly one winner per round; initSecret agrees; concurrent hits count 1..N', async () => {
    expect(existsSync(DIST)).toBe(true); // built by `tsc -b` before jest
    const dir = join(root, 'store');
    const script = join(root, 'worker.mjs');
    writeFileSync(script, WORKER);
    const store = new FileStore({ dir });
    children.push(startChild(script, dir, 'p1'), startChild(script, dir, 'p2'));
    for (const c of children) expect(await c.next()).toHaveProperty('ready');

    const now = Math.floor(Date.now() / 1000);
    for (let round = 0; round < ROUNDS; round++) {
      const used: TokenRecord = {
        id: `used_${round}_${now}`,
        kind: 'refresh',
        subject: 'u1',
        family: `fam_${round}`,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + 3600,
        revokedAt: null,
      };
      await store.put(used);
      const cmd = JSON.stringify({ op: 'rotate', round, usedId: used.id, now, template: { ...used, id: undefined } }) + '\n';
      for (const c of children) c.proc.stdin.write(cmd); // both start at once
      const replies = await Promise.all(children.map(c => c.next()));
      const results = replies.flatMap(r => r.results as string[]);
      const ids = replies.flatMap(r => r.ids as string[]);
      expect({ round, rotated: results.filter(s => s === 'rotated').length, conflict: results.filter(s => s === 'conflict').length }).toEqual({
        round,
        rotated: 1,
        conflict: 2 * PER_PROCESS - 1,
      });
      // Both processes took part in the race (each lost at least once).
      for (const r of replies) expect((r.results as string[]).filter(s => s === 'conflict').length).toBeGreaterThan(0);
      const winner = ids[results.indexOf('rotated')]!;
      expect((await store.get(used.id))?.replacedBy).toBe(winner);
      const stored = (await Promise.all(ids.map(id => store.get(id)))).filter(r => r !== null).map(r => r!.id);
      expect(stored).toEqual([winner]);
    }

    const salt = Date.now().toString(36);
    for (const c of children) c.proc.stdin.write(JSON.stringify({ op: 'secret', salt }) + '\n');
    const secrets = (await Promise.all(children.map(c => c.next()))).flatMap(r => r.secret as string[]);
    expect(new Set(secrets).size).toBe(1);
    expect(await store.initSecret('parent-candidate')).toBe(secrets[0]);
    expect(secrets[0]).toMatch(new RegExp(`^p[12]-[ab]-${salt}$`));

    // Attempt counters: 2 x PER_PROCESS concurrent hits of one key from both processes count 1..N, each once.
    const key = `mp:${salt}`;
    for (const c of children) c.proc.stdin.write(JSON.stringify({ op: 'hit', key, now }) + '\n');
    const counts = (await Promise.all(children.map(c => c.next()))).flatMap(r => r.counts as number[]);
    expect([...counts].sort((a, b) => a - b)).toEqual(Array.from({ length: 2 * PER_PROCESS }, (_, i) => i + 1));
    expect(await store.hit(key, 60, now, 0)).toEqual({ count: 2 * PER_PROCESS, resetAt: now + 60 });

    // Reuse counts: 2 x PER_PROCESS concurrent countReuse calls from both processes, limit 70: exactly 70 counted (3 rounds).
    for (let round = 0; round < 3; round++) {
      const r: TokenRecord = { id: `reuse_${round}_${now}`, kind: 'refresh', subject: 'u1', family: 'fam_reuse', createdAt: now, lastSeenAt: now, expiresAt: now + 3600, revokedAt: null, rotatedAt: now, replacedBy: 'next', reuseCount: round * 10 };
      await store.put(r);
      for (const c of children) c.proc.stdin.write(JSON.stringify({ op: 'reuse', id: r.id, limit: 70 }) + '\n');
      const replies = await Promise.all(children.map(c => c.next()));
      const counted = replies.flatMap(x => x.counted as unknown[]);
      expect({ round, counted: counted.filter(x => x === true).length, refused: counted.filter(x => x === false).length }).toEqual({ round, counted: 70 - round * 10, refused: 2 * PER_PROCESS - (70 - round * 10) });
      expect(counted.filter(x => x !== true && x !== false)).toEqual([]); // no call failed
      expect((await store.get(r.id))?.reuseCount).toBe(70);
    }

    for (const c of children) c.proc.stdin.end(JSON.stringify({ op: 'exit' }) + '\n');
    await store.close();
  }, 90_000);
});
