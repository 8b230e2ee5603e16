#!/usr/bin/env node
/**
 * Renders the README's options table and environment-variable table from the option declaration
 * (packages/core/src/option-table.ts) between their marker comments:
 *   <!-- options-table:start --> … <!-- options-table:end -->
 *   <!-- env-table:start --> … <!-- env-table:end -->
 *
 *   pnpm docs:options            rewrite README.md
 *   pnpm docs:options --check    exit 1 when README.md is out of date (what the jest test checks too)
 *
 * It first builds @tessera/config and @tessera/core (tsc -b), then imports the built renderer, so
 * the tables always come from the current source.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const readmePath = fileURLToPath(new URL('../README.md', import.meta.url));
const check = process.argv.includes('--check');

try {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-b', 'packages/config'], { cwd: root, stdio: 'inherit' });
} catch {
  console.error('docs:options: building packages/config failed (see above); fix the build, then run pnpm docs:options again.');
  process.exit(1);
}

const { renderReadmeTables } = await import('../packages/config/dist/readme.js');
const before = readFileSync(readmePath, 'utf8');
const after = renderReadmeTables(before);

if (after === before) {
  console.log('README.md: options and environment tables are up to date.');
} else if (check) {
  console.error('README.md: the options or environment table is out of date; run pnpm docs:options.');
  process.exit(1);
} else {
  writeFileSync(readmePath, after);
  console.log('README.md: options and environment tables updated.');
}
