/**
 * What the last clean reconcile wrote into one overlay, kept so that the next run's difference costs
 * the entries that changed, not the network's size. Desired sets are made of remembered objects (the
 * same object while its record and VTEP stay: desired.ts) in one order (write order), so the new set
 * is walked beside the old one comparing objects by identity; only where they differ is an index
 * consulted. The result is the difference diffRemotes (reconcile-delta.ts) finds from the two whole
 * sets; it compared every entry through string maps at every change (22 % of an agent's CPU during
 * updates of a 20,000-endpoint network).
 */
import type { RemoteEndpoint } from '../dataplane/reconcile-plan.js';
import type { RemotesDelta } from '../dataplane/reconcile-delta.js';

const addressesOf = (e: RemoteEndpoint): string[] =>
  e.ip === undefined ? (e.ip6 === undefined ? [] : [e.ip6]) : e.ip6 === undefined ? [e.ip] : [e.ip, e.ip6];

interface Index {
  /** MAC → the object written for it. */
  byMac: Map<string, RemoteEndpoint>;
  /** Address → the MAC it was written for. */
  holder: Map<string, string>;
}

export class WrittenSet {
  /** Built at the first difference taken from this set (a set written by a full compare may never need it). */
  private index?: Index;

  constructor(readonly want: RemoteEndpoint[]) {}

  /**
   * The difference from this set to `after`, and the set `after` becomes (this one is used up: its
   * index moves to the new one). Undefined when `after` is not a set the kernel can hold (a MAC or an
   * address twice): the caller compares in full, which names the entry.
   */
  diffTo(after: RemoteEndpoint[]): { delta: RemotesDelta; next: WrittenSet } | undefined {
    const idx = this.takeIndex();
    if (!idx) return undefined;
    const before = this.want;
    const upsert: RemoteEndpoint[] = [];
    const upsertAt: number[] = [];
    /** Old objects passed over by the walk: gone, unless found later in `after` (an order change). */
    const passed: RemoteEndpoint[] = [];
    const late = new Set<RemoteEndpoint>();
    let i = 0;
    for (let j = 0; j < after.length;) {
      const e = after[j] as RemoteEndpoint;
      if (i < before.length && before[i] === e) {
        i++;
        j++;
      } else if (idx.byMac.get(e.mac) !== e) {
        upsert.push(e); // new, or changed (a new object for its MAC)
        upsertAt.push(j++);
      } else if (i < before.length) {
        passed.push(before[i++] as RemoteEndpoint); // e is an old entry further on in `before`
      } else {
        late.add(e);
        j++;
      }
    }
    for (; i < before.length; i++) passed.push(before[i] as RemoteEndpoint);
    const gone = late.size === 0 ? passed : passed.filter((x) => !late.has(x));
    const upsertMacs = new Set<string>();
    for (const e of upsert) {
      if (upsertMacs.has(e.mac)) return undefined; // one MAC twice
      upsertMacs.add(e.mac);
    }
    // The index becomes `after`'s: the gone objects leave, the upserts come in.
    for (const x of gone) {
      if (idx.byMac.get(x.mac) === x) idx.byMac.delete(x.mac);
      for (const ip of addressesOf(x)) if (idx.holder.get(ip) === x.mac) idx.holder.delete(ip);
    }
    for (const e of upsert) {
      const old = idx.byMac.get(e.mac);
      if (old !== undefined) return undefined; // an old object of this MAC is still in `after`: one MAC twice
      idx.byMac.set(e.mac, e);
      for (const ip of addressesOf(e)) {
        const holder = idx.holder.get(ip);
        if (holder !== undefined && holder !== e.mac) return undefined; // one address for two MACs
        idx.holder.set(ip, e.mac);
      }
    }
    const removeMacs: string[] = [];
    const removeIps: string[] = [];
    for (const x of gone) {
      if (!idx.byMac.has(x.mac)) removeMacs.push(x.mac);
      for (const ip of addressesOf(x)) if (!idx.holder.has(ip)) removeIps.push(ip);
    }
    const next = new WrittenSet(after);
    next.index = idx;
    return { delta: { upsert, upsertAt, removeMacs, removeIps }, next };
  }

  /** This set's index (built now if needed); undefined if the set itself has a MAC or an address twice. */
  private takeIndex(): Index | undefined {
    const idx = this.index ?? build(this.want);
    this.index = undefined;
    return idx;
  }
}

function build(want: RemoteEndpoint[]): Index | undefined {
  const byMac = new Map<string, RemoteEndpoint>();
  const holder = new Map<string, string>();
  for (const e of want) {
    if (byMac.has(e.mac)) return undefined;
    byMac.set(e.mac, e);
    for (const ip of addressesOf(e)) {
      if (holder.has(ip)) return undefined;
      holder.set(ip, e.mac);
    }
  }
  return { byMac, holder };
}
