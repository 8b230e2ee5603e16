import type { HttpRequest } from '../types.js';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export function isSafeMethod(method: string): boolean {
  return SAFE.has(method);
}

/**
 * Cross-origin check for cookie-authenticated unsafe requests, in the manner of Go's
 * CrossOriginProtection: trust `Sec-Fetch-Site` when the browser sends it, else compare
 * `Origin` with `Host`. Requests with neither header (curl, server-to-server) pass: they are
 * not a browser being tricked into sending its cookies.
 */
export function isCrossOrigin(req: HttpRequest, trusted: ReadonlySet<string>): boolean {
  const origin = req.header('origin');
  if (origin !== undefined && trusted.has(origin.toLowerCase())) return false;
  const site = req.header('sec-fetch-site');
  if (site !== undefined) return !(site === 'same-origin' || site === 'none');
  if (origin === undefined) return false;
  const host = req.header('host');
  if (!host) return true;
  const m = /^[a-z][a-z0-9+.-]*:\/\/([^/]+)$/i.exec(origin);
  return !m || m[1]!.toLowerCase() !== host.toLowerCase();
}
