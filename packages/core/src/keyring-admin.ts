/** Operating the keyring kept in the store (`tessera keys list|rotate`): its keys by kid, and one rotation step. Only kids leave this file, never a key. */
import { StoreError } from './errors.js';
import { keyringOf } from './keys.js';
import { isAsymmetric } from './lib/key-material.js';
import { KEYRING_META, parseKeyring, publishDelayFor, rotateStep, type KeyState, type KeyringDoc } from './keyring.js';
import type { Algorithm } from './option-table.js';
import type { TokenStore } from './store.js';

export interface KeyringKey {
  kid: string;
  state: KeyState;
  /** Epoch seconds it entered its state. */
  since: number;
  /** `next`: when a rotation may promote it; `retiring`: when it stops verifying. */
  until?: number;
}

export interface KeyringReport {
  /** False: the store keeps no keyring yet, only its secret (the initial key signs). */
  stored: boolean;
  /** Signing key first, then the next one, then the retiring ones. */
  keys: KeyringKey[];
}

export interface KeyringContext {
  algorithm: Algorithm;
  /** The secret the store keeps (every key is derived from it). */
  root: string;
  /** Seconds a demoted key keeps verifying (`retireAfter` of the servers' options). */
  retire: number;
  now: number;
}

const ORDER: Readonly<Record<KeyState, number>> = { signing: 0, next: 1, retiring: 2 };

function keysOf(doc: KeyringDoc, c: KeyringContext): KeyringKey[] {
  const delay = publishDelayFor(isAsymmetric(c.algorithm));
  return [...doc.keys]
    .sort((a, b) => ORDER[a.state] - ORDER[b.state])
    .map(e => {
      const k: KeyringKey = { kid: keyringOf(c.algorithm, c.root, [e.id]).signing.kid, state: e.state, since: e.since };
      if (e.state === 'next') k.until = e.since + delay;
      if (e.state === 'retiring') k.until = e.since + c.retire;
      return k;
    });
}

async function readDoc(store: TokenStore): Promise<{ raw: string | null; doc: KeyringDoc }> {
  const raw = typeof store.getMeta === 'function' ? await store.getMeta(KEYRING_META) : null;
  const doc = parseKeyring(raw);
  if (doc === null) throw new StoreError('the keyring kept in the store (meta value `keyring`) is unusable; remove it to start over from the initial key');
  return { raw, doc };
}

export async function readKeyring(store: TokenStore, c: KeyringContext): Promise<KeyringReport> {
  const { raw, doc } = await readDoc(store);
  return { stored: raw !== null, keys: keysOf(doc, c) };
}

export interface RotateReport {
  action: 'added' | 'promoted' | 'waiting';
  /** The key added, promoted, or waiting to be. */
  kid: string;
  /** `added` / `waiting`: when the next step may promote it. */
  readyAt?: number;
  /** `promoted`: the key that signed until now, and when it stops verifying. */
  demoted?: { kid: string; until: number };
  /** Kids dropped: retiring keys whose tokens have all expired. */
  retired: string[];
  keys: KeyringKey[];
}

/**
 * One rotation step (see `rotateStep`), written to the store: add a verify-only key; or, once it
 * has been published `publishDelay` seconds (every server re-read it, every JWKS cache expired),
 * make it sign and demote the old one to retiring. Run one at a time: the write is not a
 * compare-and-set.
 */
export async function rotateKeyring(store: TokenStore, c: KeyringContext & { force?: boolean; publishDelay?: number }): Promise<RotateReport> {
  if (typeof store.getMeta !== 'function' || typeof store.setMeta !== 'function') throw new StoreError('this store keeps no meta values, so no keyring: rotate by configuration instead');
  const { doc } = await readDoc(store);
  const publishDelay = c.publishDelay ?? publishDelayFor(isAsymmetric(c.algorithm));
  const step = rotateStep(doc, { now: c.now, publishDelay, retire: c.retire, force: c.force ?? false });
  const kidOf = (id: string) => keyringOf(c.algorithm, c.root, [id]).signing.kid;
  const o = step.outcome;
  if (o.action !== 'waiting' || step.dropped.length > 0) await store.setMeta(KEYRING_META, JSON.stringify(step.doc));
  const report: RotateReport = { action: o.action, kid: kidOf(o.id), retired: step.dropped.map(kidOf), keys: keysOf(step.doc, c) };
  if (o.action === 'added') report.readyAt = c.now + publishDelay;
  if (o.action === 'waiting') report.readyAt = o.readyAt;
  if (o.action === 'promoted') report.demoted = { kid: kidOf(o.demoted), until: c.now + c.retire };
  return report;
}
