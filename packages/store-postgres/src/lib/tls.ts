/**
 * TLS settings of an owned pool: from the `tls` option and from the URL's libpq-style parameters
 * (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`, `ssl`), turned into the `ssl` config of
 * node-postgres. The store reads these parameters itself and removes them from the connection
 * string, so the files are read once with clear errors and the option and the URL combine (pg
 * would let the URL's parameters replace the whole `ssl` config). Key material never appears in an
 * error message.
 */
import { isIP } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { ConfigError } from '@tessera/core';
import { readPem } from '@tessera/core/store';

/** PEM text (a string containing `-----BEGIN`), a Buffer holding PEM, or a path to a PEM file. */
export type PemInput = string | Buffer;

export interface PostgresTlsOptions {
  /** CAs to trust for the server's certificate (URL: `sslrootcert`). Default: Node's bundled public CAs. */
  ca?: PemInput | PemInput[];
  /** Client certificate (URL: `sslcert`); give `key` with it. Default: none. */
  cert?: PemInput;
  /** The client certificate's private key, unencrypted PEM (URL: `sslkey`). Default: none. */
  key?: PemInput;
  /** The name the server's certificate must carry, checked instead of the URL's host. Default: the URL's host. */
  servername?: string;
  /**
   * Refuse a server whose certificate is not signed by a trusted CA or does not name the host.
   * Default `true` (URL: any `sslmode` but `no-verify`). `false` accepts any certificate: anyone on
   * the path can then read and change the traffic.
   */
  rejectUnauthorized?: boolean;
}

/** The `ssl` config handed to node-postgres. */
export interface PgSsl {
  ca?: Array<string | Buffer>;
  cert?: string | Buffer;
  key?: string | Buffer;
  rejectUnauthorized: boolean;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The URL parameters the store takes out of the connection string. */
const URL_PARAMS = ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslnegotiation'] as const;
const OPTION_FIELDS = ['ca', 'cert', 'key', 'servername', 'rejectUnauthorized'];
export interface ResolvedSsl {
  /** The URL without the TLS parameters (what pg parses). */
  connectionString: string;
  /** pg's `ssl`: undefined when nothing asks for TLS (pg then follows PGSSLMODE, off by default). */
  ssl: PgSsl | false | undefined;
  /** `sslnegotiation` from the URL (`postgres` or `direct`), passed to pg beside `ssl`. */
  sslnegotiation?: string;
}

/**
 * `sslmode` as node-postgres reads it (not libpq): `prefer`, `require` and `verify-ca` verify the
 * certificate and host name like `verify-full` (stricter than libpq, and what this store did before it
 * read the parameters itself); `no-verify` encrypts without verifying; `disable` is plain text.
 * TLS settings (CA, client certificate) without an `sslmode` mean `verify-full`.
 */
export function resolveSsl(url: string, options: PostgresTlsOptions | undefined): ResolvedSsl {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError('url', 'is not a valid URL');
  }
  if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
    throw new ConfigError('tls', 'must be an object { ca, cert, key, servername, rejectUnauthorized }');
  }
  for (const k of Object.keys(options ?? {})) {
    if (!OPTION_FIELDS.includes(k)) throw new ConfigError(`tls.${k}`, `is not a TLS option (${OPTION_FIELDS.join(', ')})`);
  }
  const q = u.searchParams;
  if (q.has('uselibpqcompat')) {
    throw new ConfigError('url', 'uselibpqcompat is not supported by this store; sslmode works as in node-postgres (for an unverified connection: sslmode=no-verify)');
  }
  const p: Partial<Record<(typeof URL_PARAMS)[number], string>> = {};
  for (const name of URL_PARAMS) {
    const all = q.getAll(name);
    if (all.length === 0) continue;
    if (all.length > 1) throw new ConfigError(`url ${name}`, 'is given more than once');
    p[name] = all[0]!;
    q.delete(name);
  }
  const connectionString = u.toString();

  let mode: SslMode | undefined;
  if (p.sslmode !== undefined) {
    if (!(SSL_MODES as readonly string[]).includes(p.sslmode)) throw new ConfigError('url sslmode', `must be one of ${SSL_MODES.join(', ')}`);
    mode = p.sslmode as SslMode;
  }
  if (p.ssl !== undefined) {
    const s = p.ssl.toLowerCase();
    const fromSsl: SslMode | undefined = s === 'true' || s === '1' ? 'verify-full' : s === 'false' || s === '0' ? 'disable' : s === 'no-verify' ? 'no-verify' : undefined;
    if (fromSsl === undefined) throw new ConfigError('url ssl', 'must be true, false or no-verify');
    if (mode !== undefined && (mode === 'disable') !== (fromSsl === 'disable')) throw new ConfigError('url ssl', `contradicts sslmode=${mode}`);
    mode ??= fromSsl;
  }

  const o = { ...options } as PostgresTlsOptions;
  const ca = o.ca ?? (p.sslrootcert !== undefined && p.sslrootcert !== 'system' ? p.sslrootcert : undefined);
  const cert = o.cert ?? p.sslcert;
  const key = o.key ?? p.sslkey;
  const settings = ca !== undefined || cert !== undefined || key !== undefined || o.servername !== undefined || o.rejectUnauthorized !== undefined || p.sslrootcert !== undefined;

  if (p.sslnegotiation !== undefined && p.sslnegotiation !== 'postgres' && p.sslnegotiation !== 'direct') {
    throw new ConfigError('url sslnegotiation', 'must be postgres or direct');
  }
  const result: ResolvedSsl = { connectionString, ssl: undefined };
  if (p.sslnegotiation !== undefined) result.sslnegotiation = p.sslnegotiation;
  if (mode === 'disable') {
    if (settings) throw new ConfigError('url sslmode', 'is disable (plain text), but TLS settings are given: use sslmode=verify-full, or drop the TLS settings');
    if (p.sslnegotiation === 'direct') throw new ConfigError('url sslnegotiation', 'direct needs TLS, but sslmode is disable');
    result.ssl = false;
    return result;
  }
  if (mode === undefined && !settings) {
    if (p.sslnegotiation === 'direct') mode = 'verify-full';
    else return result;
  }

  const ssl: PgSsl = { rejectUnauthorized: mode !== 'no-verify' };
  if (o.rejectUnauthorized !== undefined) {
    if (typeof o.rejectUnauthorized !== 'boolean') throw new ConfigError('tls.rejectUnauthorized', 'must be a boolean');
    ssl.rejectUnauthorized = o.rejectUnauthorized;
  }
  if (ca !== undefined) {
    const list = Array.isArray(ca) ? ca : [ca];
    if (list.length === 0) throw new ConfigError('tls.ca', 'is an empty list');
    ssl.ca = list.map(c => readPem(o.ca !== undefined ? 'tls.ca' : 'url sslrootcert', c));
  }
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(cert === undefined ? 'tls.cert' : 'tls.key', 'a client certificate needs its key: give both cert and key (URL: sslcert and sslkey)');
  }
  if (cert !== undefined) ssl.cert = readPem(o.cert !== undefined ? 'tls.cert' : 'url sslcert', cert);
  if (key !== undefined) ssl.key = readPem(o.key !== undefined ? 'tls.key' : 'url sslkey', key, true);
  if (o.servername !== undefined) {
    const name = o.servername;
    if (typeof name !== 'string' || !/^[A-Za-z0-9.-]{1,253}$/.test(name) || isIP(name) !== 0) {
      throw new ConfigError('tls.servername', 'must be a host name (letters, digits, dots, hyphens), not an IP address');
    }
    // pg sets SNI from the URL's host itself; the certificate is checked against this name instead.
    ssl.checkServerIdentity = (_host, peer) => checkServerIdentity(name, peer);
  }
  result.ssl = ssl;
  return result;
}
