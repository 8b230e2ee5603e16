#!/usr/bin/env node
/** The `tessera` command. */
import { main } from './main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// Every command closes its store; should a client library still hold a handle, do not hang on it.
setTimeout(() => process.exit(code), 1000).unref();
