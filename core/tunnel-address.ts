/**
 * A host's tunnel address for encrypted networks (VXLAN inside WireGuard): an IPv6 unique local
 * address (RFC 4193) in vxmesh's own /48, its interface identifier the first 64 bits of
 * SHA-256("vxmesh-tunnel" ‖ peer id). Nothing to configure, nothing that can clash with the host's
 * IPv4 networks, and stable across cluster-key changes and restarts (the peer id is the identity).
 * Announced in the host's signed member statement; two members with one address (2^-64 per pair) are
 * a conflict like two with one VTEP.
 */
import { createHash } from 'node:crypto';
import { canonicalIPv6 } from './ipv6.js';

/** vxmesh's /48 (fd = locally assigned, then 40 fixed random bits). */
export const TUNNEL_PREFIX = 'fd7a:6d73:6801';
export const TUNNEL_PREFIX_LENGTH = 48;

export function tunnelAddress(peerId: string): string {
  const h = createHash('sha256').update('vxmesh-tunnel').update(peerId).digest();
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(h.readUInt16BE(i).toString(16));
  return canonicalIPv6(`${TUNNEL_PREFIX}:0:${groups.join(':')}`) as string;
}

/** Whether `text` is an address of vxmesh's tunnel /48, in canonical form. */
export function isTunnelAddress(text: unknown): text is string {
  return typeof text === 'string' && canonicalIPv6(text) === text && text.startsWith(`${TUNNEL_PREFIX}:`);
}
