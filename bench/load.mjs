#!/usr/bin/env node
/**
 * The load generator, run by run.mjs as its own process (pinned to its own core):
 *   node bench/load.mjs '<json config>'
 * config: { url, cookie?, duration, connections, pipelining, overallRate? }
 * overallRate: a fixed offered load (requests/s over all connections; autocannon corrects the
 * latencies for coordinated omission); without it, as fast as the server answers.
 * Prints one line of JSON with the autocannon summary. Only loopback URLs are accepted.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { assertLoopback } from './scenarios.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
assertLoopback(cfg.url);

/** Per-core [busy, total] jiffies (user+nice+system+steal busy; irq/softirq, i.e. loopback traffic, not). */
function coreTimes() {
  try {
    const out = {};
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (!m) continue;
      const [user, nice, system, idle, iowait, irq, softirq, steal] = m[2].trim().split(/\s+/).map(Number);
      const busy = user + nice + system + (steal || 0);
      out[m[1]] = { busy, total: busy + idle + (iowait || 0) + irq + softirq };
    }
    return out;
  } catch {
    return undefined;
  }
}

const cores0 = coreTimes();
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const result = await autocannon({
  url: cfg.url,
  method: 'GET',
  headers: cfg.cookie ? { cookie: cfg.cookie } : {},
  duration: cfg.duration,
  connections: cfg.connections,
  pipelining: cfg.pipelining,
  timeout: 10,
  ...(cfg.overallRate ? { overallRate: cfg.overallRate } : {}),
});

const cpu = process.cpuUsage(cpu0);
const cores1 = coreTimes();
const coreBusyPct = {};
for (const k of Object.keys(cores1 ?? {})) {
  const a = cores0?.[k];
  const b = cores1[k];
  if (a && b.total > a.total) coreBusyPct[k] = ((b.busy - a.busy) / (b.total - a.total)) * 100;
}
const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
const codes = {};
for (const [code, v] of Object.entries(result.statusCodeStats ?? {})) codes[code] = v.count;

console.log(
  JSON.stringify({
    requestsMean: result.requests.mean,
    requestsTotal: result.requests.total,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    latencyMax: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    duration: result.duration,
    codes,
    // Load generator's own CPU during the run, as a share of one core.
    cpuPct: ((cpu.user + cpu.system) / 1000 / wallMs) * 100,
    // Busy share of every core over the same window (for the runner's "other processes" check).
    coreBusyPct,
  }),
);
