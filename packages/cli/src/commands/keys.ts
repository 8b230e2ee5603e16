/**
 * `tessera keys list|rotate`. Only the kid of a secret is ever printed (a short one-way digest),
 * never the secret itself.
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { MemoryStore, kidOf, type TokenStore } from '@tessera/core';
import { FileStore } from '@tessera/store-file';
import { Command } from 'commander';
import { CliError, say, sayJson, storeOptions, withStore, type StoreOptions } from '../shared.js';

export interface ListedKey {
  kid: string;
  /** The first key signs; the others of a TESSERA_SECRET keyring only verify. */
  use: 'sign' | 'verify';
  source: 'TESSERA_SECRET' | 'store';
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

function listCommand(): Command {
  return storeOptions(new Command('list').description('print the kid of the signing secret in use: TESSERA_SECRET, else the one generated into the store')).action(
    (opts: StoreOptions) =>
      withStore(opts, async ({ store, label }, env) => {
        let keys: ListedKey[];
        const configured = env.options.secret;
        if (configured !== undefined) {
          keys = ([] as string[]).concat(configured).map((s, i) => ({ kid: kidOf(s), use: i === 0 ? 'sign' : 'verify', source: 'TESSERA_SECRET' }));
        } else {
          const secret = await storedSecret(store, label);
          if (secret !== null && !usable(secret)) throw new CliError(`keys list: the generated secret kept in ${label} is unusable (not a string of at least 32 bytes); remove it or set TESSERA_SECRET`);
          keys = secret === null ? [] : [{ kid: kidOf(secret), use: 'sign', source: 'store' }];
        }
        if (opts.json) return sayJson({ keys });
        if (keys.length === 0) return say(`no signing secret yet: TESSERA_SECRET is unset and ${label} keeps no generated one (the first server to start generates it)`);
        for (const k of keys) say(`${k.kid}  ${k.use}  ${k.source === 'store' ? `generated, kept in ${label}` : 'TESSERA_SECRET'}`);
      }),
  );
}

function rotateCommand(): Command {
  return storeOptions(new Command('rotate').description('not available yet: rotation needs a keyring')).action(() => {
    throw new CliError('keys rotate: rotation needs a keyring, which this version does not have yet (meanwhile set TESSERA_SECRET=new,old: the first signs, all verify)');
  });
}

export function keysCommand(): Command {
  return new Command('keys').description('signing keys: list the one in use (rotate: not yet)').addCommand(listCommand()).addCommand(rotateCommand());
}
