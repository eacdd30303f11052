/**
 * One rtnetlink socket bound to one network namespace.
 *
 * Requests are queued and sent in batches (several messages per sendmsg) with a bounded number in
 * flight; replies are dispatched by sequence number, so dumps and other requests may interleave.
 * The socket comes from the `netlink` package; everything above the raw datagrams is ours.
 */
import os from 'node:os';
import { RawNetlinkSocket } from 'netlink';
import { KernelError } from '../errors.js';
import { inNetnsFd } from '../netns.js';
import { encodeMessage, parseMessages, type NetlinkMessage } from './codec.js';
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR } from './constants.js';

const NETLINK_ROUTE = 0;
/** Requested receive buffer; the kernel caps it at net.core.rmem_max. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
const SEND_BUFFER_BYTES = 1024 * 1024;
/** At most this many requests await a reply; beyond this they wait in the queue. */
export const MAX_IN_FLIGHT = 128;
/** Messages packed into one sendmsg. */
const MAX_BATCH = 64;

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
export const errnoName = (n: number): string => ERRNO_NAMES.get(n) ?? `errno ${n}`;

interface Pending {
  seq: number;
  message: Buffer;
  dump: boolean;
  what: string;
  op: string;
  parts: NetlinkMessage[];
  interrupted: boolean;
  resolve: (msgs: NetlinkMessage[]) => void;
  reject: (err: Error) => void;
}

export interface RequestOptions {
  /** Describes the object for error messages, e.g. `link vxlan42`. */
  what: string;
  /** Describes the operation, e.g. `create`. */
  op: string;
}

export class RtnlSocket {
  private readonly raw: RawNetlinkSocket;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly inFlight = new Map<number, Pending>();
  private readonly queue: Pending[] = [];
  private closed = false;
  private flushScheduled = false;
  private dumpInFlight = false;

  private constructor(raw: RawNetlinkSocket) {
    this.raw = raw;
    this.raw.on('message', (buf) => this.onDatagram(buf));
    this.raw.on('error', (err) => this.failAll(new KernelError(err.code ?? 'EIO', 'netlink socket', 'receive on')));
    this.raw.unref();
  }

  /** Opens a socket in the namespace whose file descriptor is given (or in this thread's own). */
  static open(netnsFd?: number): RtnlSocket {
    const make = (): RawNetlinkSocket =>
      new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: RECV_BUFFER_BYTES, sendBufferSize: SEND_BUFFER_BYTES });
    return new RtnlSocket(netnsFd === undefined ? make() : inNetnsFd(netnsFd, make));
  }

  /** Sends a request expecting an ACK (flags get REQUEST|ACK added). Resolves with any reply messages. */
  request(type: number, flags: number, payload: Buffer[], opts: RequestOptions): Promise<NetlinkMessage[]> {
    return this.enqueue(type, flags | NLM_F_REQUEST | NLM_F_ACK, payload, false, opts);
  }

  /** Sends a dump request and resolves with every message of the multipart reply. A dump that the
   * kernel marks as interrupted by a concurrent change is retried (up to 3 times). */
  async dump(type: number, payload: Buffer[], opts: RequestOptions): Promise<NetlinkMessage[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.enqueue(type, NLM_F_REQUEST | NLM_F_DUMP, payload, true, opts);
      } catch (err) {
        if (!(err instanceof KernelError) || err.errno !== 'EINTR' || attempt >= 3) throw err;
      }
    }
  }

  get pending(): number {
    return this.inFlight.size + this.queue.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new KernelError('ECANCELED', 'netlink socket', 'closed'));
    this.raw.close();
  }

  private enqueue(type: number, flags: number, payload: Buffer[], dump: boolean, opts: RequestOptions): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new KernelError('EBADF', opts.what, `${opts.op} (socket closed)`));
    this.seq = (this.seq + 1) >>> 0 || 1;
    const seq = this.seq;
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      this.queue.push({ seq, message: encodeMessage(type, flags, seq, payload), dump, what: opts.what, op: opts.op, parts: [], interrupted: false, resolve, reject });
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight.size < MAX_IN_FLIGHT && !this.closed) {
      const room = Math.min(MAX_IN_FLIGHT - this.inFlight.size, MAX_BATCH);
      // The kernel runs one dump per socket at a time (a second one gets EBUSY): a dump waits until
      // the previous one is done; other requests may pass it.
      const batch: Pending[] = [];
      for (let i = 0; batch.length < room && i < this.queue.length; ) {
        const next = this.queue[i] as Pending;
        if (next.dump) {
          if (this.dumpInFlight || batch.some((b) => b.dump)) {
            i++;
            continue;
          }
        }
        batch.push(next);
        this.queue.splice(i, 1);
      }
      if (batch.length === 0) break;
      if (batch.some((b) => b.dump)) this.dumpInFlight = true;
      for (const p of batch) this.inFlight.set(p.seq, p);
      if (this.inFlight.size > 0) this.raw.ref();
      this.raw.send(
        batch.map((p) => p.message),
        {},
        (err) => {
          if (!err) return;
          for (const p of batch) {
            if (p.dump) this.dumpInFlight = false;
            if (this.inFlight.delete(p.seq)) p.reject(new KernelError(err.code ?? 'EIO', p.what, p.op));
          }
          this.afterSettle();
        },
      );
    }
  }

  private onDatagram(buf: Buffer): void {
    for (const msg of parseMessages(buf)) {
      const p = this.inFlight.get(msg.header.seq);
      if (!p) continue; // not ours (or already settled): ignore
      if (msg.header.flags & NLM_F_DUMP_INTR) p.interrupted = true;
      if (msg.header.type === NLMSG_ERROR) {
        const code = msg.payload.readInt32LE(0);
        this.inFlight.delete(p.seq);
        if (p.dump) this.dumpInFlight = false;
        if (code === 0) p.resolve(p.parts);
        else p.reject(new KernelError(errnoName(-code), p.what, p.op));
      } else if (msg.header.type === NLMSG_DONE) {
        this.inFlight.delete(p.seq);
        this.dumpInFlight = false;
        const code = msg.payload.length >= 4 ? msg.payload.readInt32LE(0) : 0;
        if (code < 0) p.reject(new KernelError(errnoName(-code), p.what, p.op));
        else if (p.interrupted) p.reject(new KernelError('EINTR', p.what, `${p.op} (dump interrupted by a concurrent change)`));
        else p.resolve(p.parts);
      } else {
        p.parts.push(msg);
      }
    }
    this.afterSettle();
  }

  private afterSettle(): void {
    if (this.queue.length > 0) this.flush();
    if (this.inFlight.size === 0 && this.queue.length === 0 && !this.closed) this.raw.unref();
  }

  private failAll(err: KernelError): void {
    const all = [...this.inFlight.values(), ...this.queue.splice(0)];
    this.inFlight.clear();
    this.dumpInFlight = false;
    for (const p of all) p.reject(new KernelError(err.errno, p.what, `${p.op} (${err.message})`));
  }
}
