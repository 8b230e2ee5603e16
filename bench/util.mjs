// Small helpers the bench scripts share: numeric settings from the environment, and a free loopback port.
import { createServer } from 'node:net';

/** A number from `process.env[name]`, or `def`; a bad value stops the script with a message naming the variable. */
export function envNumber(name, def, { min = 0, integer = false } = {}) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    console.error(`${name}=${raw} is not a valid value (expected ${integer ? 'an integer' : 'a number'} >= ${min})`);
    process.exit(2);
  }
  return n;
}

/** A port nothing listens on right now, on 127.0.0.1. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}
