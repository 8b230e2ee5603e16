import { isIPv4, isIPv6 } from 'node:net';

/** `::ffff:192.0.2.1` -> `192.0.2.1`; anything else as it is (trimmed). */
export function unmapIpv4(ip: string): string {
  const v = ip.trim();
  return v.startsWith('::ffff:') && isIPv4(v.slice(7)) ? v.slice(7) : v;
}

/** Normalises an address: strips the IPv4-mapped IPv6 prefix, lower-cases IPv6. */
export function normalizeIp(ip: string | undefined): string | null {
  if (!ip) return null;
  const v = unmapIpv4(ip.toLowerCase());
  if (isIPv4(v) || isIPv6(v)) return v;
  return null;
}

function expandV6(ip: string): number[] {
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const parse = (s: string | undefined): number[] => (s ? s.split(':').flatMap(part => {
    if (part.includes('.')) {
      const b = part.split('.').map(Number);
      return [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
    }
    return [parseInt(part, 16)];
  }) : []);
  const h = parse(head);
  const t = parse(tail);
  const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill(0);
  return [...h, ...fill, ...t];
}

/** The network an address belongs to for `bindClientIp: 'subnet'`: IPv4 /24, IPv6 /64. */
export function subnetOf(ip: string): string {
  if (isIPv4(ip)) return ip.split('.').slice(0, 3).join('.') + '.0/24';
  const g = expandV6(ip);
  return g.slice(0, 4).map(n => n.toString(16)).join(':') + '::/64';
}

export function sameClient(bound: string, binding: 'exact' | 'subnet', current: string | null): boolean {
  if (current === null) return false;
  if (binding === 'exact') return bound === current;
  return subnetOf(bound) === subnetOf(current);
}
