/** Starts an example app (built code) as a child process on a free loopback port. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { captureOutput } from './log-capture.js';

/** The environment without any TESSERA_* of the caller's, so each test sets exactly what it means. */
function cleanEnv(): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_')));
}

export const ROOT = resolve(import.meta.dirname, '../..');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

export interface StartOptions {
  /** Extra node options before the script, e.g. ['--import', url] to preload a module. */
  nodeArgs?: string[];
}

export async function startServer(framework: string, env: Record<string, string>, options: StartOptions = {}): Promise<{ url: string; child: ChildProcess; output(): string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(ROOT, 'examples', framework, 'server.js')], {
    cwd: join(ROOT, 'examples', framework),
    env: { ...cleanEnv(), ...env, PORT: String(port), HOST: '127.0.0.1', NODE_OPTIONS: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  captureOutput(`example-${framework}`, child, env);
  // Everything the app writes, also after start-up (its log lines).
  let output = '';
  await new Promise<void>((res, rej) => {
    let started = false;
    const timer = setTimeout(() => rej(new Error(`${framework} did not start: ${output}`)), 20_000);
    const onData = (d: Buffer) => {
      output += d.toString();
      if (!started && /demo on/.test(output)) {
        started = true;
        clearTimeout(timer);
        res();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', code => {
      clearTimeout(timer);
      if (!started) rej(new Error(`${framework} exited with ${code}: ${output}`));
    });
  });
  return { url: `http://127.0.0.1:${port}`, child, output: () => output };
}

export async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  await new Promise<void>(res => {
    child.once('exit', () => res());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  });
}


/** Runs an example that is expected to refuse to start; resolves with its exit code and output. */
export function startExpectingFailure(framework: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(ROOT, 'examples', framework, 'server.js')], {
      cwd: join(ROOT, 'examples', framework),
      env: { ...cleanEnv(), PORT: '0', TESSERA_STORE: 'memory:', ...env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    captureOutput(`example-${framework}-refused`, child, env);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rej(new Error(`${framework} started although it should have refused: ${output}`));
    }, 15_000);
    child.once('exit', code => {
      clearTimeout(timer);
      res({ code, output });
    });
  });
}
