/**
 * @tessera/config: options from `TESSERA_*` variables and stores from URLs, so one app runs on
 * any store by configuration alone (`TESSERA_STORE=redis://…`).
 */
import { ConfigError, MemoryStore, type TesseraOptions, type TokenStore } from '@tessera/core';
import { FileStore, defaultStore } from '@tessera/store-file';
import { optionsFromEnv } from './env.js';

export { optionsFromEnv, parseTokenExpiration } from './env.js';
export type { EnvConfig } from './env.js';
export { ENV_EXTRAS } from './env-table.js';

/** A store that needs an explicit schema/table creation step before use (PostgreSQL, DynamoDB). */
export interface SetupableStore extends TokenStore {
  setup(): Promise<void>;
}

export function needsSetup(store: TokenStore): store is SetupableStore {
  return typeof (store as Partial<SetupableStore>).setup === 'function';
}


async function importStore(pkg: string, variable: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pkg)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(variable, `this store needs the package ${pkg}: install it next to @tessera/config (${(err as Error).message.split('\n')[0]})`);
  }
}

/**
 * Opens a store from a URL: `memory:`, `file:./dir` (default `file:.tessera`), `redis://…`,
 * `rediss://…`, `redis+cluster://host:port,host:port` (Redis Cluster), `postgres://…`, `dynamodb://table?region=…&endpoint=…&profile=…`.
 * PostgreSQL and DynamoDB stores still need `await store.setup()` once (explicit schema creation).
 */
export async function openStore(url: string, variable = 'TESSERA_STORE'): Promise<TokenStore> {
  const u = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(u)?.[1]?.toLowerCase();
  const redacted = u.replace(/\/\/[^@/]*@/, '//***@');
  switch (scheme) {
    case 'memory':
      return new MemoryStore();
    case 'file': {
      const dir = u.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
      return dir ? new FileStore({ dir }) : defaultStore();
    }
    case 'redis':
    case 'rediss': {
      const mod = await importStore('@tessera/store-redis', variable);
      const parsed = new URL(u);
      const prefix = parsed.searchParams.get('prefix') ?? undefined;
      parsed.searchParams.delete('prefix');
      const Store = mod.RedisStore as new (o: { url: string; prefix?: string }) => TokenStore;
      return new Store({ url: parsed.toString(), ...(prefix ? { prefix } : {}) });
    }
    case 'redis+cluster':
    case 'rediss+cluster': {
      // Seed nodes, credentials and ?prefix= are read by the store (a comma list of hosts is no WHATWG URL).
      const mod = await importStore('@tessera/store-redis', variable);
      const Store = mod.RedisClusterStore as new (o: { url: string }) => TokenStore;
      return new Store({ url: u });
    }
    case 'postgres':
    case 'postgresql': {
      const mod = await importStore('@tessera/store-postgres', variable);
      const parsed = new URL(u);
      const table = parsed.searchParams.get('table') ?? undefined;
      parsed.searchParams.delete('table');
      const Store = mod.PostgresStore as new (o: { url: string; table?: string }) => TokenStore;
      return new Store({ url: parsed.toString(), ...(table ? { table } : {}) });
    }
    case 'dynamodb': {
      const mod = await importStore('@tessera/store-dynamodb', variable);
      const parsed = new URL(u);
      const table = decodeURIComponent(parsed.hostname || parsed.pathname.replace(/^\/+/, ''));
      if (!table) throw new ConfigError(variable, 'dynamodb:// needs a table name, e.g. dynamodb://sessions?region=eu-west-1');
      const q = parsed.searchParams;
      const o: Record<string, string> = { table };
      for (const k of ['region', 'endpoint', 'profile']) {
        const v = q.get(k);
        if (v) o[k] = v;
      }
      const Store = mod.DynamoDbStore as new (opts: Record<string, string>) => TokenStore;
      return new Store(o);
    }
    default:
      throw new ConfigError(variable, `unsupported store URL ${JSON.stringify(redacted.slice(0, 60))}; use memory:, file:./dir, redis://, rediss://, redis+cluster://, postgres://, or dynamodb://table`);
  }
}

export interface EnvSetup {
  /** Options from TESSERA_* (merged over `base`), with `store` opened from TESSERA_STORE. */
  options: TesseraOptions & { store: TokenStore };
  store: TokenStore;
  /** TESSERA_TRUST_PROXY for the app to apply to its framework, when set. */
  trustProxy: string | undefined;
  /** Unknown TESSERA_* variables (typos), for the app to warn about. */
  unknown: string[];
}

/** Reads TESSERA_* and opens the store. Throws ConfigError naming the variable on a bad value. */
export async function fromEnv(env: Record<string, string | undefined> = process.env, base: TesseraOptions = {}): Promise<EnvSetup> {
  const cfg = optionsFromEnv(env, base);
  const store = base.store ?? (cfg.storeUrl === undefined ? defaultStore() : await openStore(cfg.storeUrl));
  // A live switch (`tessera migrate`) announced in the store names the target by URL: open it the same way.
  const options = { ...cfg.options, store, openStore: base.openStore ?? ((url: string) => openStore(url)) };
  return { options, store, trustProxy: cfg.trustProxy, unknown: cfg.unknown };
}
