/** Reading PEM inputs for store TLS options (`@tessera/core/store`): PEM text, a Buffer, or a file path. */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';

const PEM_MARK = '-----BEGIN';

/**
 * How a value that was taken for a path is shown in an error: paths of public material as given;
 * for the key only when it looks like a path (a slash or dot start, a file extension), never text
 * that could be key material pasted without its PEM header (base64 has no dots).
 */
function showPath(v: string, secret: boolean): string {
  const looksLikePath = !/\s/.test(v) && v.length <= 1024 && (v.includes('.') || /^(\/|~|[A-Za-z]:[\\/])/.test(v));
  if (secret && !looksLikePath) return `the key path given (${v.length} characters, not shown)`;
  return JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);
}

/**
 * Reads one PEM input: PEM text and Buffers as they are, anything else as a file path, read now.
 * `secret` (a private key): the value is shown in an error only when it looks like a path.
 */
export function readPem(field: string, v: unknown, secret = false): string | Buffer {
  if (Buffer.isBuffer(v)) {
    if (v.length === 0) throw new ConfigError(field, 'is an empty Buffer');
    return v;
  }
  if (typeof v !== 'string' || v.trim() === '') throw new ConfigError(field, 'must be PEM text, a Buffer holding PEM, or the path of a PEM file');
  if (v.includes(PEM_MARK)) return v;
  let data: Buffer;
  try {
    data = readFileSync(v);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError(field, `cannot read the file ${showPath(v, secret)} (${code})`);
  }
  if (!data.includes(PEM_MARK)) throw new ConfigError(field, `the file ${showPath(v, secret)} holds no PEM data (no "${PEM_MARK}" line)`);
  return data;
}
