/**
 * What follows from this host's interests (interests.ts): the network topics it takes, its statement
 * naming them (a new incarnation, so every member takes the new list), the records of a network it no
 * longer holds forgotten, and the first attach of a network: its records fetched from members that
 * hold it before the first address is chosen or the first packet needs an entry.
 */
import { MAX_INCARNATION } from './clock-bounds.js';
import { shuffle, type DiscoveryContext } from './context.js';
import type { AntiEntropy } from './anti-entropy.js';
import type { Gossip } from './gossip.js';
import { networkTag, recordNetwork } from './interests.js';
import type { Member } from './membership.js';
import type { Persistence } from './persistence.js';
import { PROTO_SCOPED, type MemberInfo } from './wire.js';

/** Members of a network a first attach fetches its records from (in parallel). */
const FIRST_ATTACH_SOURCES = 2;
/** How long a first attach waits for them at most (then it goes on: anti-entropy completes it). */
export const FIRST_ATTACH_TIMEOUT_MS = 5000;
/**
 * For this long after a network is taken, a member whose statement newly names it is synced with once:
 * what it published before our subscription reached it went to nobody here, and the periodic sync
 * (30 s, one random member) is too slow for a first packet. Both sides of a network taken at once do it.
 */
export const NEW_INTEREST_WINDOW_MS = 30_000;
/** At most this many such syncs per network taken (a burst of new holders is anti-entropy's). */
const NEW_INTEREST_SYNCS = 8;

interface TakenNetwork {
  until: number;
  /** Members synced with for it (first sources and holders learnt since). */
  synced: Set<string>;
  /** The first fetch (from holders known when it was taken); empty when there were none. */
  first: { sources: Member[]; done: Promise<unknown> };
}

export interface ScopeParts {
  gossip: Pick<Gossip, 'subscribeNetwork' | 'unsubscribeNetwork' | 'publishMember'>;
  antiEntropy: Pick<AntiEntropy, 'syncWith'>;
  persistence: Pick<Persistence, 'schedule'>;
  selfInfo(): MemberInfo;
  /** The table changed (records of a network forgotten). */
  changed(): void;
}

export class Scope {
  private scheduled = false;
  /** Networks taken in the last NEW_INTEREST_WINDOW_MS. */
  private readonly taken = new Map<string, TakenNetwork>();
  /** Time the last first attach took to fetch its network's records (ms), and how many there were; syncs with holders learnt after a network was taken. */
  readonly fetches = { count: 0, lastMs: 0, timedOut: 0, late: 0 };

  constructor(
    private readonly ctx: DiscoveryContext,
    private readonly p: ScopeParts,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Members (live) whose statements name the network among their interests. */
  holders(network: string, states: Member['state'][] = ['alive']): Member[] {
    const tag = networkTag(network);
    return this.ctx.membership.others(states).filter((m) => m.nets?.includes(tag));
  }

  /**
   * Whether this host holds a network's records, the members that say they do, and the live members of
   * a release before scoping (they hold every network and say nothing of which they use). By name.
   */
  describe(network: string): { held: boolean; members: string[]; unscoped: string[] } {
    const members = this.holders(network).map((m) => m.name);
    const unscoped = this.unscopedLive(['alive', 'suspect']).map((m) => m.name);
    return { held: this.ctx.interests.has(network), members: members.sort(), unscoped: unscoped.sort() };
  }

  /** Live members of a release before scoping: they hold every network's records and name none. */
  private unscopedLive(states: Member['state'][] = ['alive']): Member[] {
    return this.ctx.membership.others(states).filter((m) => (m.proto ?? 1) < PROTO_SCOPED);
  }

  /** Recomputes at the next turn (own endpoint writes come in bursts). */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.ctx.stopped()) this.refresh();
    });
  }

  /** Recomputes the interests and applies what changed. */
  refresh(): void {
    const { interests, table, log } = this.ctx;
    const change = interests.refresh();
    for (const n of change.added) {
      this.p.gossip.subscribeNetwork(n);
      this.take(n);
    }
    let dropped = 0;
    for (const n of change.removed) {
      this.taken.delete(n);
      this.p.gossip.unsubscribeNetwork(n);
      dropped += table.dropNetwork(n);
    }
    if (change.added.length || change.removed.length)
      log.info({ added: change.added, removed: change.removed, dropped }, 'networks of interest changed');
    if (dropped > 0) this.p.changed();
    if (change.announce) this.announce();
  }

  /** Forgets records held of networks not of interest (a table snapshot of an earlier life). */
  dropUnwanted(): number {
    const { interests, table, peerId } = this.ctx;
    const nets = new Set<string>();
    for (const r of table.all()) {
      const n = recordNetwork(r);
      if (n !== undefined && r.owner !== peerId && !interests.has(n)) nets.add(n);
    }
    let dropped = 0;
    for (const n of nets) dropped += table.dropNetwork(n);
    if (dropped > 0) this.p.changed();
    return dropped;
  }

  /**
   * Our statement with the new list, at a new incarnation (members take a member's fields from a
   * later statement only). Before start, the first statement carries it.
   */
  private announce(): void {
    const self = this.ctx.membership.self;
    self.nets = this.ctx.interests.tags();
    if (!this.ctx.node()) return;
    if (self.incarnation >= MAX_INCARNATION - 1) {
      this.ctx.log.warn({ incarnation: self.incarnation }, 'incarnation at its ceiling: interests not announced');
      return;
    }
    self.incarnation += 1;
    this.p.gossip.publishMember({ v: 1, t: 'alive', member: this.p.selfInfo() });
    this.p.persistence.schedule();
  }

  /**
   * Takes an interest in a network before an attach or allocation in it. The first time, its records
   * come from members holding it (a sync with each, at most FIRST_ATTACH_TIMEOUT_MS) before this
   * returns: the address chosen next sees every claim, the first packet finds its entries.
   */
  async join(network: string): Promise<void> {
    const { interests } = this.ctx;
    const had = interests.has(network);
    interests.hold(network);
    this.refresh();
    const first = this.taken.get(network)?.first;
    if (had || !first || first.sources.length === 0) return;
    const t0 = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      first.done.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), FIRST_ATTACH_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    this.fetches.count++;
    this.fetches.lastMs = Math.round(performance.now() - t0);
    if (timedOut) this.fetches.timedOut++;
    this.ctx.log.info(
      { network, from: first.sources.map((m) => m.name), ms: this.fetches.lastMs, timedOut },
      'first attach: records of the network fetched',
    );
  }

  /**
   * A network just became of interest: its records are fetched from members that say they hold it,
   * else from members of a release before scoping (they hold everything), two at most, in parallel.
   */
  private take(network: string): void {
    const holders = this.holders(network);
    const pool = holders.length > 0 ? holders : this.unscopedLive();
    const sources = this.ctx.node() ? shuffle(pool).slice(0, FIRST_ATTACH_SOURCES) : [];
    const done = Promise.allSettled(sources.map((m) => this.p.antiEntropy.syncWith(m)));
    const synced = new Set(sources.map((m) => m.peerId));
    this.taken.set(network, { until: this.now() + NEW_INTEREST_WINDOW_MS, synced, first: { sources, done } });
  }

  /**
   * A member's statement (new, or naming other networks): if it names a network taken here in the last
   * NEW_INTEREST_WINDOW_MS that we have not synced with it for, one sync (covering every network both
   * hold). Event-driven: no wait for the periodic sync when two hosts take a network at once.
   */
  memberHolds(m: Pick<Member, 'peerId' | 'addrs' | 'state' | 'nets'>): void {
    if (this.taken.size === 0 || m.state !== 'alive' || !m.nets?.length || !this.ctx.node()) return;
    const t = this.now();
    let sync = false;
    for (const [network, taken] of this.taken) {
      if (taken.until < t) {
        this.taken.delete(network);
        continue;
      }
      if (taken.synced.has(m.peerId) || taken.synced.size >= NEW_INTEREST_SYNCS) continue;
      if (!m.nets.includes(networkTag(network))) continue;
      taken.synced.add(m.peerId);
      sync = true;
    }
    if (!sync) return;
    this.fetches.late++;
    void this.p.antiEntropy.syncWith(m).catch((e: unknown) => {
      this.ctx.log.debug({ peerId: m.peerId, err: String(e) }, 'sync with a new holder failed');
    });
  }
}
