/** Parsing and validation of the values the data plane accepts. Pure functions, no kernel access. */
import { isIPv6 } from 'node:net';
import { ValidationError } from './errors.js';

export const VNI_MIN = 1;
export const VNI_MAX = 16777215;

/** Canonical lower-case colon form of a MAC, or throws naming `field`. Rejects multicast and zero. */
const CANONICAL_MAC = /^[0-9a-f][02468ace](?::[0-9a-f]{2}){5}$/;
const DOTTED_QUAD =
  /^(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;

export function parseMac(value: unknown, field = 'mac'): string {
  // Fast path: already canonical, unicast, not all-zero.
  if (typeof value === 'string' && CANONICAL_MAC.test(value) && value !== '00:00:00:00:00:00') return value;
  if (typeof value !== 'string') throw new ValidationError(field, 'must be a string like 02:00:00:00:00:01');
  const m =
    /^([0-9a-fA-F]{2})([:-]?)([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})$/.exec(
      value,
    );
  if (!m) throw new ValidationError(field, `invalid MAC address "${value}"`);
  const bytes = [m[1], m[3], m[4], m[5], m[6], m[7]].map((h) => (h as string).toLowerCase());
  if (parseInt(bytes[0] as string, 16) & 1) throw new ValidationError(field, `"${value}" is a multicast MAC address`);
  if (bytes.every((b) => b === '00')) throw new ValidationError(field, 'the all-zero MAC address is not allowed');
  return bytes.join(':');
}

export function macToBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bytesToMac(buf: Uint8Array): string {
  return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** IPv4 dotted quad → 32-bit unsigned integer, or throws naming `field`. */
export function parseIPv4(value: unknown, field = 'ip'): number {
  if (typeof value !== 'string') throw new ValidationError(field, 'must be an IPv4 address string');
  const parts = value.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) {
    throw new ValidationError(field, `invalid IPv4 address "${value}"`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function isIPv4(value: unknown): value is string {
  return typeof value === 'string' && DOTTED_QUAD.test(value);
}

/** A VTEP (underlay) address: dotted IPv4 or IPv6 text. The one rule for the data plane and the wire. */
export function isVtepAddress(value: unknown): value is string {
  return isIPv4(value) || (typeof value === 'string' && isIPv6(value));
}

export function ipv4ToString(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function ipv4ToBytes(ip: string): Buffer {
  const n = parseIPv4(ip);
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export interface Cidr {
  /** Network address (host bits zero). */
  network: string;
  prefix: number;
  /** Canonical text, e.g. `198.18.0.0/24`. */
  text: string;
}

/** Parses `a.b.c.d/n`; host bits must be zero. Subnets stop at /30; IPAM blocks may be single addresses (/32). */
export function parseCidr(value: unknown, field = 'subnet', maxPrefix: 30 | 32 = 30): Cidr {
  if (typeof value !== 'string') throw new ValidationError(field, 'must be a CIDR string like 198.18.0.0/24');
  const [addr, len, extra] = value.split('/');
  if (extra !== undefined || addr === undefined || len === undefined || !/^[0-9]{1,2}$/.test(len)) {
    throw new ValidationError(field, `invalid CIDR "${value}" (expected a.b.c.d/n)`);
  }
  const prefix = Number(len);
  if (prefix < 8 || prefix > maxPrefix)
    throw new ValidationError(field, `prefix length /${prefix} is out of range (8..${maxPrefix})`);
  const n = parseIPv4(addr, field);
  const mask = prefixMask(prefix);
  if ((n & mask) >>> 0 !== n) {
    throw new ValidationError(
      field,
      `"${value}" has host bits set (network is ${ipv4ToString((n & mask) >>> 0)}/${prefix})`,
    );
  }
  return { network: ipv4ToString(n), prefix, text: `${ipv4ToString(n)}/${prefix}` };
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** A subnet's default gateway: its first host address. */
export function defaultGateway(cidr: Cidr): string {
  return ipv4ToString((parseIPv4(cidr.network) + 1) >>> 0);
}

/** True when `ip` lies inside `cidr` and is neither its network nor its broadcast address. */
export function isUsableHostIn(ip: string, cidr: Cidr): boolean {
  const n = parseIPv4(ip);
  const net = parseIPv4(cidr.network);
  const mask = prefixMask(cidr.prefix);
  if ((n & mask) >>> 0 !== net) return false;
  const broadcast = (net | (~mask >>> 0)) >>> 0;
  return n !== net && n !== broadcast;
}

/** Validates that `ip` is a usable host address of `cidr`, naming `field` otherwise. */
export function requireHostIn(ip: unknown, cidr: Cidr, field = 'ip'): string {
  parseIPv4(ip, field);
  if (!isUsableHostIn(ip as string, cidr)) {
    throw new ValidationError(field, `${String(ip)} is not a usable host address of ${cidr.text}`);
  }
  return ip as string;
}

/** Parses an IP with prefix `a.b.c.d/n` as used for interface addresses. */
export function parseIfAddr(value: unknown, field = 'ip'): { ip: string; prefix: number; subnet: Cidr } {
  if (typeof value !== 'string' || !value.includes('/'))
    throw new ValidationError(field, `expected a.b.c.d/n, got ${JSON.stringify(value)}`);
  const [ip, len] = value.split('/') as [string, string];
  parseIPv4(ip, field);
  if (!/^[0-9]{1,2}$/.test(len) || Number(len) < 8 || Number(len) > 30)
    throw new ValidationError(field, `invalid prefix length in "${value}"`);
  const prefix = Number(len);
  const subnet = parseCidr(`${ipv4ToString((parseIPv4(ip) & prefixMask(prefix)) >>> 0)}/${prefix}`, field);
  requireHostIn(ip, subnet, field);
  return { ip, prefix, subnet };
}

export function parseVni(value: unknown, field = 'vni'): number {
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < VNI_MIN || n > VNI_MAX) {
    throw new ValidationError(field, `must be an integer in ${VNI_MIN}..${VNI_MAX}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function parseMtu(value: unknown, field = 'mtu'): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 576 || value > 9000) {
    throw new ValidationError(field, `must be an integer in 576..9000, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function parsePort(value: unknown, field = 'port'): number {
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
    throw new ValidationError(field, `must be an integer in 1..65535, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Linux interface names: 1..15 bytes, no '/', ':', whitespace. */
export function parseIfName(value: unknown, field = 'ifname'): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.@-]{1,15}$/.test(value) || value === '.' || value === '..') {
    throw new ValidationError(
      field,
      `invalid interface name ${JSON.stringify(value)} (1-15 characters of A-Z a-z 0-9 _ . - @)`,
    );
  }
  return value;
}

/** Network namespace names as `ip netns` accepts them (a file name under /run/netns). */
export function parseNetnsName(value: unknown, field = 'netns'): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(value) || value === '.' || value === '..') {
    throw new ValidationError(field, `invalid namespace name ${JSON.stringify(value)}`);
  }
  return value;
}

/** 02:42 + the IPv4 address: deterministic and unique within a network, like Docker's. */
export function macFromIp(ip: string): string {
  return `02:42:${ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join(':')}`;
}
