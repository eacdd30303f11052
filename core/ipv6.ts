/**
 * IPv6 addresses and prefixes, with one representation across the tree: the canonical text of RFC
 * 5952 (lower case, zeros compressed, as `ip`, `wg` and the kernel's tools print them), so two
 * spellings of one address (`2001:DB8::1`, `2001:0db8:0:0::1`) are never compared as strings; a
 * `bigint` for prefix arithmetic (a /64 has 2^64 addresses: nothing walks or stores the space).
 *
 * Built on Node itself: `net.isIPv6` validates, the WHATWG URL parser writes the canonical text (RFC
 * 5952), BigInt does the arithmetic. `ipaddr.js` (maintained, no dependencies) was weighed: it parses
 * and prints the same canonical form and classifies ranges, but has no arithmetic (BigInt would still be
 * needed for blocks and allocation), and the tree already relied on the URL form for tunnel addresses.
 */
import { isIPv6 } from 'node:net';
import { ValidationError } from './errors.js';

/** An IPv6 address in its canonical text (RFC 5952), or undefined. A zone (`%eth0`) is not an address. */
export function canonicalIPv6(text: string): string | undefined {
  if (!/^[0-9a-fA-F:.]{2,45}$/.test(text) || !isIPv6(text)) return undefined;
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

/** The canonical text of an IPv6 address; a ValidationError naming `field` otherwise. */
export function parseIPv6(value: unknown, field = 'ip'): string {
  const c = typeof value === 'string' ? canonicalIPv6(value) : undefined;
  if (c === undefined) throw new ValidationError(field, `invalid IPv6 address ${JSON.stringify(value)}`);
  return c;
}

export function ipv6ToBigInt(ip: string): bigint {
  return BigInt(`0x${ipv6ToBytes(ip).toString('hex')}`);
}

export function bigIntToIPv6(n: bigint): string {
  const hex = n.toString(16).padStart(32, '0');
  return canonicalIPv6(hex.match(/.{4}/g)?.join(':') ?? '') as string;
}

/** The 16 bytes of an address (canonical or not; mixed IPv4 tails included). */
export function ipv6ToBytes(ip: string): Buffer {
  const c = canonicalIPv6(ip);
  if (c === undefined) throw new ValidationError('ip', `invalid IPv6 address ${JSON.stringify(ip)}`);
  const [head, tail] = c.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}

export interface Cidr6 {
  /** The network address (host bits zero), canonical. */
  network: string;
  prefix: number;
  /** Canonical text, e.g. `2001:db8:40::/64`. */
  text: string;
  /** The network address as a number. */
  first: bigint;
}

/** Parses `ADDRESS/n`; host bits must be zero; the prefix length between `min` and `max` (default 8..126). */
export function parseCidr6(value: unknown, field = 'subnet', limits: { min?: number; max?: number } = {}): Cidr6 {
  const [min, max] = [limits.min ?? 8, limits.max ?? 126];
  if (typeof value !== 'string') throw new ValidationError(field, 'must be a CIDR string like 2001:db8:40::/64');
  const [addr, len, extra] = value.split('/');
  if (extra !== undefined || addr === undefined || len === undefined || !/^[0-9]{1,3}$/.test(len))
    throw new ValidationError(field, `invalid CIDR "${value}" (expected ADDRESS/n)`);
  const prefix = Number(len);
  if (prefix < min || prefix > max)
    throw new ValidationError(field, `prefix length /${prefix} is out of range (${min}..${max})`);
  const first = ipv6ToBigInt(parseIPv6(addr, field));
  const hostBits = (1n << BigInt(128 - prefix)) - 1n;
  if ((first & hostBits) !== 0n)
    throw new ValidationError(
      field,
      `"${value}" has host bits set (network is ${bigIntToIPv6(first & ~hostBits)}/${prefix})`,
    );
  const network = bigIntToIPv6(first);
  return { network, prefix, text: `${network}/${prefix}`, first };
}

/** Whether an address (any spelling) lies in the prefix. */
export function inCidr6(ip: string, c: Cidr6): boolean {
  const n = ipv6ToBigInt(ip);
  return n >> BigInt(128 - c.prefix) === c.first >> BigInt(128 - c.prefix);
}

/** The n-th address of a prefix (0: the subnet-router anycast address, its `::`). */
export function nthIPv6(c: Cidr6, n: bigint): string {
  if (n < 0n || n >= 1n << BigInt(128 - c.prefix)) throw new RangeError(`${n} is outside ${c.text}`);
  return bigIntToIPv6(c.first + n);
}

export const isMulticastIPv6 = (ip: string): boolean => (ipv6ToBytes(ip)[0] as number) === 0xff;
