/**
 * The netlink wire format we need: message header, attributes (TLV, 4-byte aligned, nested), and
 * the fixed headers of link, address, route and neighbour messages. Pure functions over Buffers.
 */
import { NLMSG_HDRLEN } from './constants.js';

/** An attribute to encode: a raw value, or a list of nested attributes. */
export interface Attr {
  type: number;
  value: Buffer | Attr[];
}

const align4 = (n: number): number => (n + 3) & ~3;

export function attrsLength(attrs: Attr[]): number {
  let len = 0;
  for (const a of attrs) len += align4(4 + (Array.isArray(a.value) ? attrsLength(a.value) : a.value.length));
  return len;
}

function writeAttrs(buf: Buffer, offset: number, attrs: Attr[]): number {
  for (const a of attrs) {
    const start = offset;
    offset += 4;
    if (Array.isArray(a.value)) offset = writeAttrs(buf, offset, a.value);
    else {
      a.value.copy(buf, offset);
      offset += a.value.length;
    }
    buf.writeUInt16LE(offset - start, start);
    buf.writeUInt16LE(a.type, start + 2);
    offset = align4(offset);
  }
  return offset;
}

export function encodeAttrs(attrs: Attr[]): Buffer {
  const buf = Buffer.alloc(attrsLength(attrs));
  writeAttrs(buf, 0, attrs);
  return buf;
}

export const u8 = (n: number): Buffer => Buffer.from([n & 0xff]);
export const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
export const u16be = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
export const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
export const str = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');

/** Parses a run of attributes into type → value (the last one wins; nested flag bits masked). */
export function parseAttrs(buf: Buffer, offset = 0, end = buf.length): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  while (offset + 4 <= end) {
    const len = buf.readUInt16LE(offset);
    const type = buf.readUInt16LE(offset + 2) & 0x3fff;
    if (len < 4 || offset + len > end) break;
    out.set(type, buf.subarray(offset + 4, offset + len));
    offset += align4(len);
  }
  return out;
}

export const getString = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};
export const getU32 = (b: Buffer | undefined): number | undefined =>
  b && b.length >= 4 ? b.readUInt32LE(0) : undefined;
export const getU8 = (b: Buffer | undefined): number | undefined => (b && b.length >= 1 ? b.readUInt8(0) : undefined);

export interface NetlinkHeader {
  length: number;
  type: number;
  flags: number;
  seq: number;
  pid: number;
}

export interface NetlinkMessage {
  header: NetlinkHeader;
  /** Payload after the 16-byte header. */
  payload: Buffer;
}

export function encodeMessage(type: number, flags: number, seq: number, payload: Buffer[]): Buffer {
  const bodyLen = payload.reduce((n, p) => n + p.length, 0);
  const buf = Buffer.alloc(NLMSG_HDRLEN + bodyLen);
  buf.writeUInt32LE(NLMSG_HDRLEN + bodyLen, 0);
  buf.writeUInt16LE(type, 4);
  buf.writeUInt16LE(flags, 6);
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(0, 12);
  let off = NLMSG_HDRLEN;
  for (const p of payload) {
    p.copy(buf, off);
    off += p.length;
  }
  return buf;
}

/** Splits one datagram into messages. Truncated trailing bytes are ignored. */
export function parseMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const length = buf.readUInt32LE(off);
    if (length < NLMSG_HDRLEN || off + length > buf.length) break;
    out.push({
      header: {
        length,
        type: buf.readUInt16LE(off + 4),
        flags: buf.readUInt16LE(off + 6),
        seq: buf.readUInt32LE(off + 8),
        pid: buf.readUInt32LE(off + 12),
      },
      payload: buf.subarray(off + NLMSG_HDRLEN, off + length),
    });
    off += align4(length);
  }
  return out;
}

/** struct ifinfomsg (16 bytes). */
export interface IfInfo {
  family: number;
  type: number;
  index: number;
  flags: number;
  change: number;
}

export function encodeIfInfo(i: Partial<IfInfo>): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt8(i.family ?? 0, 0);
  b.writeUInt16LE(i.type ?? 0, 2);
  b.writeInt32LE(i.index ?? 0, 4);
  b.writeUInt32LE((i.flags ?? 0) >>> 0, 8);
  b.writeUInt32LE((i.change ?? 0) >>> 0, 12);
  return b;
}

export function decodeIfInfo(p: Buffer): IfInfo {
  return {
    family: p.readUInt8(0),
    type: p.readUInt16LE(2),
    index: p.readInt32LE(4),
    flags: p.readUInt32LE(8),
    change: p.readUInt32LE(12),
  };
}

/** struct ifaddrmsg (8 bytes). */
export interface IfAddr {
  family: number;
  prefixlen: number;
  flags: number;
  scope: number;
  index: number;
}

export function encodeIfAddr(a: IfAddr): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(a.family, 0);
  b.writeUInt8(a.prefixlen, 1);
  b.writeUInt8(a.flags, 2);
  b.writeUInt8(a.scope, 3);
  b.writeUInt32LE(a.index, 4);
  return b;
}

export function decodeIfAddr(p: Buffer): IfAddr {
  return {
    family: p.readUInt8(0),
    prefixlen: p.readUInt8(1),
    flags: p.readUInt8(2),
    scope: p.readUInt8(3),
    index: p.readUInt32LE(4),
  };
}

/** struct ndmsg (12 bytes). */
export interface NdMsg {
  family: number;
  ifindex: number;
  state: number;
  flags: number;
  type: number;
}

export function encodeNdMsg(n: NdMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(n.family, 0);
  b.writeInt32LE(n.ifindex, 4);
  b.writeUInt16LE(n.state, 8);
  b.writeUInt8(n.flags, 10);
  b.writeUInt8(n.type, 11);
  return b;
}

export function decodeNdMsg(p: Buffer): NdMsg {
  return {
    family: p.readUInt8(0),
    ifindex: p.readInt32LE(4),
    state: p.readUInt16LE(8),
    flags: p.readUInt8(10),
    type: p.readUInt8(11),
  };
}

/** struct rtmsg (12 bytes). */
export interface RtMsg {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  /** rtm_flags (RTNH_F_ONLINK: the gateway is reachable on the device though no address says so). */
  flags?: number;
}

/** rtm_flags: the next hop is on the link, whatever the addresses say. */
export const RTNH_F_ONLINK = 4;

export function encodeRtMsg(r: RtMsg): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt8(r.family, 0);
  b.writeUInt8(r.dstLen, 1);
  b.writeUInt8(r.table, 4);
  b.writeUInt8(r.protocol, 5);
  b.writeUInt8(r.scope, 6);
  b.writeUInt8(r.type, 7);
  b.writeUInt32LE(r.flags ?? 0, 8);
  return b;
}

export function decodeRtMsg(p: Buffer): RtMsg {
  return {
    family: p.readUInt8(0),
    dstLen: p.readUInt8(1),
    table: p.readUInt8(4),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
  };
}

/** Header sizes, to find where attributes start in each message family. */
export const IFINFO_LEN = 16;
export const IFADDR_LEN = 8;
export const NDMSG_LEN = 12;
export const RTMSG_LEN = 12;

/** Minimal IPv6 text → 16 bytes (full and `::` forms). */
export { ipv6ToBytes } from '../../core/ipv6.js';
