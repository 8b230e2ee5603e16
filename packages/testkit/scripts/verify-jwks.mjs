#!/usr/bin/env node
// A foreign service's verifier, as a separate process: nothing of Tessera, only jose's
// createRemoteJWKSet (the JWKS fetched over HTTP) and jwtVerify with issuer and audience pinned.
// Usage: node verify-jwks.mjs <jwks-url> <token> [--typ <typ>] [--issuer <iss>] [--audience <aud>]
// Prints one JSON line, { "ok": true, "sub", "kid", "alg" } or { "ok": false, "code" }; exit code 0 or 1.
import { createRemoteJWKSet, jwtVerify } from 'jose';

const [url, token, ...rest] = process.argv.slice(2);
const flags = {};
for (let i = 0; i < rest.length; i += 2) flags[rest[i].replace(/^--/, '')] = rest[i + 1];
if (!url || !token) {
  console.error('usage: verify-jwks.mjs <jwks-url> <token> [--typ <typ>] [--issuer <iss>] [--audience <aud>]');
  process.exit(2);
}

const jwks = createRemoteJWKSet(new URL(url));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    issuer: flags.issuer ?? 'tessera',
    audience: flags.audience ?? 'tessera',
    ...(flags.typ ? { typ: flags.typ } : {}),
  });
  console.log(JSON.stringify({ ok: true, sub: payload.sub, kid: protectedHeader.kid, alg: protectedHeader.alg }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err?.code ?? err?.name ?? 'ERROR' }));
  process.exit(1);
}
