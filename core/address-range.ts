/**
 * Which addresses of a network IPAM may hand out: inside its `ipRange` (Docker's --ip-range; the
 * whole subnet without one) and not `reserved` (Docker's --aux-address). Explicit addresses (--ip)
 * may lie outside the range, as in Docker, but never on a reserved one. Shared by both allocators.
 */
import { parseCidr, parseIPv4, prefixMask } from './addresses.js';
import type { NetworkValue } from './records.js';

const cache = new WeakMap<NetworkValue, (ip: string) => boolean>();

export function allocatable(net: NetworkValue): (ip: string) => boolean {
  let f = cache.get(net);
  if (!f) {
    const range = parseCidr(net.ipRange ?? net.subnet, 'ipRange', 32);
    const base = parseIPv4(range.network);
    const mask = prefixMask(range.prefix);
    const reserved = new Set(net.reserved ?? []);
    f = (ip) => (parseIPv4(ip) & mask) >>> 0 === base && !reserved.has(ip);
    cache.set(net, f);
  }
  return f;
}
