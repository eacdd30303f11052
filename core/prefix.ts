/**
 * Prefixes of either family, for what treats both alike (IPAM blocks, claims, ranges, reserved and
 * explicit addresses): the address as a `bigint`, its text canonical (dotted quad, or RFC 5952 for
 * IPv6: core/ipv6.ts). Nothing here walks a prefix: a /64 has 2^64 addresses.
 */
import { ValidationError } from './errors.js';
import { ipv4ToString, isIPv4, parseCidr, parseIPv4 } from './addresses.js';
import { bigIntToIPv6, canonicalIPv6, ipv6ToBigInt, parseCidr6 } from './ipv6.js';

export type Family = 4 | 6;

export interface Prefix {
  family: Family;
  /** The first address (host bits zero). */
  first: bigint;
  prefix: number;
  /** 32 or 128. */
  bits: number;
  /** Canonical text, e.g. `198.18.0.0/24`, `2001:db8:40::/64`. */
  text: string;
}

/** The family of an address text, or undefined when it is neither. */
export function familyOf(ip: unknown): Family | undefined {
  if (isIPv4(ip)) return 4;
  return typeof ip === 'string' && canonicalIPv6(ip) !== undefined ? 6 : undefined;
}

/** The canonical text of an address of either family; a ValidationError naming `field` otherwise. */
export function canonicalAddress(ip: unknown, field = 'ip'): string {
  if (isIPv4(ip)) return ip;
  const c = typeof ip === 'string' ? canonicalIPv6(ip) : undefined;
  if (c === undefined) throw new ValidationError(field, `invalid IP address ${JSON.stringify(ip)}`);
  return c;
}

export function addressToBigInt(ip: string): bigint {
  return isIPv4(ip) ? BigInt(parseIPv4(ip)) : ipv6ToBigInt(ip);
}

export function bigIntToAddress(n: bigint, family: Family): string {
  return family === 4 ? ipv4ToString(Number(n)) : bigIntToIPv6(n);
}

/**
 * Parses a prefix of either family (its host bits zero). `single`: the longest prefix allowed is a
 * single address (/32, /128: IPAM claims); else subnets stop at /30 and /126.
 */
export function parsePrefix(value: unknown, field = 'subnet', single = false): Prefix {
  if (typeof value === 'string' && value.includes(':')) {
    const c = parseCidr6(value, field, { max: single ? 128 : 126 });
    return { family: 6, first: c.first, prefix: c.prefix, bits: 128, text: c.text };
  }
  const c = parseCidr(value, field, single ? 32 : 30);
  return { family: 4, first: BigInt(parseIPv4(c.network)), prefix: c.prefix, bits: 32, text: c.text };
}

/** How many addresses the prefix holds. */
export const prefixSize = (p: Prefix): bigint => 1n << BigInt(p.bits - p.prefix);

/** Whether an address (any spelling, either family) lies in the prefix. */
export function prefixHas(p: Prefix, ip: string): boolean {
  if (familyOf(ip) !== p.family) return false;
  const shift = BigInt(p.bits - p.prefix);
  return addressToBigInt(ip) >> shift === p.first >> shift;
}

/** The n-th address of a prefix (0: its network address; for IPv6 the subnet-router anycast address). */
export function addressAt(p: Prefix, n: bigint): string {
  if (n < 0n || n >= prefixSize(p)) throw new RangeError(`${n} is outside ${p.text}`);
  return bigIntToAddress(p.first + n, p.family);
}

/**
 * A usable host address of the subnet, canonical: inside it, not its first address (IPv4's network
 * address, IPv6's subnet-router anycast address) nor its last (IPv4's broadcast; in IPv6 kept free
 * as well, one rule for both families). A ValidationError naming `field` otherwise.
 */
export function requireHostInPrefix(ip: unknown, p: Prefix, field = 'ip'): string {
  const text = canonicalAddress(ip, field);
  if (familyOf(text) !== p.family)
    throw new ValidationError(field, `${text} is an IPv${familyOf(text)} address; ${p.text} is IPv${p.family}`);
  const n = addressToBigInt(text) - p.first;
  if (!prefixHas(p, text) || n === 0n || n === prefixSize(p) - 1n)
    throw new ValidationError(field, `${text} is not a usable host address of ${p.text}`);
  return text;
}

/** Whether two prefixes share an address (same family, and the shorter one holds the other). */
export function prefixesOverlap(a: Prefix, b: Prefix): boolean {
  if (a.family !== b.family) return false;
  const shift = BigInt(a.bits - Math.min(a.prefix, b.prefix));
  return a.first >> shift === b.first >> shift;
}

/** The subnets of a network definition (IPv4, IPv6, either may be absent) as prefixes. */
export function subnetsOf(n: { subnet?: string; subnet6?: string }): Prefix[] {
  return [n.subnet, n.subnet6].filter((s): s is string => s !== undefined).map((s) => parsePrefix(s));
}
