// pnpm check:pack — packs every public package as it would be published and checks each tarball:
// no `workspace:` ranges, no development-only export condition, every export/main/types target
// present, LICENSE and README.md shipped, and every source map (and sourceMappingURL) resolving
// inside the tarball. Packs into a temporary directory; run `pnpm build` first.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, normalize, posix } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const out = mkdtempSync(join(tmpdir(), 'tessera-check-pack-'));
let failures = 0;

function targets(exp) {
  if (typeof exp === 'string') return [exp];
  if (exp === null || typeof exp !== 'object') return [];
  return Object.entries(exp).flatMap(([k, v]) => {
    if (k.startsWith('@tessera/')) return [`<condition ${k}>`];
    return targets(v);
  });
}

function walk(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e =>
    e.isDirectory() ? walk(join(dir, e.name), base) : [posix.normalize(join(dir, e.name).slice(base.length + 1))],
  );
}

try {
  for (const d of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', d);
    const src = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    if (src.private) continue;
    const dest = join(out, d);
    execFileSync('pnpm', ['pack', '--pack-destination', dest], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
    const tgz = join(dest, readdirSync(dest).find(f => f.endsWith('.tgz')));
    execFileSync('tar', ['xzf', tgz, '-C', dest]);
    const pkgDir = join(dest, 'package');
    const files = new Set(walk(pkgDir));
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const problems = [];
    const has = p => files.has(posix.normalize(p.replace(/^\.\//, '')));
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
      for (const [name, range] of Object.entries(pkg[field] ?? {})) if (String(range).startsWith('workspace:')) problems.push(`${field}.${name} is ${range}`);
    }
    for (const t of [pkg.main, pkg.types, ...targets(pkg.exports)].filter(Boolean)) {
      if (t.startsWith('<condition')) problems.push(`exports keeps the development ${t}`);
      else if (!t.includes('*') && !has(t)) problems.push(`points at ${t}, not in the tarball`);
    }
    for (const f of ['LICENSE', 'README.md']) if (!files.has(f)) problems.push(`${f} missing`);
    if (pkg.license !== 'MIT') problems.push(`license is ${pkg.license}`);
    let maps = 0;
    for (const f of files) {
      if (f.endsWith('.map')) {
        maps++;
        const map = JSON.parse(readFileSync(join(pkgDir, f), 'utf8'));
        for (const s of map.sources ?? []) {
          const target = normalize(join(dirname(f), map.sourceRoot ?? '', s));
          if (!files.has(target)) problems.push(`${f}: source ${s} not in the tarball`);
        }
      } else if (/\.(js|d\.ts)$/.test(f)) {
        const m = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(pkgDir, f), 'utf8'));
        if (m && !m[1].startsWith('data:') && !files.has(normalize(join(dirname(f), m[1])))) problems.push(`${f}: map ${m[1]} not in the tarball`);
      }
    }
    const size = statSync(tgz).size;
    const top = [...new Set([...files].map(f => f.split('/')[0]))].sort().join(', ');
    console.log(`${problems.length ? 'FAIL' : 'ok  '} ${pkg.name}@${pkg.version}: ${files.size} files (${top}), ${maps} maps, ${(size / 1024).toFixed(1)} kB`);
    for (const p of problems.slice(0, 20)) console.log(`       ${p}`);
    if (problems.length > 20) console.log(`       … and ${problems.length - 20} more`);
    failures += problems.length ? 1 : 0;
  }
} finally {
  if (existsSync(out)) rmSync(out, { recursive: true, force: true });
}
process.exit(failures ? 1 : 0);
