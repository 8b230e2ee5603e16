/** Fuzzing the Koa adapter over HTTP on 127.0.0.1 (FUZZ_RUNS inputs; see adapter-fuzz.ts). */
import { defineAdapterFuzz } from './adapter-fuzz.js';
import { mountKoa } from './mounts.js';

defineAdapterFuzz('koa', mountKoa);
