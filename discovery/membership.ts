/**
 * Membership state, memberlist-style (SWIM with Lifeguard's suspicion timeouts). Pure logic: the
 * network side (prober.ts and udp-probe.ts for probes, gossip.ts for member messages) feeds this class; time comes from `now()`
 * and timers from `setTimer`, so tests can drive it.
 *
 * Precedence for a member at incarnation i (memberlist's rules):
 *   alive(j)   applies if j > i (or the member is unknown)
 *   suspect(j) applies if j >= i and the member is alive
 *   dead(j)    applies if j >= i and the member is not already dead/left
 *   leave(j)   applies if j >= i
 * Messages about ourselves are refuted: suspect/dead with j >= our incarnation → incarnation i+1,
 * broadcast alive.
 *
 * What others say about a member is bounded by what the member said itself: a suspect or dead
 * statement at an incarnation above the one the member announced is ignored (nobody can know a later
 * incarnation than the member's own), so no statement can push a refutation past the ceiling the
 * receivers check (clock-bounds.ts) or keep a member dead by naming an incarnation it cannot outbid.
 */
import { INCARNATION_RAISE_CAP } from './clock-bounds.js';
import type { MemberInfo, MemberState } from './wire.js';
import { monotonicMs } from '../core/clock.js';

export interface Member extends MemberInfo {
  state: MemberState;
  /** The order in which this host saw the member take its current VTEP (ours: 0). */
  vtepOrder: number;
  /** When the state last changed (ms, local clock). */
  since: number;
  /** Last time a probe of this member succeeded (ms), 0 if never. */
  lastAck: number;
}

export interface MembershipTimers {
  /** How often each member probes one other member. memberlist LAN: 1 s. */
  probeIntervalMs: number;
  /** Direct probe timeout before indirect probes start. memberlist LAN: 500 ms. */
  probeTimeoutMs: number;
  /** Members asked to probe indirectly. memberlist: 3. */
  indirectChecks: number;
  /** Suspicion timeout = mult × max(1, log10(N)) × probeInterval, shrinking to it from maxMult × that
   * as independent confirmations arrive. memberlist LAN: mult 4, max mult 6. */
  suspicionMult: number;
  suspicionMaxMult: number;
}

export const DEFAULT_MEMBERSHIP_TIMERS: MembershipTimers = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 1.5,
  suspicionMaxMult: 4,
};

export type MembershipEvent =
  | { type: 'state'; member: Member; previous: MemberState | undefined }
  | { type: 'refute'; incarnation: number }
  /** A member's statement names other networks of interest (scope.ts syncs with a new holder). */
  | { type: 'nets'; member: Member };

interface Suspicion {
  start: number;
  confirmations: Set<string>;
  timer: { cancel(): void };
  incarnation: number;
}

export interface Clock {
  now(): number;
  setTimer(ms: number, fn: () => void): { cancel(): void };
}

export const realClock: Clock = {
  now: monotonicMs,
  setTimer(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export class Membership {
  readonly self: Member;
  private readonly members = new Map<string, Member>();
  private readonly suspicions = new Map<string, Suspicion>();
  private readonly listeners: Array<(e: MembershipEvent) => void> = [];
  private vtepsSeen = 0;

  constructor(
    self: MemberInfo,
    readonly timers: MembershipTimers = DEFAULT_MEMBERSHIP_TIMERS,
    private readonly clock: Clock = realClock,
  ) {
    this.self = { ...self, state: 'alive', vtepOrder: 0, since: clock.now(), lastAck: clock.now() };
    this.members.set(self.peerId, this.self);
  }

  onEvent(fn: (e: MembershipEvent) => void): void {
    this.listeners.push(fn);
  }

  private emit(e: MembershipEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** A member's networks of interest from its statement; listeners told when the list changed. */
  private setNets(m: Member, nets: number[] | undefined): void {
    if (`${m.nets}` === `${nets}`) return;
    m.nets = nets;
    this.emit({ type: 'nets', member: m });
  }

  get(peerId: string): Member | undefined {
    return this.members.get(peerId);
  }

  list(): Member[] {
    return [...this.members.values()];
  }

  /** Members other than us in the given states. */
  others(states: ReadonlyArray<MemberState> = ['alive', 'suspect']): Member[] {
    return this.list().filter((m) => m.peerId !== this.self.peerId && states.includes(m.state));
  }

  /** Whether a member's endpoints belong in the desired state. */
  isLive(peerId: string): boolean {
    const s = this.members.get(peerId)?.state;
    return s === 'alive' || s === 'suspect';
  }

  /** Declared dead (not left: only the member itself says that) less than `withinMs` ago. */
  recentlyDead(peerId: string, withinMs: number): boolean {
    const m = this.members.get(peerId);
    return m?.state === 'dead' && this.clock.now() - m.since < withinMs;
  }

  private setState(m: Member, state: MemberState): void {
    const previous = m.state;
    if (previous === state) return;
    m.state = state;
    m.since = this.clock.now();
    if (state !== 'suspect') this.clearSuspicion(m.peerId);
    this.emit({ type: 'state', member: m, previous });
  }

  private clearSuspicion(peerId: string): void {
    const s = this.suspicions.get(peerId);
    if (s) {
      s.timer.cancel();
      this.suspicions.delete(peerId);
    }
  }

  /** alive(j): a member announces itself (or is learnt through sync). Returns true if applied. */
  alive(info: MemberInfo): boolean {
    if (info.peerId === this.self.peerId) {
      // An earlier life of ours announced a later incarnation (its state directory was lost): outbid it.
      if (info.incarnation > this.self.incarnation) this.refute(info.incarnation);
      return false;
    }
    const m = this.members.get(info.peerId);
    if (!m) {
      const fresh: Member = {
        ...info,
        state: 'alive',
        vtepOrder: ++this.vtepsSeen,
        since: this.clock.now(),
        lastAck: 0,
      };
      this.members.set(info.peerId, fresh);
      this.emit({ type: 'state', member: fresh, previous: undefined });
      return true;
    }
    // The protocol generation may be learnt late (through a member of the previous release, which drops it).
    if (info.proto !== undefined && info.proto > (m.proto ?? 1)) m.proto = info.proto;
    if (info.incarnation === m.incarnation && m.signed === undefined && info.signed !== undefined) {
      // The same incarnation, now with the member's statement (to relay), and what only it carries
      // (learnt without it, we kept the previous statement's: a new WireGuard key arrives here).
      m.signed = info.signed;
      if (info.wgKey !== undefined && info.tunnel !== undefined) {
        const changed =
          m.wgKey !== info.wgKey ||
          m.tunnel !== info.tunnel ||
          `${m.clusterKeys}` !== `${info.clusterKeys}` ||
          m.version !== info.version;
        m.wgKey = info.wgKey;
        m.tunnel = info.tunnel;
        m.clusterKeys = info.clusterKeys;
        m.version = info.version;
        this.setNets(m, info.nets);
        if (changed) {
          this.emit({ type: 'state', member: m, previous: m.state });
          return true;
        }
      }
    }
    if (info.incarnation <= m.incarnation) return false;
    m.incarnation = info.incarnation;
    m.signed = info.signed;
    // Only a statement carries these: a newer incarnation learnt without it (the member speaking of
    // itself over its own connection) keeps what its last statement said, until the next one arrives.
    if (info.wgKey !== undefined && info.tunnel !== undefined) {
      m.wgKey = info.wgKey;
      m.tunnel = info.tunnel;
      m.clusterKeys = info.clusterKeys;
      m.version = info.version;
      this.setNets(m, info.nets);
    }
    m.name = info.name;
    if (m.vtep !== info.vtep) m.vtepOrder = ++this.vtepsSeen;
    m.vtep = info.vtep;
    m.addrs = info.addrs;
    if (m.state === 'alive') return true;
    this.setState(m, 'alive');
    return true;
  }

  /**
   * A member as another member sees it (sync). `trusted`: the entry's self-described fields (name,
   * VTEP, addresses, incarnation, left) are the member's own (its signed statement checked, or the
   * sync partner speaking of itself, or a previous-release relay of a member that signs nothing):
   * applied with the same precedence rules. Untrusted: only a suspect or dead statement about a
   * known member at the incarnation it announced (member-intake.ts decides which).
   */
  learn(info: MemberInfo & { state: MemberState }, trusted = true): void {
    if (!trusted) {
      if (info.state === 'suspect') this.suspect(info.peerId, info.incarnation, '');
      else if (info.state === 'dead') this.dead(info.peerId, info.incarnation);
      return;
    }
    if (info.state === 'alive') {
      this.alive(info);
      return;
    }
    if (info.peerId === this.self.peerId) {
      if (info.state !== 'left' && info.incarnation === this.self.incarnation) this.refute(info.incarnation);
      return;
    }
    if (!this.members.has(info.peerId)) {
      // Unknown and not alive: record it in that state directly (no alive→dead flap).
      const state = info.state === 'suspect' ? 'alive' : info.state;
      const m: Member = {
        peerId: info.peerId,
        name: info.name,
        vtep: info.vtep,
        addrs: info.addrs,
        incarnation: info.incarnation,
        state,
        vtepOrder: ++this.vtepsSeen,
        since: this.clock.now(),
        lastAck: 0,
      };
      if (info.proto !== undefined) m.proto = info.proto;
      if (info.signed !== undefined) m.signed = info.signed;
      if (info.wgKey !== undefined) m.wgKey = info.wgKey;
      if (info.tunnel !== undefined) m.tunnel = info.tunnel;
      if (info.clusterKeys !== undefined) m.clusterKeys = info.clusterKeys;
      if (info.version !== undefined) m.version = info.version;
      if (info.nets !== undefined) m.nets = info.nets;
      this.members.set(info.peerId, m);
      this.emit({ type: 'state', member: m, previous: undefined });
      if (info.state !== 'suspect') return;
    }
    if (info.state === 'suspect') this.suspect(info.peerId, info.incarnation, '');
    else if (info.state === 'dead') {
      this.alive(info); // a later statement of the member's own first (dead applies at its incarnation)
      this.dead(info.peerId, info.incarnation);
    } else this.leave(info.peerId, info.incarnation, info.signed);
  }

  private suspicionBounds(): { min: number; max: number; k: number } {
    const n = this.others(['alive', 'suspect']).length + 1;
    const min = this.timers.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * this.timers.probeIntervalMs;
    return { min, max: min * this.timers.suspicionMaxMult, k: Math.max(1, this.timers.indirectChecks - 1) };
  }

  /** suspect(j) from `from` ('' = our own probe). Returns true if it changed anything. */
  suspect(peerId: string, incarnation: number, from: string): boolean {
    if (peerId === this.self.peerId) {
      if (incarnation === this.self.incarnation) this.refute(incarnation);
      return false;
    }
    const m = this.members.get(peerId);
    if (!m || incarnation !== m.incarnation) return false;
    if (m.state === 'suspect') {
      const s = this.suspicions.get(peerId);
      if (s && from !== '' && !s.confirmations.has(from)) {
        s.confirmations.add(from);
        this.rearm(peerId, s);
        return true;
      }
      return false;
    }
    if (m.state !== 'alive') return false;
    m.incarnation = incarnation;
    this.setState(m, 'suspect');
    const s: Suspicion = {
      start: this.clock.now(),
      confirmations: new Set(from ? [from] : []),
      timer: { cancel: () => undefined },
      incarnation,
    };
    this.suspicions.set(peerId, s);
    this.rearm(peerId, s);
    return true;
  }

  /** Lifeguard: timeout shrinks from max to min as log(confirmations+1)/log(k+1). */
  private rearm(peerId: string, s: Suspicion): void {
    s.timer.cancel();
    const { min, max, k } = this.suspicionBounds();
    const frac = Math.min(1, Math.log(s.confirmations.size + 1) / Math.log(k + 1));
    const timeout = Math.max(min, max - frac * (max - min));
    const remaining = Math.max(0, s.start + timeout - this.clock.now());
    s.timer = this.clock.setTimer(remaining, () => {
      const m = this.members.get(peerId);
      if (m && m.state === 'suspect' && m.incarnation === s.incarnation) this.dead(peerId, s.incarnation);
    });
  }

  /** dead(j). Returns true if applied. */
  dead(peerId: string, incarnation: number): boolean {
    if (peerId === this.self.peerId) {
      if (incarnation === this.self.incarnation) this.refute(incarnation);
      return false;
    }
    const m = this.members.get(peerId);
    if (!m || incarnation !== m.incarnation || m.state === 'dead' || m.state === 'left') return false;
    m.incarnation = incarnation;
    this.setState(m, 'dead');
    return true;
  }

  /** leave(j): graceful departure, as the member said it (`signed`: its statement, relayed to others). */
  leave(peerId: string, incarnation: number, signed?: MemberInfo['signed']): boolean {
    if (peerId === this.self.peerId) return false;
    const m = this.members.get(peerId);
    if (!m || incarnation < m.incarnation || m.state === 'left') return false;
    m.incarnation = incarnation;
    if (signed !== undefined) m.signed = signed;
    this.setState(m, 'left');
    return true;
  }

  /** A probe of this member succeeded. */
  ack(peerId: string): void {
    const m = this.members.get(peerId);
    if (m) m.lastAck = this.clock.now();
  }

  private refute(incarnation: number): void {
    this.self.incarnation = Math.min(Math.max(this.self.incarnation, incarnation), INCARNATION_RAISE_CAP) + 1;
    this.emit({ type: 'refute', incarnation: this.self.incarnation });
  }

  /** Removes members dead or left for longer than `afterMs` (memberlist's GossipToTheDeadTime). */
  reap(afterMs: number): Member[] {
    const now = this.clock.now();
    const gone: Member[] = [];
    for (const m of this.members.values()) {
      if ((m.state === 'dead' || m.state === 'left') && now - m.since >= afterMs) {
        this.members.delete(m.peerId);
        gone.push(m);
      }
    }
    return gone;
  }

  stop(): void {
    for (const s of this.suspicions.values()) s.timer.cancel();
    this.suspicions.clear();
  }
}
