/**
 * TLS settings of a store-owned connection: from the `tls` option and from the `rediss://` URL's
 * query (`?ca=/path&cert=/path&key=/path&servername=name&rejectUnauthorized=false`), so a
 * `TESSERA_STORE` URL can carry them. Certificates and keys are read once, when the store is
 * created. Key material never appears in an error message.
 */
import { isIP } from 'node:net';
import { ConfigError } from '@tessera/core';
import { readPem } from '@tessera/core/store';

/** PEM text (a string containing `-----BEGIN`), a Buffer holding PEM, or a path to a PEM file. */
export type PemInput = string | Buffer;

export interface RedisTlsOptions {
  /**
   * Certificate authorities to trust for the server's certificate, instead of Node's bundled public
   * CAs. Default: Node's bundled CAs (what a managed Redis with a public certificate needs).
   */
  ca?: PemInput | PemInput[];
  /** Client certificate for mutual TLS (`tls-auth-clients yes`); give `key` with it. Default: none. */
  cert?: PemInput;
  /** The client certificate's private key (unencrypted PEM). Default: none. */
  key?: PemInput;
  /** The name the server's certificate must carry (and the SNI sent). Default: the URL's host. */
  servername?: string;
  /**
   * Refuse a server whose certificate is not signed by a trusted CA or does not name the host.
   * Default `true`. `false` accepts any certificate, which lets anyone on the path read and
   * change the traffic: for a throwaway test setup only.
   */
  rejectUnauthorized?: boolean;
}

/** The options handed to `tls.connect` (via node-redis' `socket`). */
export interface ResolvedTls {
  ca?: Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  servername?: string;
  rejectUnauthorized: boolean;
}

/** The query parameters the store reads from a `rediss://` URL (and removes before connecting). */
export const URL_TLS_PARAMS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'] as const;

function booleanParam(field: string, v: string): boolean {
  const s = v.trim().toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw new ConfigError(field, 'must be true or false');
}

/**
 * Splits a store URL into the URL node-redis gets (without the TLS parameters) and the TLS settings
 * (undefined for `redis://`). TLS settings with a plain-text `redis://` URL are refused: whoever
 * wrote them expects an encrypted connection.
 */
export function resolveTls(url: string, options: RedisTlsOptions | undefined): { url: string; tls: ResolvedTls | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('store.url', 'is not a valid URL');
  }
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new ConfigError('store.tls', 'must be an object { ca, cert, key, servername, rejectUnauthorized }');
  }
  const fromUrl: RedisTlsOptions = {};
  const q = u.searchParams;
  for (const name of URL_TLS_PARAMS) {
    const all = q.getAll(name);
    if (all.length === 0) continue;
    if (name !== 'ca' && all.length > 1) throw new ConfigError(`store.url ?${name}`, 'is given more than once');
    q.delete(name);
    if (name === 'rejectUnauthorized') fromUrl.rejectUnauthorized = booleanParam('store.url ?rejectUnauthorized', all[0]!);
    else if (name === 'ca') fromUrl.ca = all;
    else fromUrl[name] = all[0]!;
  }
  // The option wins over the URL, field by field.
  const o: RedisTlsOptions = { ...fromUrl };
  for (const [k, v] of Object.entries(options ?? {})) {
    if (!(URL_TLS_PARAMS as readonly string[]).includes(k)) throw new ConfigError(`store.tls.${k}`, 'is not a TLS option (ca, cert, key, servername, rejectUnauthorized)');
    if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  }
  const given = Object.keys(o).length > 0;
  const rest = u.toString();
  if (u.protocol === 'redis:') {
    if (given) {
      throw new ConfigError('store.tls', `TLS settings (${Object.keys(o).join(', ')}) need a rediss:// URL; this redis:// URL connects in plain text`);
    }
    return { url: rest, tls: undefined };
  }
  const tls: ResolvedTls = { rejectUnauthorized: true };
  if (o.rejectUnauthorized !== undefined) {
    if (typeof o.rejectUnauthorized !== 'boolean') throw new ConfigError('store.tls.rejectUnauthorized', 'must be a boolean');
    tls.rejectUnauthorized = o.rejectUnauthorized;
  }
  if (o.ca !== undefined) {
    const list = Array.isArray(o.ca) ? o.ca : [o.ca];
    if (list.length === 0) throw new ConfigError('store.tls.ca', 'is an empty list');
    tls.ca = list.map(c => readPem('store.tls.ca', c));
  }
  if ((o.cert === undefined) !== (o.key === undefined)) {
    throw new ConfigError(o.cert === undefined ? 'store.tls.cert' : 'store.tls.key', 'a client certificate needs its key: give both cert and key');
  }
  if (o.cert !== undefined) tls.cert = readPem('store.tls.cert', o.cert);
  if (o.key !== undefined) tls.key = readPem('store.tls.key', o.key, true);
  if (o.servername !== undefined) {
    if (typeof o.servername !== 'string' || !/^[A-Za-z0-9.-]{1,253}$/.test(o.servername)) {
      throw new ConfigError('store.tls.servername', 'must be a host name (letters, digits, dots, hyphens)');
    }
    if (isIP(o.servername) !== 0) throw new ConfigError('store.tls.servername', 'must be a host name, not an IP address (an IP is checked against the URL host)');
    tls.servername = o.servername;
  }
  return { url: rest, tls };
}

/** TLS failures worth a hint: what the message alone does not say to do. */
const HINTS: Array<[RegExp, string]> = [
  [
    /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_UNTRUSTED)$/,
    "the server's certificate is not signed by a trusted CA: give the CA with tls.ca or ?ca=/path/ca.pem",
  ],
  [/^ERR_TLS_CERT_ALTNAME_INVALID$/, "the server's certificate does not name this host: connect by a name it carries, or set tls.servername / ?servername="],
  [/^(CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/, "the server's certificate is outside its validity period"],
  [/^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST)$/, 'the server does not speak TLS on this port (rediss:// needs its TLS port)'],
  [
    /^ERR_SSL_(TLSV13_ALERT_CERTIFICATE_REQUIRED|SSLV3_ALERT_BAD_CERTIFICATE|TLSV1_ALERT_UNKNOWN_CA|SSLV3_ALERT_HANDSHAKE_FAILURE)$/,
    'the server requires a client certificate it trusts: give tls.cert and tls.key (?cert=&key=)',
  ],
];

function hintFor(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? HINTS.find(([re]) => re.test(code))?.[1] : undefined;
}

/** Whether `err` is a TLS failure with a known remedy (worth remembering as the reason a connection failed). */
export function isHintedTlsError(err: unknown): boolean {
  return hintFor(err) !== undefined;
}

/**
 * The error with a hint added to its message when it is a TLS failure with a known remedy. `cause`:
 * the TLS failure seen on the connection, when the call itself failed with a consequence of it
 * (the socket closing after the server's TLS alert).
 */
export function withTlsHint(err: unknown, cause?: unknown): unknown {
  const source = hintFor(err) !== undefined ? err : cause !== undefined && hintFor(cause) !== undefined ? cause : undefined;
  if (source === undefined) return err;
  const e = source as { code: string; message?: unknown };
  const text = typeof e.message === 'string' ? e.message.split('\n')[0] : '';
  // The hint first: callers shorten messages, and the driver's text after it can be long.
  const wrapped = new Error(`${e.code}: ${hintFor(source)}; ${text}`, { cause: err });
  (wrapped as { code?: string }).code = e.code;
  return wrapped;
}

/**
 * The error a call on a store-owned connection fails with, explained when TLS is the likely reason.
 * `seen`: the TLS failure the connection reported, if any (node-redis may report only that the
 * socket closed: a server refusing the client certificate closes the connection just after the
 * TLS 1.3 handshake, and which of the alert and the close arrives first is a race).
 */
export function explainFailure(err: unknown, state: { tls: boolean; seen: unknown; everReady: boolean }): unknown {
  const hinted = withTlsHint(err, state.seen);
  if (hinted !== err || !state.tls || state.everReady) return hinted;
  const message = (err as { message?: unknown } | null)?.message;
  if (typeof message !== 'string' || !/^Socket closed unexpectedly/i.test(message)) return err;
  return new Error(
    'the server closed the TLS connection before it was ready (a server that requires client certificates does this: give tls.cert and tls.key / ?cert=&key=, signed by a CA it trusts)',
    { cause: err },
  );
}
