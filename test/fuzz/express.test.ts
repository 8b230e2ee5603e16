/** Fuzzing the Express adapter over HTTP on 127.0.0.1 (FUZZ_RUNS inputs; see adapter-fuzz.ts). */
import { defineAdapterFuzz } from './adapter-fuzz.js';
import { mountExpress } from './mounts.js';

defineAdapterFuzz('express', mountExpress);
