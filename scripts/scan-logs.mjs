#!/usr/bin/env node
// The log scan CI runs after the tests: no token and no configured secret in any test output or
// child-process log. Prints where a match is and what kind, never the match itself.
// Usage: node scripts/scan-logs.mjs <file or directory>...   (exit 1 when anything is found)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const PATTERNS = [
  ['a JWT', /eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}/],
  ['an API or job token', /\bts[rj]_[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{32,128}/],
];

function files(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return [];
  if (!st.isDirectory()) return [path];
  return readdirSync(path).flatMap(name => files(join(path, name)));
}

const all = process.argv.slice(2).flatMap(files);
const secretLists = all.filter(f => f.endsWith('secrets.list'));
const secrets = [...new Set(secretLists.flatMap(f => readFileSync(f, 'utf8').split('\n')).filter(s => s.length >= 16))];
const logs = all.filter(f => !f.endsWith('secrets.list'));

let found = 0;
for (const file of logs) {
  const lines = readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const kinds = PATTERNS.filter(([, re]) => re.test(line)).map(([what]) => what);
    if (secrets.some(s => line.includes(s))) kinds.push('a configured secret');
    for (const what of kinds) {
      found++;
      if (found <= 20) console.log(`scan-logs: ${file}:${i + 1}: ${what}`);
    }
  });
}
console.log(`scan-logs: ${logs.length} logs, ${secrets.length} secrets looked for: ${found} found`);
process.exit(found === 0 ? 0 : 1);
