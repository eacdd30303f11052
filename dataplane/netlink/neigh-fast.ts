/**
 * Hot-path encoders and parsers for fdb and neighbour entries: fixed layouts written and read by
 * offset, with no intermediate objects, for reconciles of tens of thousands of entries.
 *
 * Message bodies (after the 16-byte netlink header):
 *   ndmsg (12) | NDA_LLADDR (4 + 6, padded to 12) | NDA_DST (4 + 4, or 4 + 16 for IPv6)
 */
import * as C from './constants.js';
import { NDMSG_LEN, ipv6ToBytes } from './codec.js';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const HEXVAL = new Int16Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEXVAL['0123456789abcdef'.charCodeAt(i)] = i;
  HEXVAL['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/** Writes a canonical `xx:xx:xx:xx:xx:xx` MAC into buf at off. */
function writeMac(buf: Buffer, off: number, mac: string): void {
  for (let i = 0; i < 6; i++)
    buf[off + i] = ((HEXVAL[mac.charCodeAt(i * 3)] as number) << 4) | (HEXVAL[mac.charCodeAt(i * 3 + 1)] as number);
}

/** Writes a dotted-quad IPv4 into buf at off (network order). */
function writeIPv4(buf: Buffer, off: number, ip: string): void {
  let n = 0;
  let k = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      buf[off + k++] = n;
      n = 0;
    } else n = n * 10 + (c - 48);
  }
  buf[off + k] = n;
}

function ndmsg(buf: Buffer, family: number, ifindex: number, state: number, flags: number): void {
  buf.fill(0, 0, NDMSG_LEN);
  buf[0] = family;
  buf.writeInt32LE(ifindex, 4);
  buf.writeUInt16LE(state, 8);
  buf[10] = flags;
}

function attrHeader(buf: Buffer, off: number, len: number, type: number): void {
  buf.writeUInt16LE(len, off);
  buf.writeUInt16LE(type, off + 2);
}

/** Writes NDA_DST for an IPv4 or IPv6 VTEP at off. */
function writeDst(b: Buffer, off: number, dst: string): void {
  if (dst.includes(':')) {
    attrHeader(b, off, 20, C.NDA_DST);
    ipv6ToBytes(dst).copy(b, off + 4);
  } else {
    attrHeader(b, off, 8, C.NDA_DST);
    writeIPv4(b, off + 4, dst);
  }
}

const dstLen = (dst: string): number => (dst.includes(':') ? 20 : 8);

/** Body of `fdb replace MAC dev IF dst VTEP self permanent`. */
export function fdbReplaceBody(ifindex: number, mac: string, dst: string): Buffer {
  const b = Buffer.alloc(NDMSG_LEN + 12 + dstLen(dst));
  ndmsg(b, C.AF_BRIDGE, ifindex, C.NUD_PERMANENT, C.NTF_SELF);
  attrHeader(b, 12, 10, C.NDA_LLADDR);
  writeMac(b, 16, mac);
  writeDst(b, 24, dst);
  return b;
}

/** Body of an fdb delete (self, or master with `master`), optionally for one remote `dst`. */
export function fdbDeleteBody(ifindex: number, mac: string, master: boolean, dst?: string): Buffer {
  const b = Buffer.alloc(NDMSG_LEN + 12 + (dst ? dstLen(dst) : 0));
  ndmsg(b, C.AF_BRIDGE, ifindex, 0, master ? C.NTF_MASTER : C.NTF_SELF);
  attrHeader(b, 12, 10, C.NDA_LLADDR);
  writeMac(b, 16, mac);
  if (dst) writeDst(b, 24, dst);
  return b;
}

/** Body of `neigh replace IP lladdr MAC dev IF nud permanent` (`ip -6 neigh` for an IPv6 address). */
export function neighReplaceBody(ifindex: number, ip: string, mac: string): Buffer {
  const v6 = ip.includes(':');
  const b = Buffer.alloc(NDMSG_LEN + dstLen(ip) + 12);
  ndmsg(b, v6 ? C.AF_INET6 : C.AF_INET, ifindex, C.NUD_PERMANENT, 0);
  writeDst(b, 12, ip);
  const at = 12 + dstLen(ip);
  attrHeader(b, at, 10, C.NDA_LLADDR);
  writeMac(b, at + 4, mac);
  return b;
}

export function neighDeleteBody(ifindex: number, ip: string): Buffer {
  const b = Buffer.alloc(NDMSG_LEN + dstLen(ip));
  ndmsg(b, ip.includes(':') ? C.AF_INET6 : C.AF_INET, ifindex, 0, 0);
  writeDst(b, 12, ip);
  return b;
}

export const macAt = (b: Buffer, off: number): string =>
  `${HEX[b[off] as number]}:${HEX[b[off + 1] as number]}:${HEX[b[off + 2] as number]}:${HEX[b[off + 3] as number]}:${HEX[b[off + 4] as number]}:${HEX[b[off + 5] as number]}`;

export const ipv4At = (b: Buffer, off: number): string => `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;

/** Fields of one RTM_NEWNEIGH payload, read by offset. */
export interface RawNeigh {
  family: number;
  ifindex: number;
  state: number;
  flags: number;
  mac?: string;
  /** IPv4 as text; IPv6 as raw bytes offset (rare on this path). */
  dst?: string;
  dst6?: Buffer;
}

export function parseNeighPayload(p: Buffer): RawNeigh {
  const out: RawNeigh = {
    family: p[0] as number,
    ifindex: p.readInt32LE(4),
    state: p.readUInt16LE(8),
    flags: p[10] as number,
  };
  let off = NDMSG_LEN;
  while (off + 4 <= p.length) {
    const len = p.readUInt16LE(off);
    if (len < 4 || off + len > p.length) break;
    const type = p.readUInt16LE(off + 2) & 0x3fff;
    if (type === C.NDA_LLADDR && len === 10) out.mac = macAt(p, off + 4);
    else if (type === C.NDA_DST) {
      if (len === 8) out.dst = ipv4At(p, off + 4);
      else if (len === 20) out.dst6 = p.subarray(off + 4, off + 20);
    }
    off += (len + 3) & ~3;
  }
  return out;
}
