/**
 * The socket calls Node does not offer (raw ICMP, unix datagram, handing a listening socket to a
 * child), through libc: one binding of each call and the constants they take.
 */
import { ipv6ToBytes } from './ipv6.js';
import { libc } from './libc.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const EINTR = 4;
export const EAGAIN = 11;

export const socketFn = libc.func('int socket(int domain, int type, int protocol)');
export const bindFn = libc.func('int bind(int fd, const void *addr, uint32_t addrlen)');
export const listenFn = libc.func('int listen(int fd, int backlog)');
export const connectFn = libc.func('int connect(int fd, const void *addr, uint32_t addrlen)');
export const sendtoFn = libc.func(
  'long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)',
);
export const recvFn = libc.func('long recv(int fd, void *buf, size_t len, int flags)');
export const closeFn = libc.func('int close(int fd)');
export const setsockoptFn = libc.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)');
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;

/** A `struct sockaddr_in` for an IPv4 address and port. */
export function inetAddress(ip: string, port: number): Buffer {
  if (ip.includes(':')) {
    // struct sockaddr_in6: family, port, flow info, the 16 address bytes, scope id.
    const addr6 = Buffer.alloc(28);
    addr6.writeUInt16LE(AF_INET6, 0);
    addr6.writeUInt16BE(port, 2);
    ipv6ToBytes(ip).copy(addr6, 8);
    return addr6;
  }
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(AF_INET, 0);
  addr.writeUInt16BE(port, 2);
  ip.split('.').forEach((o, i) => addr.writeUInt8(Number(o), 4 + i));
  return addr;
}

const SUN_PATH_MAX = 108;

/** A `struct sockaddr_un` for a path or an abstract name (`@name`), and its length. */
export function unixAddress(target: string): { addr: Buffer; len: number } {
  const abstract = target.startsWith('@');
  const name = Buffer.from(abstract ? target.slice(1) : target);
  if (name.length === 0 || name.length + 1 > SUN_PATH_MAX)
    throw new Error(`unix socket address "${target}" is empty or longer than ${SUN_PATH_MAX - 1} bytes`);
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, abstract ? 3 : 2);
  // Abstract: a leading NUL and exactly the name's bytes; a path: NUL-terminated.
  return { addr, len: 2 + 1 + name.length };
}
