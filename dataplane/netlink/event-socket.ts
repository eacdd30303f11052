/**
 * A netlink socket that only listens: rtnetlink's link and neighbour notifications of one network
 * namespace. Opened apart from the request sockets (an overrun here must not fail pending requests)
 * and not through the `netlink` package: its receive error path aborts the process on an overrun
 * (measured), and an event storm overruns any buffer. This one is non-blocking and read by the
 * caller until it would block; an overrun is reported as such (events were lost: repair everything).
 */
import { KernelError } from '../../core/errors.js';
import { errno } from '../../core/libc.js';
import { errnoName } from './socket.js';
import { inNetnsFd } from '../../core/netns-switch.js';
import {
  EAGAIN,
  EINTR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_RAW,
  SOL_SOCKET,
  bindFn,
  closeFn,
  recvFn,
  setsockoptFn,
  socketFn,
} from '../../core/sockets.js';
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  IFLA_IFNAME,
  NLMSG_HDRLEN,
  NUD_NOARP,
  NUD_PERMANENT,
  RTM_DELLINK,
  RTM_DELNEIGH,
  RTM_NEWLINK,
  RTM_NEWNEIGH,
} from './constants.js';
import { parseNeighPayload } from './neigh-fast.js';
import { getString, parseAttrs } from './codec.js';

const AF_NETLINK = 16;
const NETLINK_ROUTE = 0;
const RTMGRP_LINK = 0x1;
const RTMGRP_NEIGH = 0x4;
const SO_RCVBUFFORCE = 33;
const ENOBUFS = 105;
const RECV_BUFFER_BYTES = 1024 * 1024;
const DATAGRAM_BYTES = 64 * 1024;

/** The entry a neighbour or fdb notification is about. */
export interface NeighEntry {
  /** `inet`/`inet6`: a neighbour entry; `bridge`: an fdb entry. */
  family: 'inet' | 'inet6' | 'bridge' | 'other';
  /** NUD_* state bits as reported (a deletion reports the entry's last state). */
  state: number;
  mac?: string;
  /** Network-layer address (neighbour) or remote VTEP (fdb), as text. */
  dst?: string;
  /**
   * A multicast entry: the kernel makes and expires these by itself (e.g. `ff02::2 lladdr
   * 33:33:00:00:00:02 NOARP` after a device's IPv6 router solicitation); vxmesh never writes one.
   */
  multicast: boolean;
}

/** One notification that may concern vxmesh's entries (dynamic neighbour churn is left out). */
export interface KernelEvent {
  kind: 'link' | 'neigh';
  deleted: boolean;
  ifindex: number;
  /** Netlink port of the socket whose request caused it (0: the kernel itself). */
  senderPort: number;
  /** For `neigh` events: which entry. */
  entry?: NeighEntry;
  /** For `link` events: the link's name (when the message carries it). */
  name?: string;
}

export interface EventRead {
  events: KernelEvent[];
  /** The receive buffer overran: events were lost. */
  overrun: boolean;
}

export class KernelEventSocket {
  private fd: number;
  private readonly buf = Buffer.allocUnsafe(DATAGRAM_BYTES);

  private constructor(fd: number) {
    this.fd = fd;
  }

  /** Opens a listener in the namespace `netnsFd` (or this thread's own); `recvBufferBytes` for tests of overruns. */
  static open(netnsFd?: number, recvBufferBytes = RECV_BUFFER_BYTES): KernelEventSocket {
    const make = (): number => socketFn(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE) as number;
    const fd = netnsFd === undefined ? make() : inNetnsFd(netnsFd, make);
    if (fd < 0) throw new KernelError(errnoName(errno()), 'netlink event socket', 'socket');
    const size = Buffer.alloc(4);
    size.writeInt32LE(recvBufferBytes);
    setsockoptFn(fd, SOL_SOCKET, SO_RCVBUFFORCE, size, 4); // best effort: the default buffer still works
    const addr = Buffer.alloc(12);
    addr.writeUInt16LE(AF_NETLINK, 0);
    addr.writeUInt32LE(RTMGRP_LINK | RTMGRP_NEIGH, 8);
    if (bindFn(fd, addr, addr.length) !== 0) {
      const code = errno();
      closeFn(fd);
      throw new KernelError(errnoName(code), 'netlink event socket', 'bind (link and neighbour groups)');
    }
    return new KernelEventSocket(fd);
  }

  /** Everything queued since the last read (never blocks). */
  read(): EventRead {
    const out: EventRead = { events: [], overrun: false };
    while (this.fd >= 0) {
      const n = Number(recvFn(this.fd, this.buf, DATAGRAM_BYTES, 0));
      if (n < 0) {
        const code = errno();
        if (code === EINTR) continue;
        if (code === ENOBUFS) {
          out.overrun = true;
          continue; // the error is reported once; the queue holds what came after it
        }
        if (code !== EAGAIN) throw new KernelError(errnoName(code), 'netlink event socket', 'recv');
        break;
      }
      parseEvents(this.buf.subarray(0, n), out.events);
    }
    return out;
  }

  close(): void {
    if (this.fd < 0) return;
    closeFn(this.fd);
    this.fd = -1;
  }
}

/**
 * The notifications in one datagram that can concern our entries: every link change, every
 * neighbour or fdb deletion, and changes of static entries (NOARP or PERMANENT, as all of ours are).
 * Learned and resolved entries change state all the time under traffic and are left out.
 */
export function parseEvents(buf: Buffer, into: KernelEvent[] = []): KernelEvent[] {
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > buf.length) break;
    const type = buf.readUInt16LE(off + 4);
    const senderPort = buf.readUInt32LE(off + 12);
    const body = off + NLMSG_HDRLEN;
    if ((type === RTM_NEWLINK || type === RTM_DELLINK) && len >= NLMSG_HDRLEN + 16) {
      const name = getString(parseAttrs(buf, body + 16, off + len).get(IFLA_IFNAME));
      into.push({
        kind: 'link',
        deleted: type === RTM_DELLINK,
        ifindex: buf.readInt32LE(body + 4),
        senderPort,
        ...(name !== undefined ? { name } : {}),
      });
    } else if ((type === RTM_NEWNEIGH || type === RTM_DELNEIGH) && len >= NLMSG_HDRLEN + 12) {
      const state = buf.readUInt16LE(body + 8);
      // A deletion reports the entry's last state, often not the one it had while it was static.
      if (type === RTM_DELNEIGH || state & (NUD_NOARP | NUD_PERMANENT)) {
        const entry = neighEntry(buf.subarray(body, off + len));
        into.push({
          kind: 'neigh',
          deleted: type === RTM_DELNEIGH,
          ifindex: buf.readInt32LE(body + 4),
          senderPort,
          entry,
        });
      }
    }
    off += (len + 3) & ~3;
  }
  return into;
}

const FAMILIES: Record<number, NeighEntry['family']> = {
  [AF_INET]: 'inet',
  [AF_INET6]: 'inet6',
  [AF_BRIDGE]: 'bridge',
};

/** IPv6 bytes as eight hex groups (not compressed: for logs and tests, not for parsing back). */
const ipv6Text = (b: Buffer): string =>
  Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');

/** A multicast link-layer address (group bit of the first octet: 33:33:…, 01:00:5e:…) or network address (224/4, ff00::/8). */
export function isMulticastEntry(e: Pick<NeighEntry, 'mac' | 'dst' | 'family'>): boolean {
  if (e.mac !== undefined && (parseInt(e.mac.slice(0, 2), 16) & 1) === 1) return true;
  if (e.dst === undefined || e.family === 'bridge') return false; // an fdb entry's dst is the remote VTEP
  if (e.family === 'inet6') return e.dst.startsWith('ff');
  const first = Number(e.dst.split('.')[0]);
  return first >= 224 && first <= 239;
}

function neighEntry(payload: Buffer): NeighEntry {
  const raw = parseNeighPayload(payload);
  const family = FAMILIES[raw.family] ?? 'other';
  const dst = raw.dst ?? (raw.dst6 ? ipv6Text(raw.dst6) : undefined);
  const e = { family, state: raw.state, mac: raw.mac, dst };
  return { ...e, multicast: isMulticastEntry(e) };
}
