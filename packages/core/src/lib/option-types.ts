/** The shape of an option declaration: the kinds of option, a row as written, the entry it becomes (with its `TESSERA_*` name), each kind's resolved value. */
import type { Logger } from '../logger.js';
import type { TrustProxy } from './proxy.js';
import type { Rate } from './rate.js';
import type { TokenStore } from '../store.js';
import type { KeyObject } from 'node:crypto';

/** What an option holds. `kind` drives the check (option-check.ts) and the environment parsing in `@tessera/config`. */
export type OptionType =
  /** An object of the options below it; `off: true` also accepts `false` (the feature off). */
  | { readonly kind: 'group'; readonly off?: boolean }
  /** A non-empty string. */
  | { readonly kind: 'string' }
  | { readonly kind: 'boolean' }
  /** `true`, `false` or `'auto'`. */
  | { readonly kind: 'booleanOrAuto' }
  /** `off: true` also takes `false` or `0` (resolved as 0, off). */
  | { readonly kind: 'integer'; readonly min: number; readonly max: number; readonly off?: boolean }
  /**
   * Seconds, or `30s`/`15m`/`12h`/`7d`/`2w`; `ms: true` also takes `500ms` (result may be fractional);
   * `off: true` also takes `false` or `0` (resolved as 0, off).
   */
  | { readonly kind: 'duration'; readonly min: number; readonly max?: number; readonly ms?: boolean; readonly off?: boolean }
  /** A duration, or a share of the lifetime like `'20%'`. */
  | { readonly kind: 'window' }
  /** One of `values`; `anyCase` accepts any letter case (resolved lower case); `off: true` also takes `false`. */
  | { readonly kind: 'enum'; readonly values: readonly string[]; readonly anyCase?: boolean; readonly off?: boolean }
  /** Secret(s) of at least `minBytes` bytes (passwords: also `minChars` characters): a string or a non-empty list (a keyring). Never echoed. */
  | { readonly kind: 'secrets'; readonly minBytes: number; readonly minChars?: number }
  /** Signing keys for EdDSA / ES256: PEM or JWK text, a JWK (Set) object or a KeyObject, or a list (a keyring). Never echoed. */
  | { readonly kind: 'keys' }
  /** A list of strings. */
  | { readonly kind: 'list' }
  | { readonly kind: 'function' }
  | { readonly kind: 'store'; readonly methods: readonly string[] }
  /** `false`, or an object with `info`, `warn` and `error` methods (pino, console, Fastify's `app.log`). */
  | { readonly kind: 'logger' }
  /** `true` (every hop), a hop count, or trusted proxy addresses/subnets (a list, or comma-separated). */
  | { readonly kind: 'trustProxy' }
  /** An attempt limit: `'10/15m'` (failures per window, the window as a duration), or `false` (off). */
  | { readonly kind: 'rate' };

export type Unit = 'seconds' | 'bytes';

/** `cookie.httpOnly` -> `TESSERA_COOKIE_HTTP_ONLY`, `refreshReuse.maxReuse` -> `TESSERA_REFRESH_REUSE_MAX_REUSE`. */
export function envName(path: string): string {
  return 'TESSERA_' + path.split('.').map(p => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

/** One option as written in the table (path and environment name are added by `option()`). */
export interface OptionSpec {
  readonly type: OptionType;
  /** The default as a user would write it; it goes through the same check as a given value. */
  readonly default?: unknown;
  /** A default computed from other (resolved) options, for options without a fixed one. */
  readonly derive?: (get: (path: string) => any) => unknown;
  /** The default as the README shows it (markdown). */
  readonly defaultDoc: string;
  readonly unit?: Unit;
  /** `false`: code-only (functions, the store, the clock, plain groups); no `TESSERA_*` variable. */
  readonly env?: false;
  /** One doc line (markdown). Optional for groups only: a group without one gets no README row. */
  readonly doc?: string;
  /** A further check of a value of the right type; returns the value to use or throws ConfigError. */
  readonly refine?: (value: any, path: string) => unknown;
}

export type OptionEntry = Omit<OptionSpec, 'env'> & {
  /** Dotted path, e.g. `cookie.sameSite`. */
  readonly path: string;
  /** `TESSERA_` + the path in upper snake case; undefined for code-only options. */
  readonly env: string | undefined;
};

/** The resolved type a kind of option holds. */
export type KindValue<T> = T extends { kind: 'group' }
  ? boolean
  : T extends { kind: 'string' }
    ? string
    : T extends { kind: 'boolean' }
      ? boolean
      : T extends { kind: 'booleanOrAuto' }
        ? boolean | 'auto'
        : T extends { kind: 'integer' | 'duration' }
          ? number
          : T extends { kind: 'window' }
            ? { seconds: number } | { share: number }
            : T extends { kind: 'enum'; values: readonly (infer V)[] }
              ? V | (T extends { off: true } ? false : never)
              : T extends { kind: 'secrets' | 'list' }
                ? string[]
                : T extends { kind: 'keys' }
                  ? KeyObject[]
                : T extends { kind: 'store' }
                  ? TokenStore
                  : T extends { kind: 'logger' }
                    ? Logger | false
                    : T extends { kind: 'trustProxy' }
                      ? TrustProxy
                    : T extends { kind: 'rate' }
                      ? Rate | false
                  : T extends { kind: 'function' }
                    ? (...args: never[]) => unknown
                    : never;

/** One table row: the spec, its path, and its `TESSERA_*` name (none when `env: false`). */
export function option<const P extends string, const S extends OptionSpec>(path: P, spec: S) {
  const { env, ...rest } = spec;
  return { ...rest, path, env: env === false ? undefined : envName(path) } as Omit<S, 'env'> & { readonly path: P; readonly env: string | undefined };
}
