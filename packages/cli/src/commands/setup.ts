/** `tessera setup`: creates the tables of stores that need them (PostgreSQL, DynamoDB); idempotent. */
import { needsSetup } from '@tessera/config';
import { Command } from 'commander';
import { say, sayJson, storeOptions, withStore, type StoreOptions } from '../shared.js';

export function setupCommand(): Command {
  return storeOptions(new Command('setup').description('create the tables of a PostgreSQL or DynamoDB store (idempotent; other stores need none)')).action(
    (opts: StoreOptions) =>
      withStore(opts, async ({ store, label }) => {
        const needed = needsSetup(store);
        if (needed) await store.setup();
        if (opts.json) sayJson({ setup: needed });
        else say(needed ? `${label}: tables ready (created where missing)` : `${label}: this store needs no setup`);
      }),
  );
}
