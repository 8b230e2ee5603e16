/** What every flow shares: resolved options, the clock, events, the guarded store, the keys and the cookie jar. */
import { CookieJar } from './cookie-jar.js';
import type { TesseraEvent } from './events.js';
import { GuardedStore } from './guarded-store.js';
import { Keys } from './keys.js';
import type { ResolvedOptions } from './options.js';
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
  return {
    o,
    now,
    emit,
    store: new GuardedStore(store, o.storeTimeout * 1000, emit, now),
    keys: new Keys(o, store, emit),
    jar: new CookieJar(o),
  };
}
