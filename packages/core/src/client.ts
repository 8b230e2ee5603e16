/** Who the client is, as far as Tessera trusts it: its address and whether it came over TLS. */
import type { Context } from './context.js';
import { normalizeIp, unmapIpv4 } from './lib/ip.js';
import { clientAddress } from './lib/proxy.js';
import type { HttpRequest } from './types.js';

/**
 * The client's address, or null. With `trustProxy` set, read from the socket peer and the trusted
 * hops of X-Forwarded-For; unset, the framework's own (trust-proxy-aware) address. Never throws: a
 * destroyed request stream may no longer know its peer.
 */
export function clientIp(ctx: Context, req: HttpRequest): string | null {
  try {
    const remote = req.remoteAddress;
    if (ctx.trusts === null || remote === undefined) return normalizeIp(req.ip);
    return normalizeIp(clientAddress(remote, req.header('x-forwarded-for'), ctx.trusts));
  } catch {
    return null;
  }
}

/** Whether the request came over TLS: X-Forwarded-Proto from a trusted peer, else as the framework sees it. */
export function isSecure(ctx: Context, req: HttpRequest): boolean {
  try {
    const remote = req.remoteAddress;
    if (ctx.trusts === null || remote === undefined) return req.secure;
    // Tessera's own trust decides, not the framework's: X-Forwarded-Proto from a trusted peer, else the socket.
    if (ctx.trusts(unmapIpv4(remote), 0)) {
      const proto = req.header('x-forwarded-proto');
      if (proto !== undefined) return proto.split(',')[0]!.trim().toLowerCase() === 'https';
    }
    return req.encrypted ?? req.secure;
  } catch {
    return false;
  }
}
