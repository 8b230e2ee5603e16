/** docs/security.md's case map and the attack corpus agree: every case has its row with its title and an ASVS requirement, and no row names a case that does not exist. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ATTACKS } from '../../packages/testkit/src/cases/attacks/index.js';

const doc = readFileSync(join(resolve(import.meta.dirname, '../..'), 'docs', 'security.md'), 'utf8');
/** Case map rows: id -> [title, ASVS column]. */
const rows = new Map([...doc.matchAll(/^\| (A\d+) \| (.+?) \| ([^|]+) \| [^|]+ \| [^|]+ \| [^|]+ \|$/gm)].map(m => [m[1]!, [m[2]!, m[3]!.trim()] as const]));

describe('docs/security.md case map', () => {
  it('has a row for every attack case, under its title', () => {
    const titles = (f: (id: string, title: string) => string | undefined) => Object.fromEntries(ATTACKS.map(a => [a.id, f(a.id, a.title)]));
    expect(titles(id => rows.get(id)?.[0])).toEqual(titles((_id, title) => title));
  });

  it('names no case the corpus lacks, and maps each to an ASVS 5.0 requirement', () => {
    expect([...rows.keys()].filter(id => !ATTACKS.some(a => a.id === id))).toEqual([]);
    expect([...rows].filter(([, [, asvs]]) => !/\b\d{1,2}\.\d\.\d{1,2}\b/.test(asvs)).map(([id]) => id)).toEqual([]);
  });
});
