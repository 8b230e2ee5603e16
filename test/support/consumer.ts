/**
 * Helpers for the consumer tests (test/consumer): pack the public packages the way they are
 * published, install the tarballs with npm into fresh apps outside the workspace, run commands
 * and start the apps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { freePort, ROOT } from './example-server.js';

export { freePort, ROOT };

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved as they arrived. */
  output: string;
  ms: number;
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/**
 * The environment for tools run on behalf of a consumer: the caller's, without what pnpm, jest
 * and npm scripts add (npm_package_*, NODE_OPTIONS=--experimental-vm-modules, ...) and without
 * TESSERA_*, so an app sees exactly what a test gives it.
 */
export function consumerEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('TESSERA_')) continue;
    if (/^(npm_(package|lifecycle|command|execpath|node_execpath)|npm_config_(user_agent|verify_deps_before_run|node_gyp)$|pnpm_|PNPM_|INIT_CWD$|JEST_WORKER_ID$)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, NODE_OPTIONS: '', ...extra };
}

/** Runs a command to completion; never throws (a missing command is code null with the error in stderr). */
export function run(cmd: string, args: string[], { cwd, env = consumerEnv(), timeoutMs = 180_000 }: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  return new Promise(resolve => {
    let stdout = '';
    let stderr = '';
    let output = '';
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => {
      const note = `\n[killed after ${timeoutMs} ms]`;
      stderr += note;
      output += note;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => ((stdout += d), (output += d)));
    child.stderr.on('data', (d: Buffer) => ((stderr += d), (output += d)));
    let settled = false;
    const finish = (code: number | null, extra = '') => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ code, stdout, stderr: stderr + extra, output: output + extra, ms: Math.round(performance.now() - t0) });
    };
    child.once('error', err => finish(null, `\n${cmd}: ${err.message}`));
    child.once('close', code => finish(code));
  });
}

/** Runs `fn` over `items` with at most `limit` running at once. */
export function limiter(limit: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  const next = () => {
    if (active >= limit) return;
    const start = queue.shift();
    if (start) {
      active++;
      start();
    }
  };
  return fn =>
    new Promise((resolve, reject) => {
      queue.push(() =>
        fn()
          .then(resolve, reject)
          .finally(() => {
            active--;
            next();
          }),
      );
      next();
    });
}

export function isCi(): boolean {
  const ci = process.env.CI;
  return !!ci && ci !== 'false' && ci !== '0';
}

/**
 * Whether npm reaches its registry (`npm ping`, with npm's own configuration: registry, proxy,
 * auth): false when it does, else the reason. Never waits longer than 15 s.
 */
export async function registryUnreachable(): Promise<string | false> {
  const r = await run('npm', ['ping', '--fetch-retries=0', '--fetch-timeout=10000'], { cwd: tmpdir(), timeoutMs: 15_000 });
  if (r.code === 0) return false;
  const why = r.output.trim().split('\n').filter(l => /ERR|error|killed|npm:/i.test(l)).slice(0, 3).join(' | ') || `exit code ${r.code}`;
  return `npm cannot reach its registry (npm ping: ${why.slice(0, 300)})`;
}

/** Prints the loud skip banner the store suites use. */
export function announceSkip(what: string, why: string): void {
  console.warn(`\n${'!'.repeat(78)}\n!! SKIPPING ${what}: ${why}\n!! These tests did not run. Under CI (CI set) they run and fail instead.\n${'!'.repeat(78)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Packing

export interface PackedPackage {
  name: string;
  version: string;
  dir: string;
  tarball: string;
}

/** packages/<dir> whose package.json is not private: what gets published. */
export function publicPackages(): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const d of readdirSync(join(ROOT, 'packages')).sort()) {
    const file = join(ROOT, 'packages', d, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name: string; private?: boolean };
    if (pkg.private === true) continue;
    out.push({ name: pkg.name, dir: join(ROOT, 'packages', d) });
  }
  return out;
}

/** Every file of a package directory except node_modules and build info, sorted. */
function packageFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name.endsWith('.tsbuildinfo')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/**
 * The cache key of a pack: git HEAD plus a hash of everything pnpm could put into the tarballs
 * (dist, package.json with its publishConfig, README, LICENSE, ...) and the workspace versions
 * `workspace:` ranges are rewritten to.
 */
function packKey(pkgs: { name: string; dir: string }[]): string {
  const h = createHash('sha256');
  let head = 'no-git';
  try {
    const gitHead = readFileSync(join(ROOT, '.git', 'HEAD'), 'utf8').trim();
    const ref = /^ref: (.+)$/.exec(gitHead)?.[1];
    head = ref && existsSync(join(ROOT, '.git', ref)) ? readFileSync(join(ROOT, '.git', ref), 'utf8').trim() : gitHead;
  } catch {
    // not a git checkout: the content hash alone decides
  }
  h.update(`head ${head}\n`);
  for (const p of pkgs) {
    for (const f of packageFiles(p.dir)) {
      h.update(`${relative(ROOT, f)}\0`);
      h.update(readFileSync(f));
      h.update('\0');
    }
  }
  return h.digest('hex').slice(0, 20);
}

/**
 * Packs every public package with `pnpm pack` (which rewrites `workspace:` ranges and applies
 * `publishConfig`), once per content: the tarballs are kept in os.tmpdir()/tessera-consumer-packs/<key>
 * and reused while git HEAD and the packages' files are unchanged. Concurrent runs never see a
 * half-written pack: each packs into its own directory and renames it into place.
 */
export async function packTarballs(): Promise<{ packages: PackedPackage[]; cached: boolean; ms: number; dir: string }> {
  const t0 = performance.now();
  const pkgs = publicPackages();
  if (pkgs.length === 0) throw new Error('no public packages under packages/');
  for (const p of pkgs) {
    if (!existsSync(join(p.dir, 'dist'))) throw new Error(`${p.name} has no dist/: run pnpm build first`);
  }
  const root = join(tmpdir(), 'tessera-consumer-packs');
  mkdirSync(root, { recursive: true });
  const key = packKey(pkgs);
  const dir = join(root, key);
  const manifest = join(dir, 'manifest.json');
  const read = () => JSON.parse(readFileSync(manifest, 'utf8')) as PackedPackage[];
  if (existsSync(manifest)) return { packages: read(), cached: true, ms: Math.round(performance.now() - t0), dir };

  const work = join(root, `.${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(work, { recursive: true });
  const limit = limiter(3);
  try {
    const packed = await Promise.all(
      pkgs.map(p =>
        limit(async () => {
          const r = await run('pnpm', ['pack', '--pack-destination', work, '--json'], { cwd: p.dir, timeoutMs: 120_000 });
          if (r.code !== 0) throw new Error(`pnpm pack failed in ${relative(ROOT, p.dir)} (exit ${r.code}):\n${r.output}`);
          const start = r.stdout.indexOf('{');
          const info = JSON.parse(r.stdout.slice(start)) as { name: string; version: string; filename: string };
          return { name: info.name, version: info.version, dir: relative(ROOT, p.dir), tarball: join(dir, info.filename.split(/[\\/]/).pop()!) };
        }),
      ),
    );
    writeFileSync(join(work, 'manifest.json'), JSON.stringify(packed, null, 2));
    try {
      renameSync(work, dir);
    } catch (err) {
      // Another run finished the same pack first: use it.
      if (!existsSync(manifest)) throw err;
      rmSync(work, { recursive: true, force: true });
    }
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  pruneOldPacks(root, key);
  return { packages: read(), cached: false, ms: Math.round(performance.now() - t0), dir };
}

/** Keeps the newest few packs of other keys (another branch, a rebuild) and drops the rest, abandoned work directories included. */
function pruneOldPacks(root: string, keep: string): void {
  const others = readdirSync(root)
    .filter(name => name !== keep)
    .map(name => {
      try {
        return { name, mtime: statSync(join(root, name)).mtimeMs };
      } catch {
        return { name, mtime: 0 };
      }
    })
    .sort((a, b) => b.mtime - a.mtime);
  const dayAgo = Date.now() - 24 * 3600_000;
  others.forEach(({ name, mtime }, i) => {
    // Work directories (".<key>-<pid>-…") of running packs are young: never touched here.
    const stale = name.startsWith('.') ? mtime < dayAgo : i >= 3 || mtime < dayAgo;
    if (stale) rmSync(join(root, name), { recursive: true, force: true });
  });
}

// ---------------------------------------------------------------------------------------------
// Apps

/**
 * package.json of a fresh consumer app: its dependencies, and `overrides` mapping every
 * @tessera/* name to its tarball, so npm never asks the registry for one of ours.
 */
export function appPackageJson(name: string, opts: { type: 'module' | 'commonjs'; dependencies: Record<string, string>; tessera: string[]; packed: PackedPackage[] }): string {
  const file = (n: string) => {
    const p = opts.packed.find(x => x.name === n);
    if (!p) throw new Error(`no tarball for ${n}`);
    return `file:${p.tarball}`;
  };
  const overrides = Object.fromEntries(opts.packed.map(p => [p.name, `file:${p.tarball}`]));
  // A direct dependency that is also overridden must use the override's exact spec (npm's rule).
  const deps = { ...Object.fromEntries(opts.tessera.map(n => [n, file(n)])), ...opts.dependencies };
  return JSON.stringify({ name, version: '1.0.0', private: true, type: opts.type, dependencies: deps, overrides }, null, 2) + '\n';
}

export function npmInstall(dir: string): Promise<RunResult> {
  return run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: dir, timeoutMs: 240_000 });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise(res => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => (socket.destroy(), res(true)));
    socket.once('error', () => (socket.destroy(), res(false)));
  });
}

/**
 * Starts `node <script>` with PORT set to a free port and resolves once the app accepts
 * connections on 127.0.0.1 (apps need not print anything); rejects with its output if it exits
 * first or is not up within 20 s.
 */
export async function startNode(
  script: string,
  { cwd, env }: { cwd: string; env: Record<string, string> },
): Promise<{ url: string; child: ChildProcess; output(): string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [script], { cwd, env: consumerEnv({ ...env, PORT: String(port) }), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  let exited: number | string | null = null;
  child.once('exit', (code, signal) => (exited = code ?? signal));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited !== null) throw new Error(`node ${script} exited (${exited}) before listening:\n${output}`);
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node ${script} was not listening on 127.0.0.1:${port} within 20 s:\n${output}`);
    }
    await new Promise(r => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}`, child, output: () => output };
}

// ---------------------------------------------------------------------------------------------
// README snippets

export interface Snippet {
  /** The value of `consumer=` in the fence's info string. */
  target: string;
  /** The code, verbatim. */
  code: string;
  /** 1-based README line of the snippet's first code line. */
  line: number;
}

/** Fenced code blocks whose info string carries `consumer=<target>`. */
export function readmeSnippets(markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,}|~{3,})\s*(\S*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[1]!;
    let end = i + 1;
    while (end < lines.length && !lines[end]!.startsWith(fence)) end++;
    const target = /(?:^|\s)consumer=(\S+)/.exec(open[3] ?? '')?.[1];
    if (target) out.push({ target, code: lines.slice(i + 1, end).join('\n') + '\n', line: i + 2 });
    i = end;
  }
  return out;
}

/**
 * tsc diagnostics of a file assembled as prelude + snippet + epilogue, each error line annotated
 * with where it is: `README.md:<line>:<col>` inside the snippet, or prelude/epilogue.
 */
export function mapDiagnostics(output: string, file: string, preludeLines: number, snippet: Snippet): string {
  const snippetLines = snippet.code.split('\n').length - 1;
  return output
    .split('\n')
    .map(l => {
      const m = new RegExp(`^(?:.*[\\\\/])?${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\((\\d+),(\\d+)\\)`).exec(l);
      if (!m) return l;
      const n = Number(m[1]) - preludeLines;
      const where = n >= 1 && n <= snippetLines ? `README.md:${snippet.line + n - 1}:${m[2]}` : n < 1 ? 'in the prelude' : 'in the epilogue';
      return `${l}\n    ^ ${where}`;
    })
    .join('\n');
}
