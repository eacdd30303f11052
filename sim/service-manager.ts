/**
 * A stand-in for systemd's side of the service-manager protocols, for simulated hosts (which have no
 * systemd): a listening unix stream socket to pass to a service (socket activation: LISTEN_FDS,
 * LISTEN_PID, LISTEN_FDNAMES), and a unix datagram socket receiving its notifications
 * (NOTIFY_SOCKET). Node has neither a way to hand a listening socket's fd to a child nor unix
 * datagram sockets, so both go through libc.
 */
import fs from 'node:fs';
import { errno, strerror } from '../core/libc.js';
import {
  AF_UNIX,
  bindFn,
  closeFn,
  EAGAIN,
  listenFn,
  recvFn,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  socketFn,
  unixAddress,
} from '../core/sockets.js';

function fail(call: string, p: string): never {
  throw new Error(`${call}(${p}): ${strerror(errno())}`);
}

function bound(type: number, p: string): number {
  fs.rmSync(p, { force: true });
  const fd = socketFn(AF_UNIX, type, 0) as number;
  if (fd < 0) fail('socket', p);
  const { addr, len } = unixAddress(p);
  if ((bindFn(fd, addr, len) as number) < 0) {
    closeFn(fd);
    fail('bind', p);
  }
  return fd;
}

/** A listening unix stream socket at `p` (inheritable: meant to be passed to a child), as systemd's socket unit makes it. */
export function listeningSocket(p: string): { fd: number; close(): void } {
  const fd = bound(SOCK_STREAM, p);
  if ((listenFn(fd, 128) as number) < 0) {
    closeFn(fd);
    fail('listen', p);
  }
  fs.chmodSync(p, 0o600);
  return { fd, close: () => void closeFn(fd) };
}

/** The environment a service gets with these sockets (LISTEN_PID is set by `activationCommand`). */
export function activationEnv(names: string[]): Record<string, string> {
  return { LISTEN_FDS: String(names.length), LISTEN_FDNAMES: names.join(':') };
}

/** Wraps a command so that LISTEN_PID is its own pid (sh execs it: the pid stays). */
export function activationCommand(cmd: string[]): string[] {
  return ['sh', '-c', 'LISTEN_PID=$$ exec "$@"', 'sh', ...cmd];
}

/** Receives a service's notifications (READY=1, STATUS=..., STOPPING=1) on a unix datagram socket. */
export class NotifyReceiver {
  private readonly fd: number;
  readonly messages: Array<{ at: number; state: Record<string, string> }> = [];

  constructor(readonly path: string) {
    this.fd = bound(SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, path);
  }

  /** Reads what has arrived (never blocks). */
  poll(): void {
    const buf = Buffer.alloc(4096);
    for (;;) {
      const n = recvFn(this.fd, buf, buf.length, 0) as number;
      if (n < 0) {
        if (errno() === EAGAIN) return;
        fail('recv', this.path);
      }
      const state = Object.fromEntries(
        buf
          .subarray(0, n)
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      this.messages.push({ at: Date.now(), state });
    }
  }

  /** Waits until a message has `key` (e.g. READY); resolves with when it arrived, or undefined after `ms`. */
  async waitFor(key: string, ms: number): Promise<number | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      this.poll();
      const m = this.messages.find((x) => key in x.state);
      if (m) return m.at;
      if (Date.now() > end) return undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    closeFn(this.fd);
    fs.rmSync(this.path, { force: true });
  }
}
