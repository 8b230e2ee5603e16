/**
 * A Redis Cluster for tests: three masters (no replicas) started on free loopback ports from the
 * installed redis-server / redis-cli, torn down by `stop()`; `addNode()` starts one more
 * cluster-enabled node and has it meet the others (it holds no slot until one is moved to it).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { redisAvailable } from '../../packages/testkit/src/services.js';

export const HOST = '127.0.0.1';

export interface TestCluster {
  ports: number[];
  /** Starts one more node on free ports and has it join the cluster (no slots); resolves its port. */
  addNode(): Promise<number>;
  stop(): Promise<void>;
}

export function missingBinary(): string | false {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 5000 });
    if (r.error) return `${bin} is not installed (${(r.error as NodeJS.ErrnoException).code ?? r.error.message}); install Redis 7 (apt-get install redis-server) to run the Redis Cluster tests`;
    const v = /v=(\d+)\./.exec(r.stdout) ?? /(\d+)\.\d+\.\d+/.exec(r.stdout);
    if (v && Number(v[1]) < 7) return `${bin} is version ${v[1]}; the Redis Cluster tests need Redis 7`;
  }
  return false;
}

function portFree(port: number): Promise<boolean> {
  return new Promise(resolve => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** `count` consecutive ports whose cluster bus ports (+10000) are free too. */
async function freePorts(count = 3): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 9000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    const all = await Promise.all([...ports, ...ports.map(p => p + 10000)].map(portFree));
    if (all.every(Boolean)) return ports;
  }
  throw new Error('no free loopback ports for a test cluster');
}

export async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise(r => setTimeout(r, 100));
  }
  throw new Error(`${what} within ${ms} ms${last ? ` (${(last as Error).message})` : ''}`);
}

export async function startCluster(): Promise<TestCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-redis-cluster-'));
  const ports = await freePorts();
  const procs: ChildProcess[] = [];
  const kill = () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  process.once('exit', kill);
  const stop = async () => {
    await Promise.all(
      procs.map(
        p =>
          new Promise<void>(resolve => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            const t = setTimeout(() => p.kill('SIGKILL'), 3000);
            p.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            p.kill('SIGTERM');
          }),
      ),
    );
    process.removeListener('exit', kill);
    rmSync(dir, { recursive: true, force: true });
  };
  const startNode = (port: number) => {
    const args = ['--port', String(port), '--bind', HOST, '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)];
    args.push('--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', dir, '--logfile', join(dir, `${port}.log`));
    procs.push(spawn('redis-server', args, { stdio: 'ignore' }));
  };
  const answering = (port: number) => until(`redis-server on ${port} answering`, 10_000, async () => ((await redisAvailable(`redis://${HOST}:${port}`, 500)) === false ? true : undefined));
  const addNode = async () => {
    const [port] = await freePorts(1);
    startNode(port!);
    await answering(port!);
    const c = createClient({ url: `redis://${HOST}:${ports[0]}` });
    c.on('error', () => {});
    await c.connect();
    try {
      await c.sendCommand(['CLUSTER', 'MEET', HOST, String(port)]);
    } finally {
      await c.close();
    }
    return port!;
  };
  try {
    for (const port of ports) startNode(port);
    for (const port of ports) await answering(port);
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map(p => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${(create.stderr || create.stdout).slice(-500)}`);
    for (const port of ports) {
      const c = createClient({ url: `redis://${HOST}:${port}` });
      c.on('error', () => {});
      await c.connect();
      try {
        await until(`cluster_state:ok on ${port}`, 15_000, async () => (String(await c.sendCommand(['CLUSTER', 'INFO'])).includes('cluster_state:ok') ? true : undefined));
      } finally {
        await c.close();
      }
    }
    return { ports, addNode, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

