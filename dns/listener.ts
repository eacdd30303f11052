/**
 * A DNS server's sockets inside a network namespace: UDP and TCP on ADDRESS:53 (either family) of that namespace,
 * while the process lives in another one. Both are created with the thread switched into the
 * namespace: the UDP socket binds through a synchronous `lookup` (measured: Node resolves the bind
 * address after the thread switched back otherwise, and the bind fails with EADDRNOTAVAIL); the TCP
 * socket is made with socket/bind/listen through libc and handed to Node as a descriptor.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { errno, strerror } from '../core/libc.js';
import { inNetnsFd } from '../core/netns-switch.js';
import {
  AF_INET,
  AF_INET6,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  bindFn,
  closeFn,
  inetAddress,
  listenFn,
  setsockoptFn,
  socketFn,
} from '../core/sockets.js';
import { VxmeshError } from '../core/errors.js';
import { QueryLimits } from './query-limits.js';

export interface DnsListener {
  close(): void;
}

/** A question from `client` (its address) → the reply, or nothing. */
export type MessageHandler = (msg: Buffer, client: string) => Promise<Buffer | undefined>;

const MAX_TCP_MESSAGE = 65535;
/** A TCP connection is closed after this long without a complete question, and after TCP_LIFETIME_MS at most. */
const TCP_IDLE_MS = 10_000;
const TCP_LIFETIME_MS = 60_000;

function tcpListeningFd(address: string, port: number): number {
  const fd = socketFn(
    address.includes(':') ? AF_INET6 : AF_INET,
    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
    0,
  ) as number;
  if (fd < 0) throw new VxmeshError(`socket(tcp) failed: ${strerror(errno())}`);
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  setsockoptFn(fd, SOL_SOCKET, SO_REUSEADDR, one, 4);
  const addr = inetAddress(address, port);
  if (bindFn(fd, addr, addr.length) !== 0 || listenFn(fd, 64) !== 0) {
    const e = errno();
    closeFn(fd);
    throw new VxmeshError(`DNS listener on ${address}:${port} (tcp): ${strerror(e)}`);
  }
  return fd;
}

/**
 * Serves `handle` on address:port (UDP and TCP) inside the namespace at `netnsPath`, within `limits`
 * (questions per client: beyond, dropped and counted by `onLimited`; TCP connections at once).
 */
export async function listenInNamespace(
  netnsPath: string,
  address: string,
  port: number,
  handle: MessageHandler,
  onError: (e: Error) => void,
  limits: QueryLimits = new QueryLimits(),
  onLimited: () => void = () => undefined,
): Promise<DnsListener> {
  const nsFd = fs.openSync(netnsPath, 'r');
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  try {
    const family = address.includes(':') ? 6 : 4;
    udp = dgram.createSocket({ type: `udp${family}`, lookup: (host, _opts, cb) => cb(null, host, family) });
    const u = udp;
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      inNetnsFd(nsFd, () => u.bind({ address, port, exclusive: true }, () => resolve()));
    });
    u.removeAllListeners('error');
    u.on('error', onError);
    u.on('message', (msg, rinfo) => {
      if (!limits.admit(rinfo.address)) return void onLimited();
      handle(msg, rinfo.address).then(
        (reply) => reply && u.send(reply, rinfo.port, rinfo.address),
        (e: unknown) => onError(e as Error),
      );
    });
    const fd = inNetnsFd(nsFd, () => tcpListeningFd(address, port));
    tcp = net.createServer((conn) => {
      const client = conn.remoteAddress ?? '?';
      if (!limits.tcp.take(client)) {
        onLimited();
        return void conn.destroy();
      }
      conn.once('close', () => limits.tcp.release(client));
      serveTcp(conn, client, limits, handle, onError, onLimited);
    });
    tcp.on('error', onError);
    const t = tcp;
    await new Promise<void>((resolve) => t.listen({ fd }, () => resolve()));
  } catch (e) {
    udp?.close();
    tcp?.close();
    throw e;
  } finally {
    fs.closeSync(nsFd);
  }
  const [u, t] = [udp, tcp];
  return {
    close() {
      u.close();
      t.close();
    },
  };
}

/**
 * DNS over TCP: messages with a two-byte length prefix, answered in order. The idle timer restarts
 * on a complete question only (a byte at a time does not keep a connection), and a connection lives
 * TCP_LIFETIME_MS at most.
 */
function serveTcp(
  conn: net.Socket,
  client: string,
  limits: QueryLimits,
  handle: MessageHandler,
  onError: (e: Error) => void,
  onLimited: () => void,
): void {
  let buf = Buffer.alloc(0);
  let chain = Promise.resolve();
  let idle = setTimeout(() => conn.destroy(), TCP_IDLE_MS);
  const lifetime = setTimeout(() => conn.destroy(), TCP_LIFETIME_MS);
  conn.once('close', () => {
    clearTimeout(idle);
    clearTimeout(lifetime);
  });
  conn.on('error', () => conn.destroy());
  conn.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length > 2 + MAX_TCP_MESSAGE) return void conn.destroy();
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      clearTimeout(idle);
      idle = setTimeout(() => conn.destroy(), TCP_IDLE_MS);
      if (!limits.admit(client)) {
        onLimited();
        continue;
      }
      chain = chain.then(async () => {
        const reply = await handle(Buffer.from(msg), client).catch((e: unknown) => void onError(e as Error));
        if (!reply || conn.destroyed) return;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        conn.write(Buffer.concat([len, reply]));
      });
    }
  });
}
