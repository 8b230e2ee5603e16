#!/usr/bin/env node
/**
 * Runs one scenario's server: `node bench/server.mjs <scenario> [port]` (port 0 = any free port).
 * Listens on 127.0.0.1 only.
 *
 * Under run.mjs (spawned with an IPC channel) it reports over IPC:
 *   -> { type: 'ready', port }            listening
 *   -> { type: 'skip', reason }           the scenario cannot run here (missing package, no Redis...)
 *   -> { type: 'error', reason }          it failed to start
 *   <- { type: 'stats', id }  -> { type: 'stats', id, rss, heapUsed, cpu }   (process.memoryUsage / cpuUsage)
 *   <- { type: 'shutdown' }   -> closes the server and its store (deleting what it created), exits 0
 * Standalone (no IPC) it prints the URL and shuts down cleanly on SIGINT/SIGTERM.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findScenario, SCENARIOS } from './scenarios.mjs';
import { FACTORIES, SkipError } from './servers.mjs';

const [name, portArg = '0'] = process.argv.slice(2);
const ipc = typeof process.send === 'function';

function report(msg) {
  if (ipc) process.send(msg);
  else console.log(JSON.stringify(msg));
}

if (!name || !findScenario(name) || !FACTORIES[name]) {
  console.error(`usage: node bench/server.mjs <scenario> [port]\nscenarios: ${SCENARIOS.map(s => s.name).join(', ')}`);
  process.exit(2);
}
const port = Number(portArg);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`bad port ${portArg}`);
  process.exit(2);
}

let ownTmp;
const tmpDir = process.env.BENCH_TMPDIR ?? (ownTmp = await mkdtemp(join(tmpdir(), 'tessera-bench-')));

let instance;
let closing;
async function shutdown(code = 0) {
  closing ??= (async () => {
    const timer = setTimeout(() => process.exit(code || 1), 10_000); // bounded, whatever the store does
    timer.unref();
    try {
      await instance?.close();
    } catch (err) {
      console.error(`[${name}] close failed: ${err?.stack ?? err}`);
    }
    if (ownTmp) await rm(ownTmp, { recursive: true, force: true }).catch(() => {});
    if (ipc && process.connected) {
      // Wait for the message to leave before exiting.
      await new Promise(resolve => process.send({ type: 'closed' }, () => resolve()));
    }
    process.exit(code);
  })();
  return closing;
}

try {
  instance = await FACTORIES[name]({ tmpDir });
  const actual = await instance.start(port);
  report({ type: 'ready', port: actual });
  if (!ipc) console.log(`${name} listening on http://127.0.0.1:${actual}`);
} catch (err) {
  if (err instanceof SkipError) {
    report({ type: 'skip', reason: err.message });
    await shutdown(0);
  } else {
    report({ type: 'error', reason: String(err?.stack ?? err) });
    await shutdown(1);
  }
}

process.on('message', msg => {
  if (msg?.type === 'stats') {
    const mem = process.memoryUsage();
    process.send({ type: 'stats', id: msg.id, rss: mem.rss, heapUsed: mem.heapUsed, cpu: process.cpuUsage() });
  } else if (msg?.type === 'shutdown') {
    shutdown(0);
  }
});
// The runner went away: don't linger.
process.on('disconnect', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.on('SIGTERM', () => shutdown(0));
