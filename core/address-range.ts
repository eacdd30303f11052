/**
 * Which addresses of a network IPAM may hand out: inside its `ipRange` (Docker's --ip-range; the
 * whole subnet without one; either family: IPAM reads a network's IPv6 view as well) and not `reserved` (Docker's --aux-address). Explicit addresses (--ip)
 * may lie outside the range, as in Docker, but never on a reserved one. Shared by both allocators.
 */
import { parseCidr, parseIPv4, prefixMask } from './addresses.js';
import { parsePrefix, prefixHas } from './prefix.js';
import type { NetworkValue } from './records.js';

const cache = new WeakMap<NetworkValue, (ip: string) => boolean>();

export function allocatable(net: NetworkValue): (ip: string) => boolean {
  let f = cache.get(net);
  if (!f) {
    const reserved = new Set(net.reserved ?? []);
    const text = net.ipRange ?? net.subnet ?? '';
    if (text.includes(':')) {
      const range = parsePrefix(text, 'ipRange', true);
      f = (ip) => prefixHas(range, ip) && !reserved.has(ip);
    } else {
      // IPv4 stays on 32-bit arithmetic: this runs for every address a block scan looks at.
      const range = parseCidr(text, 'ipRange', 32);
      const base = parseIPv4(range.network);
      const mask = prefixMask(range.prefix);
      f = (ip) => (parseIPv4(ip) & mask) >>> 0 === base && !reserved.has(ip);
    }
    cache.set(net, f);
  }
  return f;
}
