/**
 * Watches every open overlay namespace for link and neighbour notifications (one listening socket
 * per namespace, read every {@link POLL_MS} ms: cheap when idle, and no native reader that could
 * abort on an overrun). What it reports is a hint that something changed: the reconcile that follows
 * compares the kernel with the desired table and writes only what differs, so the notifications of
 * its own writes end in a run that changes nothing.
 */
import type { EntryEvent } from './kernel-echo.js';
import { macFromHostVethName } from './names.js';
import { KernelEventSocket, type EventRead } from './netlink/event-socket.js';

export const POLL_MS = 250;

/** What one namespace reported since the last poll. */
export interface KernelChange {
  vni: number;
  events: number;
  overrun: boolean;
  /** A link was deleted, or events were lost (overrun): the overlay may need rebuilding. */
  linkDeleted: boolean;
  /** The fdb and neighbour notifications among them (kernel-echo.ts tells our own writes' apart). */
  entries: EntryEvent[];
}

const isEndpointVeth = (name: string): boolean => macFromHostVethName(name) !== undefined;

export class KernelWatch {
  private readonly sockets = new Map<number, KernelEventSocket>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly onChange: (c: KernelChange) => void,
    private readonly onError: (vni: number, err: Error) => void,
    private readonly pollMs = POLL_MS,
  ) {}

  /** Starts watching a namespace (idempotent). A failure to open is reported, never thrown. */
  add(vni: number, netnsFd: number): void {
    if (this.sockets.has(vni)) return;
    try {
      this.sockets.set(vni, KernelEventSocket.open(netnsFd));
    } catch (e) {
      this.onError(vni, e as Error);
      return;
    }
    if (!this.timer) {
      this.timer = setInterval(() => this.poll(), this.pollMs);
      this.timer.unref();
    }
  }

  remove(vni: number): void {
    this.sockets.get(vni)?.close();
    this.sockets.delete(vni);
    if (this.sockets.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Reads every namespace's queue now; reports those with something in it. */
  poll(): void {
    for (const [vni, sock] of this.sockets) {
      let r: EventRead;
      try {
        r = sock.read();
      } catch (e) {
        this.onError(vni, e as Error);
        continue;
      }
      // The kernel's own multicast neighbours come and go by themselves: never ours, no reconcile. An
      // endpoint's veth comes and goes with its attach and detach (or its container): nothing a
      // reconcile of the overlay's tables or devices repairs.
      const events = r.events.filter(
        (e) => !e.entry?.multicast && !(e.kind === 'link' && e.name !== undefined && isEndpointVeth(e.name)),
      );
      if (events.length === 0 && !r.overrun) continue;
      this.onChange({
        vni,
        events: events.length,
        overrun: r.overrun,
        linkDeleted: r.overrun || events.some((e) => e.kind === 'link' && e.deleted),
        entries: events.flatMap((e) => (e.entry ? [{ deleted: e.deleted, entry: e.entry }] : [])),
      });
    }
  }

  close(): void {
    for (const vni of [...this.sockets.keys()]) this.remove(vni);
  }
}
