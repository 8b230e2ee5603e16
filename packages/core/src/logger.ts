/** What Tessera logs, and where: start-up facts and store failures, never a token or a secret. */
import type { TokenStore } from './store.js';

/** A pino-compatible logger (pino, Fastify's `app.log`, or `console` through `consoleLogger`). */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The default outside Fastify: one `tessera:` line on stderr per fact. */
export const consoleLogger: Logger = {
  info: (obj, msg) => console.error(line(msg, obj)),
  warn: (obj, msg) => console.error(line(msg, obj)),
  error: (obj, msg) => console.error(line(msg, obj)),
};

function line(msg: string | undefined, obj: object): string {
  const fields = Object.entries(obj).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `tessera: ${msg ?? ''}${fields.length ? ` (${fields.join(', ')})` : ''}`;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

/** `FileStore at /srv/app/.tessera`, `RedisStore`: what a log line says about a store (never its URL, which may hold a password). */
export function describeStore(store: TokenStore): string {
  const ctor = (store as object).constructor;
  const name = ctor && ctor !== Object && ctor.name ? ctor.name : 'custom store';
  const dir = (store as { dir?: unknown }).dir;
  return typeof dir === 'string' ? `${name} at ${dir}` : name;
}

/**
 * Logs a store failure at most once per operation per `everySeconds`, with the count of the ones
 * left out: a store that is down fails every request, and the log must stay readable.
 */
export function storeFailureLog(logger: Logger, now: () => number, everySeconds = 10): (operation: string, message: string) => void {
  const last = new Map<string, { at: number; suppressed: number }>();
  return (operation, message) => {
    const t = now();
    const seen = last.get(operation);
    if (seen && t - seen.at < everySeconds) {
      seen.suppressed++;
      return;
    }
    last.set(operation, { at: t, suppressed: 0 });
    logger.error({ operation, message, ...(seen?.suppressed ? { suppressed: seen.suppressed } : {}) }, 'store call failed; requests answer 503 STORE_UNAVAILABLE');
  };
}
