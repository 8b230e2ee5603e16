#!/usr/bin/env node
/**
 * Top self-time functions of a V8 .cpuprofile (as written by `node bench/run.mjs --cpu-prof`):
 *   node bench/profile-top.mjs FILE.cpuprofile [--top 25] [--filter packages/]
 * --filter keeps only functions whose script URL contains the text (e.g. `packages/` for
 * Tessera's own code); percentages stay relative to the whole profile.
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find(a => !a.startsWith('--') && !/^\d+$/.test(a));
const opt = name => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
if (!file) {
  console.error('usage: node bench/profile-top.mjs FILE.cpuprofile [--top 25] [--filter TEXT]');
  process.exit(2);
}
const top = Number(opt('--top') ?? 25);
const filter = opt('--filter');

const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map(n => [n.id, n]));
const self = new Map();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
}

// Aggregate nodes of the same function (one function appears under many call paths).
const fns = new Map();
for (const [id, us] of self) {
  const { functionName, url, lineNumber, columnNumber } = byId.get(id).callFrame;
  const where = url ? `${url.replace(/^file:\/\//, '').replace(/.*\/node_modules\/\.pnpm\/[^/]+\/node_modules\//, '~/')}:${lineNumber + 1}:${columnNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`;
  const e = fns.get(key) ?? { name: functionName || '(anonymous)', where, url, us: 0 };
  e.us += us;
  fns.set(key, e);
}

const rows = [...fns.values()].filter(f => !filter || (f.url ?? '').includes(filter)).sort((a, b) => b.us - a.us).slice(0, top);
const selected = [...fns.values()].filter(f => !filter || (f.url ?? '').includes(filter)).reduce((s, f) => s + f.us, 0);
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled${filter ? `, ${((selected / total) * 100).toFixed(1)}% of it in "${filter}"` : ''}`);
console.log(`${'self ms'.padStart(8)}  ${'self %'.padStart(6)}  function`);
for (const r of rows) {
  console.log(`${(r.us / 1000).toFixed(1).padStart(8)}  ${((r.us / total) * 100).toFixed(1).padStart(6)}  ${r.name}  ${r.where}`);
}
