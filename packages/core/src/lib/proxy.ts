/**
 * The client's address behind trusted proxies, the way Express's `trust proxy` reads it: from the
 * socket address back along X-Forwarded-For, through trusted hops only, so a client can't spoof it.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { unmapIpv4 } from './ip.js';

/** `true` (every hop), a hop count, or trusted addresses and subnets (`10.0.0.0/8`, `loopback`, `linklocal`, `uniquelocal`). */
export type TrustProxy = boolean | number | string[];

const NAMED: Record<string, string[]> = {
  loopback: ['127.0.0.1/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Whether `addr` (hop `i` counted from the socket, 0 = the socket peer) is a trusted proxy. */
export type Trusts = (addr: string, i: number) => boolean;

/** Compiles a setting; throws a RangeError naming a bad entry. */
export function compileTrust(setting: TrustProxy): Trusts {
  if (setting === true) return () => true;
  if (setting === false) return () => false;
  if (typeof setting === 'number') return (_addr, i) => i < setting;
  const list = new BlockList();
  for (const raw of setting.flatMap(s => NAMED[s.trim().toLowerCase()] ?? [s.trim()])) {
    const [addr, bits] = raw.split('/');
    const type = isIPv4(addr ?? '') ? 'ipv4' : isIPv6(addr ?? '') ? 'ipv6' : null;
    if (type === null) throw new RangeError(`not an IP address or subnet: ${JSON.stringify(raw.slice(0, 60))}`);
    if (bits === undefined) list.addAddress(addr!, type);
    else {
      const prefix = Number(bits);
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) throw new RangeError(`bad prefix length in ${JSON.stringify(raw)}`);
      list.addSubnet(addr!, prefix, type);
    }
  }
  return addr => list.check(addr, isIPv4(addr) ? 'ipv4' : 'ipv6');
}

/** The client address: walk from the socket peer back through X-Forwarded-For while each hop is trusted. */
export function clientAddress(socketAddr: string, forwardedFor: string | undefined, trusts: Trusts): string {
  const hops = [unmapIpv4(socketAddr), ...(forwardedFor ? forwardedFor.split(',').map(unmapIpv4).filter(Boolean).reverse() : [])];
  let i = 0;
  while (i < hops.length - 1 && (isIPv4(hops[i]!) || isIPv6(hops[i]!)) && trusts(hops[i]!, i)) i++;
  return hops[i]!;
}
