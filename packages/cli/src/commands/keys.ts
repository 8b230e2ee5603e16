/**
 * `tessera keys list|rotate`. Only kids are ever printed (a short one-way digest of an HMAC key,
 * the RFC 7638 thumbprint of a public key), never a secret or a private key.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore, configuredKids, generateSecret, readKeyring, retireAfter, rotateKeyring, type KeyringKey, type TokenStore } from '@tessera/core';
import { resolveOptions, type TesseraOptions } from '@tessera/core/options';
import { FileStore } from '@tessera/store-file';
import { Command } from 'commander';
import { CliError, iso, nowSeconds, say, sayJson, storeOptions, withStore, type StoreOptions } from '../shared.js';

export interface ListedKey {
  kid: string;
  /** The first key signs; the others only verify. */
  use: 'sign' | 'verify';
  source: 'TESSERA_SECRET' | 'TESSERA_KEYS' | 'store';
  /** Once the store keeps a keyring (after a first `keys rotate`): the key's state, since when, and until when. */
  state?: KeyringKey['state'];
  since?: string;
  until?: string;
}

/**
 * The generated secret the store keeps, read without creating one (`initSecret` would):
 * null when it keeps none. Stores with no read-only way to it are refused.
 */
async function storedSecret(store: TokenStore, label: string): Promise<string | null> {
  if (typeof store.initSecret !== 'function') return null; // cannot keep one: servers need TESSERA_SECRET
  if (store instanceof MemoryStore) return null; // a new process's memory store keeps nothing
  if (store instanceof FileStore) {
    try {
      return (await fs.readFile(join(store.dir, 'secret'), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new CliError(`keys list: cannot read the generated secret in ${label}: ${(err as NodeJS.ErrnoException).code ?? 'read failed'}`);
    }
  }
  throw new CliError(`keys list: ${label} has no read-only way to its generated secret in this version; set TESSERA_SECRET to see the kid in use`);
}

/** As the core checks a stored secret before using it; never echoed. */
function usable(secret: string): boolean {
  return Buffer.byteLength(secret, 'utf8') >= 32 && !/[\x00-\x20\x7f]/.test(secret);
}

/** Where configured keys come from, for messages; null when the servers generate theirs into the store. */
function configuredSource(options: TesseraOptions): 'TESSERA_KEYS' | 'TESSERA_SECRET' | null {
  return options.keys !== undefined ? 'TESSERA_KEYS' : options.secret !== undefined ? 'TESSERA_SECRET' : null;
}

function listed(k: KeyringKey): ListedKey {
  const out: ListedKey = { kid: k.kid, use: k.state === 'signing' ? 'sign' : 'verify', source: 'store', state: k.state };
  if (k.since > 0) out.since = iso(k.since)!; // 0: the initial key, signing since the store's first server started
  if (k.until !== undefined) out.until = iso(k.until)!;
  return out;
}

function describeKey(k: ListedKey, label: string): string {
  if (k.source !== 'store') return `${k.kid}  ${k.use}  ${k.source}`;
  const where = `generated, kept in ${label}`;
  if (k.state === undefined) return `${k.kid}  ${k.use}  ${where}`;
  const until = k.state === 'next' ? `, may sign from ${k.until}` : k.state === 'retiring' ? `, verifies until ${k.until}` : '';
  return `${k.kid}  ${k.use}  ${where} (${k.state}${k.since ? ` since ${k.since}` : ''}${until})`;
}

function listCommand(): Command {
  return storeOptions(
    new Command('list').description('print the kids of the signing keys in use: TESSERA_KEYS or TESSERA_SECRET, else the keyring generated into the store'),
  ).action((opts: StoreOptions) =>
    withStore(opts, async ({ store, label }, env) => {
      const o = resolveOptions(env.options);
      const source = configuredSource(env.options);
      let keys: ListedKey[];
      if (source !== null) {
        keys = (configuredKids(o) ?? []).map((kid, i) => ({ kid, use: i === 0 ? 'sign' : 'verify', source }));
      } else {
        const secret = await storedSecret(store, label);
        if (secret !== null && !usable(secret)) throw new CliError(`keys list: the generated secret kept in ${label} is unusable (not a string of at least 32 bytes); remove it or set TESSERA_SECRET`);
        if (secret === null) keys = [];
        else {
          const ring = await readKeyring(store, { algorithm: o.algorithm, root: secret, retire: retireAfter(o), now: nowSeconds() });
          keys = ring.stored ? ring.keys.map(listed) : [{ kid: ring.keys[0]!.kid, use: 'sign', source: 'store' }];
        }
      }
      if (opts.json) return sayJson({ keys });
      if (keys.length === 0) return say(`no signing secret yet: TESSERA_SECRET is unset and ${label} keeps no generated one (the first server to start generates it)`);
      for (const k of keys) say(describeKey(k, label));
    }),
  );
}

interface RotateOptions extends StoreOptions {
  now?: boolean;
}

function rotateCommand(): Command {
  return storeOptions(
    new Command('rotate')
      .description(
        'one step of a rotation of the keyring generated into the store: add a key that verifies but does not sign yet; run again once it is published (every server and JWKS cache has it) to make it sign, the old key verifying until its tokens have expired',
      )
      .option('--now', 'promote the waiting key at once (servers that have not re-read the keyring yet do so on its first token; JWKS caches of other services may refuse it until they refresh)'),
  ).action((opts: RotateOptions) =>
    withStore(opts, async ({ store, label }, env) => {
      const o = resolveOptions(env.options);
      const retire = retireAfter(o);
      const source = configuredSource(env.options);
      if (source !== null) {
        throw new CliError(
          `keys rotate: the keys come from ${source}: rotate them there (add the new key after the old one, deploy; then put it first, deploy; drop the old one ${retire} s later, the longest token lifetime)`,
        );
      }
      if (store instanceof MemoryStore || typeof store.initSecret !== 'function' || typeof store.getMeta !== 'function' || typeof store.setMeta !== 'function') {
        throw new CliError(`keys rotate: ${label} cannot keep a keyring its servers share; use a shared store, or set TESSERA_KEYS / TESSERA_SECRET and rotate by configuration`);
      }
      // The secret the servers generated (or the one the first of them will find): every key derives from it.
      const root = await store.initSecret(generateSecret());
      if (!usable(root)) throw new CliError(`keys rotate: the generated secret kept in ${label} is unusable (not a string of at least 32 bytes); remove it or set TESSERA_SECRET`);
      const r = await rotateKeyring(store, { algorithm: o.algorithm, root, retire, now: nowSeconds(), force: opts.now === true });
      if (opts.json) {
        return sayJson({
          action: r.action,
          kid: r.kid,
          ...(r.readyAt !== undefined ? { readyAt: iso(r.readyAt) } : {}),
          ...(r.demoted ? { demoted: { kid: r.demoted.kid, until: iso(r.demoted.until) } } : {}),
          retired: r.retired,
          keys: r.keys.map(listed),
        });
      }
      for (const kid of r.retired) say(`retired ${kid}: every token it signed has expired`);
      if (r.action === 'added') say(`added ${r.kid}: it verifies (and is published) but does not sign yet; run \`tessera keys rotate\` again from ${iso(r.readyAt)} to make it sign`);
      if (r.action === 'waiting') say(`${r.kid} is waiting to be published everywhere: run \`tessera keys rotate\` again from ${iso(r.readyAt)} (or with --now)`);
      if (r.action === 'promoted') say(`${r.kid} signs now; ${r.demoted!.kid} verifies until ${iso(r.demoted!.until)}, then retires`);
    }),
  );
}

export function keysCommand(): Command {
  return new Command('keys').description('signing keys: list the ones in use, rotate the keyring generated into the store').addCommand(listCommand()).addCommand(rotateCommand());
}
