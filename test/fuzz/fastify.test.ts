/** Fuzzing the Fastify adapter over HTTP on 127.0.0.1 (FUZZ_RUNS inputs; see adapter-fuzz.ts). */
import { defineAdapterFuzz } from './adapter-fuzz.js';
import { mountFastify } from './mounts.js';

defineAdapterFuzz('fastify', mountFastify);
