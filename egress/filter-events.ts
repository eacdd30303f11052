/**
 * Notifications of packet-filter changes, so that drift is repaired when it happens instead of by
 * reading every namespace's rules on a timer (a process per namespace: the largest part of an idle
 * agent's own CPU, measured). One netlink socket per namespace on nf_tables' notification group:
 * with iptables' nf_tables backend (Debian's default), every rule or chain change in that namespace,
 * ours and anybody's, is reported. Sockets are non-blocking and read every `pollMs`; a notification
 * or a lost one (a full receive queue) is reported as "something changed there": the reconcile that
 * follows compares and writes only what differs (so our own writes end in a run that changes nothing).
 * The legacy backend sends no notification: `iptablesBackend` (iptables.ts) tells which one runs.
 */
import fs from 'node:fs';
import { errno } from '../core/libc.js';
import { inNetnsFd } from '../core/netns-switch.js';
import { EINTR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_RAW, bindFn, closeFn, recvFn, socketFn } from '../core/sockets.js';

const AF_NETLINK = 16;
const NETLINK_NETFILTER = 12;
/** nfnetlink's group of nf_tables changes (NFNLGRP_NFTABLES). */
const NFNLGRP_NFTABLES = 7;
const ENOBUFS = 105;
const BUFFER_BYTES = 64 * 1024;
export const FILTER_POLL_MS = 1000;

/** A namespace's path, or undefined for this process's own. */
export type NamespacePath = string | undefined;

export class FilterEvents {
  private readonly sockets = new Map<NamespacePath, number>();
  private readonly buf = Buffer.allocUnsafe(BUFFER_BYTES);
  private timer?: NodeJS.Timeout;

  constructor(
    /** Something changed in these namespaces' packet filters since the last poll. */
    private readonly onChange: (where: NamespacePath[]) => void,
    private readonly pollMs = FILTER_POLL_MS,
  ) {}

  /** Listens in a namespace (idempotent). Throws when the kernel offers no nf_tables notifications there. */
  watch(netns: NamespacePath): void {
    if (this.sockets.has(netns)) return;
    const make = (): number =>
      socketFn(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_NETFILTER) as number;
    let fd: number;
    if (netns === undefined) fd = make();
    else {
      const nsFd = fs.openSync(netns, 'r');
      try {
        fd = inNetnsFd(nsFd, make);
      } finally {
        fs.closeSync(nsFd);
      }
    }
    if (fd < 0) throw new Error(`packet-filter notifications: socket: errno ${errno()}`);
    const addr = Buffer.alloc(12);
    addr.writeUInt16LE(AF_NETLINK, 0);
    addr.writeUInt32LE(1 << (NFNLGRP_NFTABLES - 1), 8);
    if (bindFn(fd, addr, addr.length) !== 0) {
      const code = errno();
      closeFn(fd);
      throw new Error(`packet-filter notifications: bind to nf_tables' group: errno ${code}`);
    }
    this.sockets.set(netns, fd);
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
  }

  /** Stops listening in the namespaces not in `keep`. */
  keepOnly(keep: ReadonlySet<NamespacePath>): void {
    for (const [netns, fd] of this.sockets)
      if (!keep.has(netns)) {
        closeFn(fd);
        this.sockets.delete(netns);
      }
  }

  /** The namespaces listened in. */
  namespaces(): NamespacePath[] {
    return [...this.sockets.keys()];
  }

  /** Reads every socket now; reports the namespaces where something changed (or notifications were lost). */
  poll(): NamespacePath[] {
    const changed: NamespacePath[] = [];
    for (const [netns, fd] of this.sockets) if (this.drain(fd)) changed.push(netns);
    if (changed.length > 0) this.onChange(changed);
    return changed;
  }

  /** Whether anything was queued (a notification, or an overrun). */
  private drain(fd: number): boolean {
    let any = false;
    for (;;) {
      const n = Number(recvFn(fd, this.buf, BUFFER_BYTES, 0));
      if (n >= 0) {
        any = true;
        continue;
      }
      const code = errno();
      if (code === EINTR) continue;
      if (code === ENOBUFS) {
        any = true;
        continue;
      }
      return any; // EAGAIN: drained (any other error: nothing more to read now)
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const fd of this.sockets.values()) closeFn(fd);
    this.sockets.clear();
  }
}
