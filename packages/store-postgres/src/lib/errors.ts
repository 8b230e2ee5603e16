/** Turning driver failures into `StoreError` without leaking credentials. */
import { StoreError } from '@tessera/core/store';

/** `postgres://user:secret@host/db` -> `postgres://user:***@host/db` (also hides `password=` parameters). */
export function redactUrl(text: string): string {
  return text
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*):[^@/?#\s]*@/gi, '$1:***@')
    .replace(/(password=)[^&\s]*/gi, '$1***');
}

/** SQLSTATE values worth a hint in the message. */
const HINTS: Record<string, string> = {
  '42P01': 'table missing: call `await store.setup()` once before use',
  '57014': 'query timed out or was cancelled',
  '53300': 'too many connections',
  // TLS (node's error codes)
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate is not signed by a trusted CA: give the CA with tls.ca or sslrootcert=",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is self-signed: give it as the CA with tls.ca or sslrootcert=",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "the server's certificate is not signed by a trusted CA: give the CA with tls.ca or sslrootcert=",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "the server's certificate is not signed by a trusted CA: give the CA with tls.ca or sslrootcert=",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate does not name this host: connect by a name it carries, or set tls.servername",
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the server requires a client certificate: give tls.cert and tls.key (sslcert=, sslkey=)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'the server does not trust the client certificate',
};

/** Driver failures without a code worth a hint too. */
const MESSAGE_HINTS: Array<[RegExp, string]> = [
  [/server does not support SSL/i, 'TLS was required (sslmode / tls) but the server has TLS off; the store does not fall back to plain text'],
];

/**
 * Wraps any failure of a backend call into a `StoreError` (code STORE_UNAVAILABLE) so the core
 * answers 503 and fails closed. The message carries the SQLSTATE / errno and the driver's text,
 * never the query parameters, and URLs in it are redacted.
 */
export function toStoreError(op: string, err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = e && typeof e.code === 'string' ? e.code : undefined;
  const text = e && typeof e.message === 'string' ? redactUrl(e.message).slice(0, 300) : String(err);
  const known = (code && Object.hasOwn(HINTS, code) ? HINTS[code] : undefined) ?? MESSAGE_HINTS.find(([re]) => re.test(text))?.[1];
  const hint = known ? ` (${known})` : '';
  return new StoreError(`postgres store: ${op} failed${code ? ` [${code}]` : ''}: ${text}${hint}`, { cause: err });
}
