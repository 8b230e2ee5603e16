/**
 * What every command shares: reading TESSERA_*, opening (and always closing) the store, output
 * (`--json` or text, one JSON document per run) and the one-line failure.
 */
import { ConfigError, type TokenStore } from '@tessera/core';
import { optionsFromEnv, openStore, type EnvConfig } from '@tessera/config';
import { defaultStore } from '@tessera/store-file';
import { InvalidArgumentError, type Command } from 'commander';

/** A failure the user can act on: printed as `tessera: <message>`, exit code 1. */
export class CliError extends Error {
  override name = 'CliError';
}

/** The store URL shown when neither --store nor TESSERA_STORE names one. */
export const DEFAULT_STORE_URL = 'file:.tessera';

/** Store URL credentials hidden: `redis://user:pass@host` -> `redis://***@host`. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^@\s/]*@/gi, '$1***@');
}

/** An error as one safe line: first line only, credentials in URLs hidden, bounded. */
export function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n').map(s => s.trim()).filter(Boolean).join(' ');
  return redactUrl(line).slice(0, 400) || (err instanceof Error ? err.name : 'unknown error');
}

/** The message printed for a failure, without the `tessera: ` prefix. */
export function describeError(err: unknown): string {
  if (err instanceof CliError) return oneLine(err);
  if (err instanceof ConfigError) return `configuration error: ${oneLine(err)}`;
  if ((err as { code?: unknown } | null)?.code === 'STORE_UNAVAILABLE') return `store unavailable: ${oneLine(err)}`;
  return oneLine(err);
}

/** Reads and checks every TESSERA_* variable (a bad value throws a ConfigError naming it); warns about unknown ones. */
export function readEnv(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const cfg = optionsFromEnv(env);
  for (const name of cfg.unknown) process.stderr.write(`tessera: ignoring unknown variable ${name}\n`);
  return cfg;
}

export interface OpenedStore {
  store: TokenStore;
  /** The URL, credentials hidden, for messages. */
  label: string;
}

/**
 * Opens the store `url` names, or the default file store in ./.tessera when none does.
 * `variable` names where the URL came from in a ConfigError (`--store`, `TESSERA_STORE`, `--to`).
 */
export async function openNamedStore(url: string | undefined, variable: string): Promise<OpenedStore> {
  if (url === undefined) return { store: defaultStore(), label: DEFAULT_STORE_URL };
  if (url.trim() === '') throw new CliError(`${variable}: a store URL must not be empty`);
  return { store: await openStore(url, variable), label: redactUrl(url.trim()) };
}

export interface StoreOptions {
  store?: string;
  json?: boolean;
}

/** Reads TESSERA_*, opens the store (--store over TESSERA_STORE over ./.tessera), runs `fn`, always closes the store. */
export async function withStore<T>(opts: StoreOptions, fn: (s: OpenedStore, env: EnvConfig) => Promise<T>): Promise<T> {
  const env = readEnv();
  const opened = opts.store !== undefined ? await openNamedStore(opts.store, '--store') : await openNamedStore(env.storeUrl, 'TESSERA_STORE');
  return closing(opened.store, () => fn(opened, env));
}

/** Runs `fn`, then closes `store` whatever happened (a close failure never hides the result). */
export async function closing<T>(store: TokenStore, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    await store.close().catch(() => {});
  }
}

/** Adds the options every store command takes. */
export function storeOptions(cmd: Command): Command {
  return cmd
    .option('--store <url>', 'store URL (overrides TESSERA_STORE; default file:.tessera)')
    .option('--json', 'machine-readable output: one JSON object on stdout');
}

/** One line on stdout. */
export function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** The result of a `--json` run: one JSON object, one line, on stdout. */
export function sayJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Now, in epoch seconds (the store seam's unit). */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Epoch seconds as an ISO 8601 string without milliseconds; null stays null. */
export function iso(seconds: number | null | undefined): string | null {
  if (seconds === null || seconds === undefined) return null;
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

/** Commander option parser for a whole number of at least `min`. */
export function wholeNumber(min: number): (value: string) => number {
  return value => {
    if (!/^\d{1,9}$/.test(value.trim()) || Number(value) < min) throw new InvalidArgumentError(`expected a whole number of at least ${min}`);
    return Number(value);
  };
}

/** `n thing` / `n things`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
