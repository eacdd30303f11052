/**
 * The transfer addresses of a network's gateway link (overlay namespace ↔ host): a link-local /31
 * per network, derived from the VNI and moved on when another network of this host holds that pair.
 * Two networks may share a subnet, so the host never routes to an overlay subnet: the overlay
 * namespace NATs onto its transfer address, and the host sees only transfer addresses.
 *
 * Pairs come from 169.254.1.0 – 169.254.127.255 (RFC 3927 reserves 169.254.0.0/24 and
 * 169.254.255.0/24; 169.254.169.254, the cloud metadata address, lies outside): pair i is
 * 169.254.0.0 + 2i (the host end) and + 2i + 1 (the overlay end), i in 128 .. 16383.
 */
import { ipv4ToString, parseIPv4 } from './addresses.js';

const BASE = parseIPv4('169.254.0.0');
const FIRST_PAIR = 128;
const LAST_PAIR = 16383;
const PAIRS = LAST_PAIR - FIRST_PAIR + 1;

export interface TransferPair {
  /** The host end (the overlay namespace's default route goes via it). */
  host: string;
  /** The overlay end: the source address of the network's traffic on the host. */
  overlay: string;
}

export const TRANSFER_PREFIX = 31;

const pair = (i: number): TransferPair => {
  const host = ipv4ToString((BASE + 2 * i) >>> 0);
  return { host, overlay: overlayEndOf(host) };
};

/** The pair of this VNI: the first from its derived slot whose host end `taken` does not hold. */
export function transferPairFor(vni: number, taken: (hostEnd: string) => boolean): TransferPair {
  for (let k = 0; k < PAIRS; k++) {
    const p = pair(FIRST_PAIR + ((vni + k) % PAIRS));
    if (!taken(p.host)) return p;
  }
  throw new Error('every transfer address pair is in use on this host');
}

/** The overlay end of the pair whose host end is given (the next address). */
export const overlayEndOf = (hostEnd: string): string => ipv4ToString((parseIPv4(hostEnd) + 1) >>> 0);

/** Whether an address lies in the transfer range. */
export function isTransferAddress(ip: string): boolean {
  const n = parseIPv4(ip);
  return n >= BASE + 2 * FIRST_PAIR && n <= BASE + 2 * LAST_PAIR + 1;
}

/**
 * The IPv6 twin of a transfer pair, for networks with an IPv6 subnet: the IPv4 pair embedded in
 * vxmesh's own unique-local prefix (`fd7a:6d73:6802::169.254.x.y`, the tunnel addresses' /48 being
 * `fd7a:6d73:6801::`), so it is as unique on the host as the IPv4 pair; a /127 like the /31.
 */
export const TRANSFER6_PREFIX = 127;
const TRANSFER6_BASE = 'fd7a:6d73:6802::';

export function transfer6Of(p: TransferPair): TransferPair {
  const embed = (ip: string) => {
    const n = parseIPv4(ip);
    return `${TRANSFER6_BASE}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  };
  return { host: embed(p.host), overlay: embed(p.overlay) };
}
