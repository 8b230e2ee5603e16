/**
 * What users get: every public package packed the way it is published (`pnpm pack`: workspace
 * ranges rewritten, publishConfig applied), installed with npm into fresh apps outside the
 * workspace, compiled with the tsconfig `tsc --init` writes (TypeScript 5.9, strict), started, and
 * driven over HTTP. The README's framework snippets (fences marked `consumer=<framework>`) are
 * compiled verbatim inside those apps.
 *
 * Apps: Express 5, Express 4, Koa 3, Koa 2, Fastify 5 (TypeScript, ESM), and a plain CommonJS
 * Express app using require(esm). Under CI these tests always run (an npm failure fails them);
 * elsewhere they skip, loudly, when npm cannot reach its registry. Set TESSERA_CONSUMER_KEEP=1 to
 * keep the apps' directory for inspection (its path is printed).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { stop } from '../support/example-server.js';
import {
  announceSkip,
  appPackageJson,
  isCi,
  limiter,
  mapDiagnostics,
  npmInstall,
  packTarballs,
  readmeSnippets,
  registryUnreachable,
  ROOT,
  run,
  startNode,
  type PackedPackage,
  type RunResult,
  type Snippet,
} from '../support/consumer.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
/**
 * Written by `npx -p typescript@5.9 tsc --init` (TypeScript 5.9.3), unchanged. Its module settings
 * (`"module": "nodenext"`, target esnext) let an ESM app (package.json `"type": "module"`, as the
 * README's `import` + top-level `await` snippets are) import the ESM-only packages, so no change
 * was needed. Note what else it sets, which every consumer app here is held to:
 * `exactOptionalPropertyTypes`, `noUncheckedIndexedAccess`, `verbatimModuleSyntax`, and
 * `"types": []` (no global @types; Node's globals come in through the frameworks' own types).
 */
const TSCONFIG = join(FIXTURES, 'tsconfig.init.json');
const TYPESCRIPT = '~5.9.3';
const TYPES_NODE = '^20.19.0';

type Framework = 'express' | 'koa' | 'fastify';

interface AppSpec {
  id: string;
  title: string;
  framework: Framework;
  /** TypeScript app (ESM, compiled with the tsc --init config), or the plain CommonJS one. */
  ts: boolean;
  dependencies: Record<string, string>;
  tessera: string[];
}

const TS_TESSERA = (fw: Framework) => [`@tessera/${fw}`, '@tessera/core', '@tessera/config'];
const TS_TOOLS = { typescript: TYPESCRIPT, '@types/node': TYPES_NODE };

const APPS: AppSpec[] = [
  { id: 'express5', title: 'Express 5 (TypeScript)', framework: 'express', ts: true, tessera: TS_TESSERA('express'), dependencies: { express: '^5.1.0', '@types/express': '^5.0.0', ...TS_TOOLS } },
  { id: 'express4', title: 'Express 4 (TypeScript)', framework: 'express', ts: true, tessera: TS_TESSERA('express'), dependencies: { express: '^4.21.0', '@types/express': '^4.17.21', ...TS_TOOLS } },
  { id: 'koa3', title: 'Koa 3 (TypeScript)', framework: 'koa', ts: true, tessera: TS_TESSERA('koa'), dependencies: { koa: '^3.0.0', '@types/koa': '^3.0.0', '@koa/router': '^15.0.0', ...TS_TOOLS } },
  { id: 'koa2', title: 'Koa 2 (TypeScript)', framework: 'koa', ts: true, tessera: TS_TESSERA('koa'), dependencies: { koa: '^2.16.0', '@types/koa': '^2.15.0', '@koa/router': '^15.0.0', ...TS_TOOLS } },
  { id: 'fastify5', title: 'Fastify 5 (TypeScript)', framework: 'fastify', ts: true, tessera: TS_TESSERA('fastify'), dependencies: { fastify: '^5.0.0', ...TS_TOOLS } },
  { id: 'express-cjs', title: 'Express 5 (plain CommonJS, require(esm))', framework: 'express', ts: false, tessera: ['@tessera/express', '@tessera/store-file'], dependencies: { express: '^5.1.0' } },
];

/** Per test: the first test of an app waits for its npm install (bounded at 240 s) and compilation. */
const INSTALL_TIMEOUT = 360_000;
const SECRET = 'a-consumer-test-secret-that-is-long-enough-0123456789';
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SNIPPETS = readmeSnippets(README);

// Without a registry: skip loudly; under CI, fail at once with the reason instead of waiting for npm's retries.
const unreachable = await registryUnreachable();
const skip = unreachable !== false;
if (unreachable && !isCi()) announceSkip('the consumer tests (packed packages installed with npm into fresh apps)', unreachable);
if (unreachable && isCi()) {
  describe('consumer apps', () => {
    it('can install from the npm registry (required under CI)', () => {
      throw new Error(`The consumer tests need npm and its registry under CI, but: ${unreachable}`);
    });
  });
}
const suite = skip ? describe.skip : describe;

// ---------------------------------------------------------------------------------------------
// The pipeline: pack once, install every app in parallel, compile (two at a time: tsc is CPU-bound).
// Each step is a promise the tests await, so one app's failure fails only that app's tests.

let root = '';
let pack: Promise<PackedPackage[]>;
const installed = new Map<string, Promise<RunResult>>();
const compiled = new Map<string, Promise<RunResult>>();
const snippetChecked = new Map<string, Promise<{ result: RunResult; snippet: Snippet; preludeLines: number; file: string }>>();
const snippetEmitted = new Map<string, Promise<RunResult>>();
const timings: string[] = [];
const children: ChildProcess[] = [];

const quiet = <T>(p: Promise<T>): Promise<T> => (p.catch(() => {}), p);
const cpu = limiter(2);

function timed(label: string, p: Promise<RunResult>): Promise<RunResult> {
  return p.then(r => (timings.push(`${label}: ${(r.ms / 1000).toFixed(1)} s`), r));
}

const tsc = (app: string, args: string[]) => cpu(() => run(join(app, 'node_modules', '.bin', 'tsc'), args, { cwd: app, timeoutMs: 120_000 }));

function snippetOf(fw: Framework): Snippet {
  const found = SNIPPETS.filter(s => s.target === fw);
  if (found.length !== 1) throw new Error(`README.md should have exactly one fence marked consumer=${fw}; found ${found.length}`);
  return found[0]!;
}

function writeApp(spec: AppSpec, packed: PackedPackage[]): string {
  const dir = join(root, spec.id);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), appPackageJson(`consumer-${spec.id}`, { type: spec.ts ? 'module' : 'commonjs', dependencies: spec.dependencies, tessera: spec.tessera, packed }));
  if (!spec.ts) {
    copyFileSync(join(FIXTURES, 'apps', `${spec.framework}-cjs.cjs`), join(dir, 'app.cjs'));
    return dir;
  }
  // Two programs, each with the tsc --init config in its own folder: the app, and the README snippet.
  mkdirSync(join(dir, 'app'));
  copyFileSync(TSCONFIG, join(dir, 'app', 'tsconfig.json'));
  copyFileSync(join(FIXTURES, 'apps', `${spec.framework}.ts`), join(dir, 'app', 'app.ts'));
  copyFileSync(join(FIXTURES, 'apps', 'users.ts'), join(dir, 'app', 'users.ts'));
  mkdirSync(join(dir, 'readme'));
  copyFileSync(TSCONFIG, join(dir, 'readme', 'tsconfig.json'));
  return dir;
}

function readmeProgram(dir: string, fw: Framework): { snippet: Snippet; preludeLines: number; file: string } {
  const snippet = snippetOf(fw);
  const prelude = readFileSync(join(FIXTURES, 'readme', `${fw}.prelude.ts`), 'utf8');
  const epilogue = readFileSync(join(FIXTURES, 'readme', `${fw}.epilogue.ts`), 'utf8');
  const file = `${fw}.ts`;
  writeFileSync(join(dir, 'readme', file), prelude + snippet.code + epilogue);
  return { snippet, preludeLines: prelude.split('\n').length - 1, file };
}

function failOnError(what: string, r: RunResult): RunResult {
  if (r.code !== 0) throw new Error(`${what} failed (exit ${r.code}):\n${r.output}`);
  return r;
}

beforeAll(() => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'tessera-consumer-'));
  const t0 = performance.now();
  pack = quiet(
    packTarballs().then(p => {
      timings.push(`pack ${p.packages.length} packages: ${(p.ms / 1000).toFixed(1)} s${p.cached ? ' (cached)' : ''} in ${p.dir}`);
      return p.packages;
    }),
  );
  for (const spec of APPS) {
    const dir = join(root, spec.id);
    const install = quiet(pack.then(packed => timed(`npm install ${spec.id}`, npmInstall(writeApp(spec, packed)))).then(r => failOnError(`npm install in ${dir}`, r)));
    installed.set(spec.id, install);
    if (!spec.ts) continue;
    compiled.set(spec.id, quiet(install.then(() => timed(`tsc app ${spec.id}`, tsc(dir, ['-p', 'app'])))));
    const check = quiet(
      install.then(async () => {
        const program = readmeProgram(dir, spec.framework);
        const result = await timed(`tsc --noEmit README ${spec.id}`, tsc(dir, ['-p', 'readme', '--noEmit']));
        return { result, ...program };
      }),
    );
    snippetChecked.set(spec.id, check);
    // The snippet's JavaScript, type errors or not, so its behaviour is checked on its own.
    snippetEmitted.set(spec.id, quiet(check.then(() => tsc(dir, ['-p', 'readme', '--noCheck'])).then(r => failOnError(`tsc --noCheck -p readme in ${dir}`, r))));
  }
  void Promise.allSettled([...installed.values(), ...compiled.values(), ...snippetChecked.values(), ...snippetEmitted.values()]).then(() =>
    timings.push(`all apps installed and compiled: ${((performance.now() - t0) / 1000).toFixed(1)} s`),
  );
});

afterAll(async () => {
  // Still running (a test failed before stopping its app); a child ended by a signal has exitCode null.
  await Promise.all(children.filter(c => c.exitCode === null && c.signalCode === null).map(c => stop(c)));
  if (skip) return;
  // Nothing may still write into the directory about to be removed (each step is bounded in time).
  await Promise.allSettled([...installed.values(), ...compiled.values(), ...snippetChecked.values(), ...snippetEmitted.values()]);
  if (timings.length > 0) console.log(`consumer tests, timings:\n  ${timings.join('\n  ')}`);
  if (!root) return;
  if (process.env.TESSERA_CONSUMER_KEEP) console.log(`consumer apps kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
}, INSTALL_TIMEOUT);

// ---------------------------------------------------------------------------------------------
// The HTTP contract every app serves

function cookieOf(res: { headers: Record<string, unknown> }): string {
  return ([] as string[]).concat((res.headers['set-cookie'] as string[] | undefined) ?? []).map(c => c.split(';')[0]).join('; ');
}

async function driveContract(url: string, expectedUser: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<void> {
  const login = await request(url).post('/auth/login').send({ username: 'alice', password: 'wonderland' });
  expect({ status: login.status, body: login.body }).toMatchObject({ status: 200, body: { user: expectedUser } });
  const setCookie = ([] as string[]).concat((login.headers['set-cookie'] as unknown as string[] | undefined) ?? []);
  expect(setCookie.some(c => /^tessera=[^;]+/.test(c))).toBe(true);
  const cookie = cookieOf(login);

  const me = await request(url).get('/api/me').set('Cookie', cookie);
  expect({ status: me.status, body: me.body }).toMatchObject({ status: 200, body: { user: expectedUser, ...extra } });

  const anonymous = await request(url).get('/api/me');
  expect({ status: anonymous.status, body: anonymous.body }).toMatchObject({ status: 401, body: { error: { code: 'TOKEN_MISSING' } } });

  const logout = await request(url).post('/auth/logout').set('Cookie', cookie);
  expect(logout.status).toBe(204);

  const after = await request(url).get('/api/me').set('Cookie', cookie);
  expect({ status: after.status, body: after.body }).toMatchObject({ status: 401, body: { error: { code: 'SESSION_ENDED' } } });
}

async function serve(script: string, cwd: string, env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const server = await startNode(script, { cwd, env });
  children.push(server.child);
  return server;
}

const ALICE = { id: 'alice', name: 'Alice Liddell', roles: ['admin'] };

suite('consumer apps: the packed packages installed with npm', () => {
  it('README.md marks one snippet per framework with consumer=<framework>', () => {
    expect(SNIPPETS.map(s => s.target).sort()).toEqual(['express', 'fastify', 'koa']);
  });

  for (const spec of APPS) {
    describe(spec.title, () => {
      const dir = () => join(root, spec.id);

      it('installs every @tessera/* package from its tarball, none from the registry', async () => {
        await installed.get(spec.id);
        const lock = JSON.parse(readFileSync(join(dir(), 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string; resolved?: string }> };
        const ours = Object.entries(lock.packages).filter(([k]) => /(^|\/)node_modules\/@tessera\//.test(k));
        expect(ours.length).toBeGreaterThanOrEqual(spec.tessera.length);
        for (const [where, entry] of ours) expect({ where, resolved: entry.resolved }).toEqual({ where, resolved: expect.stringMatching(/^file:.*\.tgz$/) });
        for (const name of spec.tessera) expect(existsSync(join(dir(), 'node_modules', ...name.split('/'), 'package.json'))).toBe(true);
      }, INSTALL_TIMEOUT);

      if (!spec.ts) {
        it('serves the session contract from a plain CommonJS app (require of the ESM packages)', async () => {
          await installed.get(spec.id);
          const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
          expect({ node: process.versions.node, requireEsm: major > 20 || (major === 20 && minor >= 19) }).toEqual({ node: process.versions.node, requireEsm: true });
          const server = await serve(join(dir(), 'app.cjs'), dir(), { STORE_DIR: join(dir(), 'store') });
          await driveContract(server.url, ALICE, { isAdmin: true, name: 'Alice Liddell' });
          await stop(server.child);
        }, INSTALL_TIMEOUT);
        return;
      }

      it('compiles the app with the tsc --init config (strict): req.tessera and the augmented User are typed', async () => {
        const r = await compiled.get(spec.id)!;
        if (r.code !== 0) throw new Error(`tsc -p app failed in ${dir()} (exit ${r.code}):\n${r.output}`);
      }, INSTALL_TIMEOUT);

      it('serves the session contract (login, protected route, logout) with a file store', async () => {
        await compiled.get(spec.id);
        const js = join(dir(), 'app', 'app.js');
        if (!existsSync(js)) throw new Error(`tsc emitted no ${js}`);
        const server = await serve(js, dir(), { TESSERA_STORE: `file:${join(dir(), 'store-app')}` });
        await driveContract(server.url, ALICE, { isAdmin: true, name: 'Alice Liddell' });
        await stop(server.child);
      }, INSTALL_TIMEOUT);

      it(`README ${spec.framework} snippet type-checks verbatim (tsc --noEmit, strict)`, async () => {
        const { result, snippet, preludeLines, file } = await snippetChecked.get(spec.id)!;
        if (result.code !== 0) {
          throw new Error(
            `the README ${spec.framework} snippet (README.md:${snippet.line}) does not type-check in a fresh ${spec.title} app ` +
              `(prelude/epilogue: test/consumer/fixtures/readme/${spec.framework}.*.ts):\n${mapDiagnostics(result.output, file, preludeLines, snippet)}`,
          );
        }
      }, INSTALL_TIMEOUT);

      it(`README ${spec.framework} snippet, run as written, serves the session contract`, async () => {
        await snippetEmitted.get(spec.id);
        // The snippet keeps the default store: the file store in ./.tessera, here inside the app's temp dir.
        const server = await serve(join(dir(), 'readme', `${spec.framework}.js`), join(dir(), 'readme'), { SESSION_SECRET: SECRET });
        await driveContract(server.url, { id: 'alice' }); // the snippet's demo user
        await stop(server.child);
      }, INSTALL_TIMEOUT);
    });
  }
});
