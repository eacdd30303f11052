/**
 * A DNS server's sockets inside a network namespace: UDP and TCP on ADDRESS:53 of that namespace,
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

export interface DnsListener {
  close(): void;
}

export type MessageHandler = (msg: Buffer) => Promise<Buffer | undefined>;

const MAX_TCP_MESSAGE = 65535;

function tcpListeningFd(address: string, port: number): number {
  const fd = socketFn(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
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

/** Serves `handle` on address:port (UDP and TCP) inside the namespace at `netnsPath`. */
export async function listenInNamespace(
  netnsPath: string,
  address: string,
  port: number,
  handle: MessageHandler,
  onError: (e: Error) => void,
): Promise<DnsListener> {
  const nsFd = fs.openSync(netnsPath, 'r');
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  try {
    udp = dgram.createSocket({ type: 'udp4', lookup: (host, _opts, cb) => cb(null, host, 4) });
    const u = udp;
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      inNetnsFd(nsFd, () => u.bind({ address, port, exclusive: true }, () => resolve()));
    });
    u.removeAllListeners('error');
    u.on('error', onError);
    u.on('message', (msg, rinfo) => {
      handle(msg).then(
        (reply) => reply && u.send(reply, rinfo.port, rinfo.address),
        (e: unknown) => onError(e as Error),
      );
    });
    const fd = inNetnsFd(nsFd, () => tcpListeningFd(address, port));
    tcp = net.createServer((conn) => serveTcp(conn, handle, onError));
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

/** DNS over TCP: messages with a two-byte length prefix, answered in order. */
function serveTcp(conn: net.Socket, handle: MessageHandler, onError: (e: Error) => void): void {
  let buf = Buffer.alloc(0);
  let chain = Promise.resolve();
  conn.setTimeout(10_000, () => conn.destroy());
  conn.on('error', () => conn.destroy());
  conn.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    if (buf.length > 2 + MAX_TCP_MESSAGE) return void conn.destroy();
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
      buf = buf.subarray(2 + msg.length);
      chain = chain.then(async () => {
        const reply = await handle(Buffer.from(msg)).catch((e: unknown) => void onError(e as Error));
        if (!reply || conn.destroyed) return;
        const len = Buffer.alloc(2);
        len.writeUInt16BE(reply.length);
        conn.write(Buffer.concat([len, reply]));
      });
    }
  });
}
