/**
 * Questions that are not the network's go to the upstream resolver unchanged (UDP, from the agent's
 * own namespace, so the host's routes and resolver apply), with a deadline: no answer in time is
 * SERVFAIL, never a hang. The socket is connected to the upstream: the kernel passes on replies from
 * that address and port only (nobody else can answer in its place).
 *
 * Failing fast: an upstream that cannot be reached at all (no route: the connect or the send fails;
 * an ICMP error comes back) fails at once. One that stayed silent until the deadline is remembered as
 * silent for a while (UpstreamHealth): questions still go to it (its first answer ends the memory) but
 * are waited for only briefly, so a client's retries per address family and search suffix do not each
 * wait the full deadline.
 */
import dgram from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';

export interface Upstream {
  host: string;
  port: number;
}

export type ForwardResult =
  | { reply: Buffer }
  /** `unreachable`: a send error or an ICMP error (at once); `timeout`: no answer by the deadline. */
  | { failed: 'unreachable' | 'timeout'; message?: string };

export async function forwardQuestion(msg: Buffer, upstream: Upstream, timeoutMs: number): Promise<ForwardResult> {
  // An IPv6 upstream (an IPv6-only host's resolver) over an IPv6 socket.
  const sock = dgram.createSocket(upstream.host.includes(':') ? 'udp6' : 'udp4');
  try {
    return await new Promise<ForwardResult>((resolve) => {
      const timer = setTimeout(() => resolve({ failed: 'timeout' }), timeoutMs);
      const unreachable = (e: Error) => {
        clearTimeout(timer);
        resolve({ failed: 'unreachable', message: e.message });
      };
      // ECONNREFUSED, EHOSTUNREACH, ENETUNREACH: an ICMP error on the connected socket, or a send error.
      sock.on('error', unreachable);
      sock.on('message', (reply) => {
        // The reply to this question: same id.
        if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) {
          clearTimeout(timer);
          resolve({ reply });
        }
      });
      try {
        sock.connect(upstream.port, upstream.host, (err?: Error) => {
          if (err) unreachable(err);
          else sock.send(msg, (e) => e && unreachable(e));
        });
      } catch (e) {
        unreachable(e as Error);
      }
    });
  } finally {
    sock.close();
  }
}

/** The reply, or undefined when the upstream did not answer (SERVFAIL). */
export async function forward(msg: Buffer, upstream: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
  const r = await forwardQuestion(msg, upstream, timeoutMs);
  return 'reply' in r ? r.reply : undefined;
}

export interface UpstreamHealthSettings {
  /** The deadline of a question to an upstream not known to be silent. */
  timeoutMs: number;
  /** The deadline while it is remembered as silent or unreachable. */
  silentTimeoutMs: number;
  /** How long a timeout or a send error is remembered. */
  rememberMs: number;
}

export const DEFAULT_UPSTREAM_HEALTH: UpstreamHealthSettings = {
  timeoutMs: 2000,
  silentTimeoutMs: 250,
  rememberMs: 10_000,
};

/** What the forwarder remembers of the upstream: when it last failed (a monotonic clock, milliseconds). */
export class UpstreamHealth {
  private failedAt?: number;
  constructor(
    readonly settings: UpstreamHealthSettings = DEFAULT_UPSTREAM_HEALTH,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Remembered as silent or unreachable now. */
  silent(): boolean {
    return this.failedAt !== undefined && this.now() - this.failedAt < this.settings.rememberMs;
  }

  /** The deadline for the next question. */
  deadlineMs(): number {
    return this.silent() ? this.settings.silentTimeoutMs : this.settings.timeoutMs;
  }

  record(result: ForwardResult): void {
    if ('reply' in result) this.failedAt = undefined;
    else this.failedAt = this.now();
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
