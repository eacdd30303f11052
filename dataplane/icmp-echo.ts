/**
 * ICMP echo in-process, through a raw socket (CAP_NET_RAW; root has it). No `ping` binary, no process
 * per probe. ICMP "ping sockets" (SOCK_DGRAM) would need `net.ipv4.ping_group_range`, which is `1 0`
 * (off) by default, also for root. The socket is non-blocking and polled, so the event loop never
 * blocks; it is opened in the calling thread's namespace (the agent's host namespace) or in `netns`.
 */
import crypto from 'node:crypto';
import { errno, strerror, sysFail } from '../core/libc.js';
import {
  AF_INET,
  AF_INET6,
  closeFn,
  connectFn,
  inetAddress,
  EAGAIN,
  EINTR,
  MSG_DONTWAIT,
  recvFn,
  sendtoFn,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  socketFn,
} from '../core/sockets.js';
import { parseIPv4 } from '../core/addresses.js';
import { VxmeshError } from '../core/errors.js';
import { inNetns } from './netns.js';

const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;
const ICMP_ECHO_REPLY = 0;
const ICMP_ECHO_REQUEST = 8;
const ICMPV6_ECHO_REQUEST = 128;
const ICMPV6_ECHO_REPLY = 129;

/** RFC 1071 Internet checksum. */
export function internetChecksum(b: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
  if (b.length % 2 === 1) sum += (b[b.length - 1] as number) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An echo request; ICMPv6's (`v6`) leaves the checksum to the kernel (it covers a pseudo-header). */
export function echoRequest(id: number, seq: number, payload: Buffer, v6 = false): Buffer {
  const b = Buffer.alloc(8 + payload.length);
  b.writeUInt8(v6 ? ICMPV6_ECHO_REQUEST : ICMP_ECHO_REQUEST, 0);
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  payload.copy(b, 8);
  if (!v6) b.writeUInt16BE(internetChecksum(b), 2);
  return b;
}

/**
 * An ICMPv6 message as a raw ICMPv6 socket delivers it (no IPv6 header): the echo reply with this id
 * and seq? The socket is connected to the probed address, so only its packets arrive.
 */
export function isEchoReply6(packet: Buffer, id: number, seq: number): boolean {
  return (
    packet.length >= 8 &&
    packet[0] === ICMPV6_ECHO_REPLY &&
    packet.readUInt16BE(4) === id &&
    packet.readUInt16BE(6) === seq
  );
}

/** An IPv4 packet as a raw ICMP socket delivers it: is it the echo reply from `src` with this id and seq? */
export function isEchoReply(packet: Buffer, src: number, id: number, seq: number): boolean {
  if (packet.length < 20) return false;
  const ihl = ((packet[0] as number) & 0x0f) * 4;
  if (packet.length < ihl + 8 || packet.readUInt32BE(12) !== src) return false;
  return packet[ihl] === ICMP_ECHO_REPLY && packet.readUInt16BE(ihl + 4) === id && packet.readUInt16BE(ihl + 6) === seq;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends one echo request to `ip` and waits up to `timeoutMs` for its reply. Resolves true on a reply,
 * false on silence; rejects only when the socket cannot be used at all (e.g. no CAP_NET_RAW).
 */
export async function icmpEcho(
  ip: string,
  timeoutMs: number,
  opts: { pollMs?: number; netns?: string } = {},
): Promise<boolean> {
  const v6 = ip.includes(':');
  const dst = v6 ? 0 : parseIPv4(ip, 'ip');
  const pollMs = opts.pollMs ?? 5;
  // A socket stays in the namespace it was created in: create it there, use it from here.
  const open = () =>
    (v6
      ? socketFn(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6)
      : socketFn(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP)) as number;
  const fd = opts.netns !== undefined ? inNetns(opts.netns, open) : open();
  if (fd < 0) sysFail('socket', v6 ? 'AF_INET6, SOCK_RAW, IPPROTO_ICMPV6' : 'AF_INET, SOCK_RAW, IPPROTO_ICMP');
  try {
    const id = crypto.randomInt(1, 0xffff);
    const seq = crypto.randomInt(0, 0xffff);
    const req = echoRequest(id, seq, Buffer.from('vxmesh-vtep-probe'), v6);
    const addr = inetAddress(ip, 0);
    // Connected: the socket receives only the probed address's packets (ICMPv6 carries no IP header to check).
    if (v6 && (connectFn(fd, addr, addr.length) as number) < 0) return false;
    // An unreachable destination (no route, neighbour failed) is silence, not an error of ours.
    if ((sendtoFn(fd, req, req.length, 0, addr, addr.length) as number) < 0) return false;
    const buf = Buffer.alloc(1500);
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const n = recvFn(fd, buf, buf.length, MSG_DONTWAIT) as number;
      if (n >= 0) {
        const packet = buf.subarray(0, n);
        if (v6 ? isEchoReply6(packet, id, seq) : isEchoReply(packet, dst, id, seq)) return true;
        continue; // someone else's ICMP: read on
      }
      const code = errno();
      if (code !== EAGAIN && code !== EINTR) sysFail('recv', 'the ICMP socket');
      if (performance.now() >= deadline) return false;
      await sleep(pollMs);
    }
  } finally {
    closeFn(fd);
  }
}

/** Throws a clear error when this process cannot open a raw ICMP socket (checked at agent start). */
export function requireRawIcmp(): void {
  const fd = socketFn(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP) as number;
  if (fd < 0) {
    const code = errno();
    throw new VxmeshError(
      `the VTEP probe needs a raw ICMP socket (CAP_NET_RAW; run the agent as root or grant the capability): ${strerror(code)} (errno ${code})`,
    );
  }
  closeFn(fd);
}
