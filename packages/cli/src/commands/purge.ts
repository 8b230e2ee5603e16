/** `tessera purge`: deletes expired and revoked records. */
import { Command } from 'commander';
import { nowSeconds, plural, say, sayJson, storeOptions, withStore, type StoreOptions } from '../shared.js';

export function purgeCommand(): Command {
  return storeOptions(new Command('purge').description('delete expired and revoked records, and print how many')).action((opts: StoreOptions) =>
    withStore(opts, async ({ store }) => {
      const purged = await store.purgeExpired(nowSeconds());
      if (opts.json) sayJson({ purged });
      else say(`purged ${plural(purged, 'record')}`);
    }),
  );
}
