/**
 * The kernel's notifications of our own writes: after a reconcile by difference, the fdb and
 * neighbour notifications it causes are expected, entry by entry. Notifications that are all such
 * echoes need no reconcile (a full compare of a 20,000-entry overlay per update otherwise); anything
 * else (an entry removed or changed by someone else, a state that is not static, a lost event) does.
 */
import { canonicalIPv6 } from '../core/ipv6.js';
import { NUD_PERMANENT } from './netlink/constants.js';
import type { NeighEntry } from './netlink/event-socket.js';
import type { RemotesDelta } from './reconcile-delta.js';

/** One fdb or neighbour notification of an overlay's VXLAN device. */
export interface EntryEvent {
  deleted: boolean;
  entry: NeighEntry;
}

export class KernelEcho {
  private readonly fdb = new Map<string, string>();
  private readonly neigh = new Map<string, string>();
  private readonly macsGone = new Set<string>();
  private readonly ipsGone = new Set<string>();

  /**
   * Expects the notifications a difference's writes cause (deletions only if they were made), beside
   * those of earlier writes not yet read (the watch reads every 250 ms; updates come closer).
   */
  expect(delta: RemotesDelta, upserted: RemotesDelta['upsert'], deleted: boolean): this {
    for (const e of upserted) {
      this.fdb.set(e.mac, e.vtep);
      if (e.ip !== undefined) this.neigh.set(e.ip, e.mac);
      if (e.ip6 !== undefined) this.neigh.set(e.ip6, e.mac);
    }
    if (deleted) {
      for (const m of delta.removeMacs) this.macsGone.add(m);
      for (const ip of delta.removeIps) this.ipsGone.add(ip);
    }
    return this;
  }

  /** Whether every event is an echo of these writes (each consumed: a second identical one is not). */
  explains(events: EntryEvent[]): boolean {
    for (const { deleted, entry } of events) {
      const { family, mac, dst } = entry;
      if (family === 'bridge') {
        if (mac === undefined) return false;
        if (deleted ? !this.macsGone.delete(mac) : !this.takeStatic(this.fdb, mac, dst, entry.state)) return false;
      } else if (family === 'inet' || family === 'inet6') {
        const ip = family === 'inet6' && dst !== undefined ? canonicalIPv6(dst) : dst;
        if (ip === undefined) return false;
        if (deleted ? !this.ipsGone.delete(ip) : !this.takeStatic(this.neigh, ip, mac, entry.state)) return false;
      } else return false;
    }
    return true;
  }

  private takeStatic(map: Map<string, string>, key: string, value: string | undefined, state: number): boolean {
    if ((state & NUD_PERMANENT) === 0 || map.get(key) !== value) return false;
    map.delete(key);
    return true;
  }
}
