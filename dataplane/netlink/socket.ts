/**
 * One rtnetlink socket bound to one network namespace.
 *
 * Three ways to talk to the kernel:
 * - `request`: one message with NLM_F_ACK; resolves on the ACK, rejects with the errno.
 * - `dump`: a multipart reply collected until NLMSG_DONE (one dump at a time per socket: the kernel
 *   answers a second concurrent dump with EBUSY, so dumps queue behind each other).
 * - `bulk`: many writes, packed into chunks of up to {@link BULK_CHUNK} messages per sendmsg. Only the
 *   last message of a chunk asks for an ACK: the kernel reports errors for the others anyway and
 *   handles a socket's messages in order, so that ACK (or error) closes the whole chunk. This avoids
 *   one reply datagram — and one trip through the event loop — per entry.
 *
 * Replies are dispatched by sequence number. The number of requests and chunks awaiting replies is
 * bounded so the replies fit the receive buffer (an overrun would lose them).
 */
import os from 'node:os';
import { RawNetlinkSocket } from 'netlink';
import { KernelError } from '../../core/errors.js';
import { inNetnsFd } from '../netns.js';
import { parseMessages, type NetlinkMessage } from './codec.js';
import {
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
} from './constants.js';

const NETLINK_ROUTE = 0;
/** Requested buffer sizes; the kernel caps them at net.core.rmem_max / wmem_max. */
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
const SEND_BUFFER_BYTES = 1024 * 1024;
/** At most this many single requests await a reply; beyond this they wait in the queue. */
export const MAX_IN_FLIGHT = 128;
/** Messages per bulk chunk (one sendmsg). */
export const BULK_CHUNK = 128;
/** Receive-buffer bytes budgeted per chunk in flight (each error reply is ~1 KiB of skb). */
const BYTES_PER_CHUNK = 160 * 1024;

const ERRNO_NAMES = new Map<number, string>(Object.entries(os.constants.errno).map(([name, n]) => [n, name]));
export const errnoName = (n: number): string => ERRNO_NAMES.get(n) ?? `errno ${n}`;

export interface RequestOptions {
  /** Describes the object for error messages, e.g. `link vxlan42`. */
  what: string;
  /** Describes the operation, e.g. `create`. */
  op: string;
}

/** One write of a bulk: message type and flags, and the body after the netlink header. */
export interface BulkMessage {
  type: number;
  flags: number;
  body: Buffer;
}

interface Single {
  kind: 'single' | 'dump';
  seq: number;
  message: Buffer;
  what: string;
  op: string;
  parts: NetlinkMessage[];
  interrupted: boolean;
  resolve: (msgs: NetlinkMessage[]) => void;
  reject: (err: KernelError) => void;
}

interface Chunk {
  kind: 'chunk';
  firstSeq: number;
  lastSeq: number;
  buffer: Buffer;
  /** Index in the bulk's result array of the chunk's first message. */
  offset: number;
  errors: Array<string | undefined>;
  done: () => void;
}

type Pending = Single | Chunk;

export class RtnlSocket {
  private readonly raw: RawNetlinkSocket;
  private seq = Math.floor(Math.random() * 0x3fffffff);
  private readonly singles = new Map<number, Single>();
  private readonly chunks: Chunk[] = [];
  private readonly queue: Pending[] = [];
  private readonly maxChunksInFlight: number;
  private closed = false;
  private flushScheduled = false;
  private dumpInFlight = false;

  private constructor(raw: RawNetlinkSocket) {
    this.raw = raw;
    this.raw.on('message', (buf) => this.onDatagram(buf));
    this.raw.on('error', (err) => this.failAll(err.code ?? 'EIO'));
    this.raw.unref();
    this.maxChunksInFlight = Math.max(1, Math.min(8, Math.floor(this.raw.getRecvBufferSize() / BYTES_PER_CHUNK)));
  }

  /** Opens a socket in the namespace whose file descriptor is given (or in this thread's own). */
  static open(netnsFd?: number): RtnlSocket {
    const make = (): RawNetlinkSocket =>
      new RawNetlinkSocket(NETLINK_ROUTE, { recvBufferSize: RECV_BUFFER_BYTES, sendBufferSize: SEND_BUFFER_BYTES });
    return new RtnlSocket(netnsFd === undefined ? make() : inNetnsFd(netnsFd, make));
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) & 0x7fffffff || 1;
    return this.seq;
  }

  private encode(type: number, flags: number, seq: number, body: Buffer[] | Buffer, into?: Buffer, at = 0): Buffer {
    const parts = Array.isArray(body) ? body : [body];
    const len = NLMSG_HDRLEN + parts.reduce((n, p) => n + p.length, 0);
    const buf = into ?? Buffer.allocUnsafe(len);
    buf.writeUInt32LE(len, at);
    buf.writeUInt16LE(type, at + 4);
    buf.writeUInt16LE(flags, at + 6);
    buf.writeUInt32LE(seq, at + 8);
    buf.writeUInt32LE(0, at + 12);
    let off = at + NLMSG_HDRLEN;
    for (const p of parts) off += p.copy(buf, off);
    return buf;
  }

  /** Sends a request expecting an ACK (flags get REQUEST|ACK added). Resolves with any reply messages. */
  request(type: number, flags: number, payload: Buffer[], opts: RequestOptions): Promise<NetlinkMessage[]> {
    return this.single('single', type, flags | NLM_F_REQUEST | NLM_F_ACK, payload, opts);
  }

  /** Sends a dump request and resolves with every message of the multipart reply. A dump that the
   * kernel marks as interrupted by a concurrent change is retried (up to 3 times). */
  async dump(type: number, payload: Buffer[], opts: RequestOptions): Promise<NetlinkMessage[]> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.single('dump', type, NLM_F_REQUEST | NLM_F_DUMP, payload, opts);
      } catch (err) {
        if (!(err instanceof KernelError) || err.errno !== 'EINTR' || attempt >= 3) throw err;
      }
    }
  }

  /**
   * Sends many writes; resolves with one entry per message: undefined for success, or the errno
   * name. Never rejects for a kernel refusal of one message; a socket failure marks all unsent and
   * unanswered messages with that errno.
   */
  bulk(messages: BulkMessage[]): Promise<Array<string | undefined>> {
    const results: Array<string | undefined> = new Array<string | undefined>(messages.length).fill(undefined);
    if (messages.length === 0) return Promise.resolve(results);
    if (this.closed) return Promise.resolve(results.fill('EBADF'));
    return new Promise((resolve) => {
      let open = 0;
      for (let start = 0; start < messages.length; start += BULK_CHUNK) {
        const slice = messages.slice(start, start + BULK_CHUNK);
        const size = slice.reduce((n, m) => n + NLMSG_HDRLEN + m.body.length, 0);
        const buffer = Buffer.allocUnsafe(size);
        let at = 0;
        if (this.seq + slice.length >= 0x7fffffff) this.seq = 0; // keep a chunk's seqs contiguous
        const firstSeq = this.seq + 1;
        slice.forEach((m, i) => {
          const flags = m.flags | NLM_F_REQUEST | (i === slice.length - 1 ? NLM_F_ACK : 0);
          this.encode(m.type, flags, this.nextSeq(), m.body, buffer, at);
          at += NLMSG_HDRLEN + m.body.length;
        });
        const chunk: Chunk = {
          kind: 'chunk',
          firstSeq,
          lastSeq: this.seq,
          buffer,
          offset: start,
          errors: results,
          done: () => {
            if (--open === 0) resolve(results);
          },
        };
        open++;
        this.queue.push(chunk);
      }
      this.scheduleFlush();
    });
  }

  get pending(): number {
    return this.singles.size + this.chunks.length + this.queue.length;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll('ECANCELED');
    this.raw.close();
  }

  private single(
    kind: 'single' | 'dump',
    type: number,
    flags: number,
    payload: Buffer[],
    opts: RequestOptions,
  ): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new KernelError('EBADF', opts.what, `${opts.op} (socket closed)`));
    const seq = this.nextSeq();
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      this.queue.push({
        kind,
        seq,
        message: this.encode(type, flags, seq, payload),
        what: opts.what,
        op: opts.op,
        parts: [],
        interrupted: false,
        resolve,
        reject,
      });
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
    while (this.queue.length > 0 && !this.closed) {
      // One sendmsg: a run of single requests (at most one dump among them), or one bulk chunk.
      const batch: Pending[] = [];
      let dumpTaken = false;
      for (let i = 0; i < this.queue.length && batch.length < 64;) {
        const p = this.queue[i] as Pending;
        if (p.kind === 'chunk') {
          if (batch.length === 0 && this.chunks.length < this.maxChunksInFlight) {
            batch.push(p);
            this.queue.splice(i, 1);
            break;
          }
          i++;
          continue;
        }
        if (this.singles.size + batch.length >= MAX_IN_FLIGHT) break;
        if (p.kind === 'dump' && (this.dumpInFlight || dumpTaken)) {
          i++;
          continue;
        }
        if (p.kind === 'dump') dumpTaken = true;
        batch.push(p);
        this.queue.splice(i, 1);
      }
      if (batch.length === 0) break;
      for (const p of batch) {
        if (p.kind === 'chunk') this.chunks.push(p);
        else this.singles.set(p.seq, p);
        if (p.kind === 'dump') this.dumpInFlight = true;
      }
      this.raw.ref();
      this.raw.send(
        batch.map((p) => (p.kind === 'chunk' ? p.buffer : p.message)),
        {},
        (err) => {
          if (!err) return;
          const code = err.code ?? 'EIO';
          for (const p of batch) this.settleFailed(p, code);
          this.afterSettle();
        },
      );
    }
  }

  private settleFailed(p: Pending, errno: string): void {
    if (p.kind === 'chunk') {
      const i = this.chunks.indexOf(p);
      if (i >= 0) this.chunks.splice(i, 1);
      const n = p.lastSeq - p.firstSeq + 1;
      for (let k = 0; k < n; k++) p.errors[p.offset + k] ??= errno;
      p.done();
    } else {
      this.singles.delete(p.seq);
      if (p.kind === 'dump') this.dumpInFlight = false;
      p.reject(new KernelError(errno, p.what, p.op));
    }
  }

  private chunkFor(seq: number): Chunk | undefined {
    for (const c of this.chunks) if (seq >= c.firstSeq && seq <= c.lastSeq) return c;
    return undefined;
  }

  private onDatagram(buf: Buffer): void {
    for (const msg of parseMessages(buf)) {
      const seq = msg.header.seq;
      const p = this.singles.get(seq);
      if (p) {
        if (msg.header.flags & NLM_F_DUMP_INTR) p.interrupted = true;
        if (msg.header.type === NLMSG_ERROR) {
          const code = msg.payload.readInt32LE(0);
          this.singles.delete(seq);
          if (p.kind === 'dump') this.dumpInFlight = false;
          if (code === 0) p.resolve(p.parts);
          else p.reject(new KernelError(errnoName(-code), p.what, p.op));
        } else if (msg.header.type === NLMSG_DONE) {
          this.singles.delete(seq);
          this.dumpInFlight = false;
          const code = msg.payload.length >= 4 ? msg.payload.readInt32LE(0) : 0;
          if (code < 0) p.reject(new KernelError(errnoName(-code), p.what, p.op));
          else if (p.interrupted)
            p.reject(new KernelError('EINTR', p.what, `${p.op} (dump interrupted by a concurrent change)`));
          else p.resolve(p.parts);
        } else {
          p.parts.push(msg);
        }
        continue;
      }
      if (msg.header.type !== NLMSG_ERROR) continue;
      const c = this.chunkFor(seq);
      if (!c) continue; // not ours, or already settled
      const code = msg.payload.readInt32LE(0);
      if (code !== 0) c.errors[c.offset + (seq - c.firstSeq)] = errnoName(-code);
      if (seq === c.lastSeq) {
        this.chunks.splice(this.chunks.indexOf(c), 1);
        c.done();
      }
    }
    this.afterSettle();
  }

  private afterSettle(): void {
    if (this.queue.length > 0) this.flush();
    if (this.pending === 0 && !this.closed) this.raw.unref();
  }

  private failAll(errno: string): void {
    const all: Pending[] = [...this.singles.values(), ...this.chunks, ...this.queue.splice(0)];
    this.singles.clear();
    this.chunks.length = 0;
    this.dumpInFlight = false;
    for (const p of all) {
      if (p.kind === 'chunk') {
        const n = p.lastSeq - p.firstSeq + 1;
        for (let k = 0; k < n; k++) p.errors[p.offset + k] ??= errno;
        p.done();
      } else {
        p.reject(new KernelError(errno, p.what, `${p.op} (socket: ${errno})`));
      }
    }
  }
}
