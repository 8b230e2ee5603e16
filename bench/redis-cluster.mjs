/**
 * A Redis Cluster of three masters for the bench: started on free loopback ports from the installed
 * redis-server / redis-cli, in a temporary directory removed by `stop()`. Throws Skip when the
 * binaries are missing or the cluster does not come up.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectRedis, closeRedis } from './redis-util.mjs';
import { Skip, firstLine } from './util.mjs';

const HOST = '127.0.0.1';
const sleep = ms => new Promise(r => setTimeout(r, ms));

function portFree(port) {
  return new Promise(resolve => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}

/** Three consecutive ports whose cluster bus ports (+10000) are free too. */
async function freePorts() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 9000);
    const ports = [base, base + 1, base + 2];
    if ((await Promise.all([...ports, ...ports.map(p => p + 10000)].map(portFree))).every(Boolean)) return ports;
  }
  throw new Skip('no free loopback ports for a Redis Cluster');
}

/** Polls `probe` every 100 ms until it returns true, for at most `ms`. */
async function until(what, ms, probe) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    await sleep(100);
  }
  throw new Skip(`Redis Cluster: ${what} within ${ms} ms`);
}

/** Starts the cluster: `{ ports, url(prefix), stop() }`. */
export async function startRedisCluster() {
  for (const bin of ['redis-server', 'redis-cli']) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 5000 });
    if (r.error) throw new Skip(`${bin} is not installed (apt-get install redis-server): no Redis Cluster`);
  }
  const dir = await mkdtemp(join(tmpdir(), 'tessera-bench-cluster-'));
  const ports = await freePorts();
  const procs = ports.map(port =>
    spawn(
      'redis-server',
      ['--port', String(port), '--bind', HOST, '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '5000', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', join(dir, `${port}.log`)],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    await Promise.all(
      procs.map(
        p =>
          new Promise(resolve => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            const t = setTimeout(() => p.kill('SIGKILL'), 3000);
            p.once('exit', () => (clearTimeout(t), resolve()));
            p.kill('SIGTERM');
          }),
      ),
    );
    await rm(dir, { recursive: true, force: true });
    return `stopped the cluster on ports ${ports.join(', ')} and removed ${dir}`;
  };
  try {
    for (const port of ports) {
      await until(`redis-server on ${port} answering`, 10_000, async () => {
        const c = await connectRedis(`redis://${HOST}:${port}`);
        await closeRedis(c);
        return true;
      });
    }
    const create = spawnSync('redis-cli', ['--cluster', 'create', ...ports.map(p => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 30_000 });
    if (create.status !== 0) throw new Skip(`redis-cli --cluster create failed: ${firstLine((create.stderr || create.stdout).slice(-300))}`);
    for (const port of ports) {
      await until(`cluster_state:ok on ${port}`, 15_000, async () => {
        const c = await connectRedis(`redis://${HOST}:${port}`);
        try {
          return String(await c.sendCommand(['CLUSTER', 'INFO'])).includes('cluster_state:ok');
        } finally {
          await closeRedis(c);
        }
      });
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    ports,
    url: prefix => `redis+cluster://${ports.map(p => `${HOST}:${p}`).join(',')}/?prefix=${encodeURIComponent(prefix)}`,
    stop,
  };
}
