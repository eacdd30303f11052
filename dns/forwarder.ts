/**
 * Questions that are not the network's go to the upstream resolver unchanged (UDP, from the agent's
 * own namespace, so the host's routes and resolver apply), with a deadline: no answer in time is
 * SERVFAIL, never a hang. The socket is connected to the upstream: the kernel passes on replies from
 * that address and port only (nobody else can answer in its place).
 */
import dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

export async function forward(msg: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  // An IPv6 upstream (an IPv6-only host's resolver) over an IPv6 socket.
  const sock = dgram.createSocket(upstream.host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      sock.on('error', () => {
        clearTimeout(timer);
        resolve(undefined);
      });
      sock.on('message', (reply) => {
        // The reply to this question: same id.
        if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve(reply);
        }
      });
      sock.connect(upstream.port, upstream.host, () => sock.send(msg));
    });
  } finally {
    sock.close();
  }
}

/**
 * The first `nameserver` of a resolv.conf text (port 53), IPv4 or IPv6 (a link-local one with its
 * `%zone`), or undefined.
 */
export function upstreamFromResolvConf(text: string): Upstream | undefined {
  for (const line of text.split('\n')) {
    const host = /^\s*nameserver\s+(\S+)\s*$/.exec(line)?.[1];
    if (host !== undefined && (isIPv4(host) || isIPv6(host.split('%')[0] as string))) return { host, port: 53 };
  }
  return undefined;
}
