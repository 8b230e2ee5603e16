/** The CI log scan (scripts/scan-logs.mjs): finds tokens and configured secrets, and names where, never what. */
import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../support/example-server.js';

function scan(dir: string): Promise<{ code: number; out: string }> {
  return new Promise(res =>
    execFile(process.execPath, [join(ROOT, 'scripts', 'scan-logs.mjs'), dir], (err, stdout) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout })),
  );
}

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZS0xMjM0NTY';
const API = `tsr_${'a'.repeat(22)}.${'b'.repeat(43)}`;
const SECRET = 'a-configured-secret-0123456789-abcdef';

describe('scripts/scan-logs.mjs', () => {
  it('passes clean logs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-scan-'));
    writeFileSync(join(dir, 'app.log'), 'listening\nGET /api/me 401 TOKEN_EXPIRED\n');
    writeFileSync(join(dir, 'secrets.list'), `${SECRET}\n`);
    expect(await scan(dir)).toEqual({ code: 0, out: expect.stringContaining('0 found') });
  });

  it.each([
    ['a JWT', `token=${JWT}`],
    ['an API or job token', `Authorization: Bearer ${API}`],
    ['a configured secret', `secret is ${SECRET}!`],
  ])('fails on %s and names the file and line without printing it', async (what, line) => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-scan-'));
    writeFileSync(join(dir, 'app.log'), `ok\n${line}\n`);
    writeFileSync(join(dir, 'secrets.list'), `${SECRET}\n`);
    const r = await scan(dir);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`app.log:2: ${what}`);
    for (const s of [JWT, API, SECRET]) expect(r.out).not.toContain(s);
  });
});
