import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '@tessera/store-file';
import { defineStoreSuite } from '../../packages/testkit/src/store-suite.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-file-store-'));
let n = 0;

defineStoreSuite('file', () => new FileStore({ dir: join(root, String(n++)) }), {
  writeRaw: async (store, id, raw) => {
    mkdirSync(join(store.dir, 'records'), { recursive: true });
    writeFileSync(join(store.dir, 'records', `${id}.json`), raw);
  },
  readRaw: async (store, id) => {
    const file = join(store.dir, 'records', `${id}.json`);
    return existsSync(file) ? readFileSync(file, 'utf8') : null;
  },
  // A second FileStore on the same directory: what another process sharing it sees.
  sibling: store => new FileStore({ dir: store.dir }),
  teardown: async () => rmSync(root, { recursive: true, force: true }),
});
