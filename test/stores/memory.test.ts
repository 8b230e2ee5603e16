import { MemoryStore } from '@tessera/core';
import { defineStoreSuite } from '../../packages/testkit/src/store-suite.js';

defineStoreSuite('memory', () => new MemoryStore());
