/** What every flow shares: resolved options, the clock, events, the guarded store, the keys and the cookie jar. */
import { compileTrust, type Trusts } from './lib/proxy.js';
import { storeFailureLog } from './logger.js';
import { CookieJar } from './cookie-jar.js';
import type { TesseraEvent } from './events.js';
import { GuardedStore } from './guarded-store.js';
import { Keys } from './keys.js';
import type { ResolvedOptions } from './options.js';
import { Sealer } from './seal.js';
import type { TokenStore } from './store.js';

/** Emits an event built by `make`; `make` runs only when someone listens. */
export type Emit = (make: () => TesseraEvent) => void;

export interface Context {
  readonly o: ResolvedOptions;
  now(): number;
  readonly emit: Emit;
  readonly store: GuardedStore;
  readonly keys: Keys;
  readonly jar: CookieJar;
  /** Which proxies to believe (`trustProxy`); null = the framework's own client address. */
  readonly trusts: Trusts | null;
  /** Logs a store failure, throttled per operation. */
  readonly storeFailed: (operation: string, message: string) => void;
  /** `safePassword`: seals and opens the user objects of records (`on` false when unset). */
  readonly sealer: Sealer;
}

export function createContext(o: ResolvedOptions, store: TokenStore): Context {
  const listener = o.onEvent;
  const emit: Emit = listener
    ? make => {
        try {
          listener(make());
        } catch {
          // A failing listener must never break a request.
        }
      }
    : () => {};
  const now = o.clock;
  const storeFailed = storeFailureLog(o.logger, now);
  const guarded = new GuardedStore(store, o.storeTimeout * 1000, emit, now, storeFailed, { size: o.recordCacheSize, maxStaleMs: o.recordCacheMaxStale * 1000 });
  return {
    o,
    now,
    emit,
    store: guarded,
    // Keys are read where requests go: after a live switch, the target store.
    keys: new Keys(o, store, emit, storeFailed, () => guarded.follower?.current ?? store),
    jar: new CookieJar(o),
    trusts: o.trustProxy === undefined ? null : compileTrust(o.trustProxy),
    storeFailed,
    sealer: new Sealer(o.safePasswords, o.verifiedCacheSize, o.logger, now),
  };
}
