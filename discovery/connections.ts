/**
 * Connections: join through the seeds (dial, then sync with each that answers), keep enough
 * connections to live members for gossipsub's mesh and not many more (idle cost flat in
 * the cluster's size), a few welcome syncs for a member that joins or returns, anti-entropy with a
 * random live member, and reconnect attempts to dead or departed members (either may come back).
 * Beside those, connections to a few members of each network of interest (PEERS_PER_NETWORK): a
 * network's topic mesh forms among the members that hold it, and with connections to random members
 * only, a network on 5 of 1,000 hosts would have no subscriber in reach.
 */
import { dialTarget, shuffle, type DiscoveryContext } from './context.js';
import { toMultiaddr, type HostPort } from './node.js';
import type { AntiEntropy } from './anti-entropy.js';
import type { Member } from './membership.js';
import { PEERS_PER_NETWORK, networkTag } from './interests.js';

/** Members expected to sync with one that joins or comes back (see `welcome`). */
export const WELCOME_SYNCS = 3;

export class Connections {
  constructor(
    private readonly ctx: DiscoveryContext,
    private readonly seeds: HostPort[],
    private readonly announce: HostPort[],
    private readonly antiEntropy: AntiEntropy,
    /** Whether a member wrote records over its budget lately (record-budget.ts). */
    private readonly flooding: (peerId: string) => boolean = () => false,
    /** Members live before a restart (persistence.ts): dialed like seeds. */
    private readonly remembered: HostPort[] = [],
  ) {}

  private firstJoinDone = false;

  /** Members remembered from before a restart are still to be tried (the first join has not ended). */
  get rejoining(): boolean {
    return this.remembered.length > 0 && !this.firstJoinDone;
  }

  private targets(): HostPort[] {
    const seen = new Set(this.seeds.map((s) => `${s.host}:${s.port}`));
    return [...this.seeds, ...this.remembered.filter((r) => !seen.has(`${r.host}:${r.port}`))];
  }

  /** Dials the seeds (and the members remembered from before a restart) and syncs with each that answers; returns how many did. */
  async join(): Promise<number> {
    let joined = 0;
    await Promise.all(
      this.targets().map(async (s) => {
        if (this.announce.some((a) => a.host === s.host && a.port === s.port)) return;
        try {
          const conn = await this.ctx.node()?.dial(toMultiaddr(s), { signal: AbortSignal.timeout(3000) });
          if (!conn) return;
          await this.antiEntropy.sync(conn.remotePeer);
          joined++;
        } catch (e) {
          this.ctx.log.debug({ seed: `${s.host}:${s.port}`, err: String(e) }, 'seed not reachable');
        }
      }),
    );
    this.firstJoinDone = true;
    return joined;
  }

  /**
   * Keeps `targetPeers` connections to live members (rejoins through the seeds when none is live), and
   * not many more: the excess (never a gossipsub mesh peer) is closed. libp2p's own limit is
   * a high safety net only: at a limit it refuses new connections, and seeds must accept joiners.
   */
  async maintain(): Promise<void> {
    const node = this.ctx.node();
    if (!node) return;
    this.trim(node);
    const connected = new Set(node.getConnections().map((c) => c.remotePeer.toString()));
    const live = this.ctx.membership.others(['alive', 'suspect']);
    if (live.length === 0 && this.targets().length > 0) {
      await this.join();
      return;
    }
    const missing = this.ctx.timers.targetPeers - live.filter((m) => connected.has(m.peerId)).length;
    const candidates = missing > 0 ? shuffle(live.filter((m) => !connected.has(m.peerId))).slice(0, missing) : [];
    const dial = new Set([...candidates, ...this.networkPeersMissing(live, connected)]);
    await Promise.all(
      [...dial].map((m) => node.dial(dialTarget(m), { signal: AbortSignal.timeout(2000) }).catch(() => undefined)),
    );
  }

  /** Members to dial so that each network of interest has PEERS_PER_NETWORK of its members connected (or all it has). */
  private networkPeersMissing(live: Member[], connected: Set<string>): Member[] {
    const out: Member[] = [];
    const chosen = new Set<string>();
    for (const n of this.ctx.interests.names()) {
      const tag = networkTag(n);
      const holders = live.filter((m) => m.nets?.includes(tag));
      const have = holders.filter((m) => connected.has(m.peerId) || chosen.has(m.peerId)).length;
      const want = Math.min(PEERS_PER_NETWORK, holders.length) - have;
      if (want <= 0) continue;
      for (const m of shuffle(holders.filter((h) => !connected.has(h.peerId) && !chosen.has(h.peerId))).slice(
        0,
        want,
      )) {
        chosen.add(m.peerId);
        out.push(m);
      }
    }
    return out;
  }

  /**
   * Above three times the target, back down to twice it. The gap matters: every member dials until it
   * has `targetPeers`, so an average member holds about twice that (its own and others' dials); a
   * limit at that average closes connections whose owners dial again at once, a storm of handshakes.
   */
  private trim(node: NonNullable<ReturnType<DiscoveryContext['node']>>): void {
    const keep = 2 * this.ctx.timers.targetPeers;
    const conns = node.getConnections();
    if (conns.length <= 3 * this.ctx.timers.targetPeers) return;
    const pubsub = node.services.pubsub;
    // The implementation has getMeshPeers; its published interface does not.
    const meshOf = (pubsub as unknown as { getMeshPeers?: (topic: string) => string[] }).getMeshPeers?.bind(pubsub);
    const mesh = new Set(meshOf ? pubsub.getTopics().flatMap((t) => meshOf(t)) : []);
    // The oldest non-mesh connections go first (recent ones may be a join or a sync in progress).
    const excess = conns
      .filter((c) => !mesh.has(c.remotePeer.toString()) && Date.now() - c.timeline.open > 10_000)
      .sort((a, b) => a.timeline.open - b.timeline.open);
    for (const c of excess.slice(0, conns.length - keep)) void c.close().catch(() => undefined);
  }

  /**
   * A member seen alive for the first time, or back from dead or left: sync with it with probability
   * WELCOME_SYNCS / (live members other than us). Every member sees the same change, so about
   * WELCOME_SYNCS of them sync with it whatever the cluster's size; it was every member (a join
   * cost N − 1 handshakes and full syncs: measured, about one sync per second per agent while 30
   * agents joined one after the other). After a partition
   * heals each member sees the other side return and syncs with about WELCOME_SYNCS × (other side / N)
   * of them, so records cross in one round either way (a sync pushes and pulls); with up to
   * WELCOME_SYNCS other members everyone syncs, as before. Returns whether it synced.
   */
  async welcome(m: Pick<Member, 'peerId' | 'addrs'>, random: () => number = Math.random): Promise<boolean> {
    const others = this.ctx.membership.others(['alive']).length;
    if (others > WELCOME_SYNCS && random() >= WELCOME_SYNCS / others) return false;
    await this.syncAndFollow(m);
    return true;
  }

  private syncRounds = 0;

  /**
   * Periodic anti-entropy with a random live member: three rounds in four with one this agent already
   * has a connection to (a new connection costs both sides a Noise handshake and identify, most of an
   * idle agent's sync cost), every fourth with any member, so that syncs still cross the whole
   * cluster and not only the current mesh.
   */
  async syncRandom(random: () => number = Math.random): Promise<void> {
    // Not with a member that wrote over its record budget lately: its digest lists every record it
    // holds (a flooder's: tens of thousands, megabytes parsed in one piece); its records within the
    // budget still arrive by gossip, by its own syncs and through other members.
    const live = this.ctx.membership.others(['alive']).filter((m) => !this.flooding(m.peerId));
    const node = this.ctx.node();
    const connected = new Set(node?.getConnections().map((c) => c.remotePeer.toString()) ?? []);
    const near = ++this.syncRounds % 4 !== 0 ? live.filter((m) => connected.has(m.peerId)) : [];
    const pool = near.length > 0 ? near : live;
    const m = pool[Math.floor(random() * pool.length)];
    if (m) await this.syncAndFollow(m);
  }

  /** The member a follow-up sync is due with (at most one at a time). */
  private followUp?: string;

  /**
   * A sync; when more was left than one sync carries (records past an owner's burst either way: a
   * host importing many endpoints at once, or a partner lacking them), another with the same partner
   * once the budget has refilled (burst ÷ rate: 10 s by default), and so on while there is more: an
   * owner's records reach a host at its budget's pace, not at one burst per periodic sync with a
   * random partner. The importing host drives its own (the others skip it as a sync partner while
   * its records are over their budget), and each receiver's budget still bounds what it takes: once
   * a chain pushed past a burst, it goes on with another member of our networks when the partner
   * has everything, for as long as each next member still lacked some (an import reaches every
   * member at the budget's pace, not only the random partners' neighbours).
   */
  async syncAndFollow(m: Pick<Member, 'peerId' | 'addrs'>, driving = false): Promise<void> {
    const r = await this.antiEntropy.syncWith(m).catch(() => ({ more: false, pushed: 0, pushedPast: false }));
    const drive = driving || r.pushedPast;
    const next = r.more ? m.peerId : drive && r.pushed > 0 ? this.anotherOfOurNetworks(m.peerId) : undefined;
    if (next === undefined || this.followUp !== undefined || this.ctx.stopped()) return;
    this.followUp = next;
    const refillMs = (1000 * this.ctx.timers.floodBurst) / this.ctx.timers.floodRecordsPerSecond;
    setTimeout(() => {
      this.followUp = undefined;
      const again = this.ctx.membership.get(next);
      if (this.ctx.stopped() || again?.state !== 'alive') return;
      this.ctx.stats.syncFollowUps++;
      void this.syncAndFollow(again, drive);
    }, refillMs).unref();
  }

  /** A random live member other than `not` that names a network we hold (any live member without our networks' names). */
  private anotherOfOurNetworks(not: string): string | undefined {
    const mine = new Set(this.ctx.interests.names().map(networkTag));
    const others = this.ctx.membership.others(['alive']).filter((x) => x.peerId !== not);
    const sharing = others.filter((x) => x.nets?.some((tag) => mine.has(tag)));
    const pool = sharing.length > 0 ? sharing : others;
    return pool[Math.floor(Math.random() * pool.length)]?.peerId;
  }

  async reconnectDead(): Promise<void> {
    // Dead and departed members: either may come back (a restart after a graceful stop is 'left').
    const dead = this.ctx.membership.others(['dead', 'left']);
    const m = dead[Math.floor(Math.random() * dead.length)];
    if (m) await this.antiEntropy.syncWith(m).catch(() => undefined);
    // Also retry seeds we have no live connection to: a healed partition may only be reachable so.
    if (dead.length > 0 && this.ctx.membership.others(['alive']).length === 0) await this.join();
  }
}
