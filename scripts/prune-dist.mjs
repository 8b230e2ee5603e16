// prepack of every published package (run in the package directory): `tsc -b` never deletes the
// output of a source file that was removed or renamed, and a tarball must not ship such files
// (their source maps would point at sources that are not in it). Deletes dist/ files without a
// source in src/; touches nothing else, so concurrent packs of several packages are safe.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';

if (!existsSync('dist')) {
  console.error(`${process.cwd()}: no dist/ to pack; run \`pnpm build\` at the repository root first`);
  process.exit(1);
}
const OUTPUT = /^(.*?)(\.d\.ts|\.js)(\.map)?$/;
let pruned = 0;
for (const entry of readdirSync('dist', { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const file = join(entry.parentPath ?? entry.path, entry.name);
  const m = OUTPUT.exec(relative('dist', file));
  if (m === null || existsSync(join('src', `${m[1]}.ts`))) continue;
  rmSync(file, { force: true });
  pruned++;
}
if (pruned > 0) console.error(`prune-dist: removed ${pruned} stale file(s) from ${relative(process.cwd(), 'dist') || 'dist'}`);
