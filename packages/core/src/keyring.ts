/**
 * The rotatable keyring of servers whose secret is generated into the store: a meta value
 * (`keyring`) naming keys by id, each in one state: `next` (verifies, published at /jwks, does not
 * sign yet), `signing` (exactly one) or `retiring` (verifies until every token it signed has
 * expired). It holds no key material: each key is derived from the store's secret and its id, so
 * the document can be read, written and copied without ever carrying a key.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import type { Algorithm } from './option-table.js';

export const KEYRING_META = 'keyring';

export type KeyState = 'next' | 'signing' | 'retiring';

export interface KeyringEntry {
  id: string;
  state: KeyState;
  /** Epoch seconds it entered this state. */
  since: number;
}

export interface KeyringDoc {
  v: 1;
  keys: KeyringEntry[];
}

/** The key every store starts with (for HMAC, the generated secret itself: the one key before keyrings existed). */
export const INITIAL_ID = 'initial';
export const INITIAL_KEYRING: KeyringDoc = { v: 1, keys: [{ id: INITIAL_ID, state: 'signing', since: 0 }] };

/** A server re-reads the keyring (and the secret) this often while it serves requests. */
export const KEYRING_REFRESH_SECONDS = 30;
/** A token naming an unknown kid makes a server re-read at most this often (a flood of made-up kids costs one read per period). */
export const UNKNOWN_KID_REREAD_SECONDS = 5;
/** `Cache-Control: max-age` of `/jwks`. */
export const JWKS_MAX_AGE = 300;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const STATES: ReadonlySet<string> = new Set(['next', 'signing', 'retiring']);

/** The stored document, checked; null when it is not a usable keyring (never guessed at). Absent: the initial keyring. */
export function parseKeyring(raw: string | null): KeyringDoc | null {
  if (raw === null) return INITIAL_KEYRING;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return null;
  }
  const doc = v as { v?: unknown; keys?: unknown };
  if (typeof v !== 'object' || v === null || doc.v !== 1 || !Array.isArray(doc.keys)) return null;
  const keys: KeyringEntry[] = [];
  const ids = new Set<string>();
  for (const e of doc.keys as unknown[]) {
    const k = e as Partial<KeyringEntry> | null;
    if (typeof k !== 'object' || k === null || typeof k.id !== 'string' || !ID.test(k.id) || ids.has(k.id)) return null;
    if (typeof k.state !== 'string' || !STATES.has(k.state) || typeof k.since !== 'number' || !Number.isSafeInteger(k.since) || k.since < 0) return null;
    ids.add(k.id);
    keys.push({ id: k.id, state: k.state, since: k.since });
  }
  if (keys.filter(k => k.state === 'signing').length !== 1 || keys.filter(k => k.state === 'next').length > 1) return null;
  return { v: 1, keys };
}

/** Seconds after its demotion a retiring key keeps verifying: the longest token lifetime, the clock tolerance and two refresh periods of slack. */
export function retireAfter(o: { ttl: number; accessTtl: number; refreshTtl: number; clockTolerance: number }): number {
  return Math.max(o.ttl, o.accessTtl, o.refreshTtl) + o.clockTolerance + 2 * KEYRING_REFRESH_SECONDS;
}

/** The keys that verify at `now`, the signing one first, then the next one, then the retiring ones still needed. */
export function liveEntries(doc: KeyringDoc, now: number, retire: number): KeyringEntry[] {
  const of = (s: KeyState) => doc.keys.filter(k => k.state === s);
  return [...of('signing'), ...of('next'), ...of('retiring').filter(k => k.since + retire > now)];
}

const HMAC_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64 };

/** An HMAC key of the keyring: the secret itself for the initial key, else derived from it (HKDF-SHA-256, one-way). */
export function hmacSecretFor(algorithm: Algorithm, root: string, id: string): string {
  if (id === INITIAL_ID) return root;
  return Buffer.from(hkdfSync('sha256', root, 'tessera-keys', `tessera ${algorithm} key ${id}`, HMAC_BYTES[algorithm] ?? 32)).toString('base64url');
}

export type RotateOutcome =
  | { action: 'added'; id: string }
  | { action: 'promoted'; id: string; demoted: string }
  /** A next key exists but has not been published long enough; `readyAt` is when it may sign. */
  | { action: 'waiting'; id: string; readyAt: number };

export interface RotateOptions {
  now: number;
  /** Least seconds between adding a key and promoting it, so every server and every JWKS cache has it first. */
  publishDelay: number;
  /** See `retireAfter`. */
  retire: number;
  /** Promote a next key even before `publishDelay`. */
  force?: boolean;
}

/**
 * One step of a rotation, as a new document: without a next key, add one (verify-only); with one
 * published long enough, promote it and demote the signing key to retiring. Either way, keys
 * retired past `retire` are dropped.
 */
export function rotateStep(doc: KeyringDoc, o: RotateOptions): { doc: KeyringDoc; outcome: RotateOutcome; dropped: string[] } {
  const dropped = doc.keys.filter(k => k.state === 'retiring' && k.since + o.retire <= o.now).map(k => k.id);
  let keys = doc.keys.filter(k => !dropped.includes(k.id));
  const next = keys.find(k => k.state === 'next');
  let outcome: RotateOutcome;
  if (next === undefined) {
    const id = randomBytes(9).toString('base64url');
    keys = [...keys, { id, state: 'next', since: o.now }];
    outcome = { action: 'added', id };
  } else if (o.force || o.now >= next.since + o.publishDelay) {
    const signing = keys.find(k => k.state === 'signing')!;
    keys = keys.map(k => (k === next ? { ...k, state: 'signing', since: o.now } : k === signing ? { ...k, state: 'retiring', since: o.now } : k));
    outcome = { action: 'promoted', id: next.id, demoted: signing.id };
  } else {
    outcome = { action: 'waiting', id: next.id, readyAt: next.since + o.publishDelay };
  }
  return { doc: { v: 1, keys }, outcome, dropped };
}

/** The publish delay a rotation waits for by default: every server's next re-read, and for asymmetric keys every JWKS cache's expiry. */
export function publishDelayFor(asymmetric: boolean): number {
  return KEYRING_REFRESH_SECONDS * 2 + (asymmetric ? JWKS_MAX_AGE : 0);
}
