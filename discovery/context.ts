/**
 * What the parts of discovery (gossip, prober, connections, anti-entropy, persistence) share: the
 * membership, the table, counters, timers, the libp2p node once started, and small helpers.
 */
import { peerIdFromString } from '@libp2p/peer-id';
import type { Logger } from '../core/logger.js';
import { DEFAULT_MEMBERSHIP_TIMERS, type Member, type Membership, type MembershipTimers } from './membership.js';
import { parseHostPort, toMultiaddr, type VxmeshLibp2p } from './node.js';
import type { ReplicatedTable } from './table.js';
import { INTEREST_HOLD_MS, type Interests } from './interests.js';

export interface DiscoveryTimers extends MembershipTimers {
  /** Push-pull anti-entropy with a random member. memberlist LAN: 30 s. */
  pushPullIntervalMs: number;
  /** Connection maintenance and rejoin through seeds. */
  connectIntervalMs: number;
  /** Try a sync with a random dead member (Serf's reconnect). */
  reconnectIntervalMs: number;
  /** Keep at least this many connections (at least the mesh degree). */
  targetPeers: number;
  /** Gossipsub mesh degree D (Dlo = D-2, Dhi = D+2; gossipsub's defaults are 6, 4, 12; ours 4, 2, 6: fewer copies per message, see bench:scale). */
  meshDegree: number;
  tombstoneTtlMs: number;
  /** Forget members dead or left for this long. */
  reapMs: number;
  /** Records new to this host admitted per owner and second (gossip and anti-entropy together), and the burst above that (record-budget.ts). */
  floodRecordsPerSecond: number;
  floodBurst: number;
  /** How long a network stays of interest after its last endpoint here went (interests.ts). */
  interestHoldMs: number;
}

export const DEFAULT_TIMERS: DiscoveryTimers = {
  ...DEFAULT_MEMBERSHIP_TIMERS,
  pushPullIntervalMs: 30_000,
  connectIntervalMs: 2_000,
  reconnectIntervalMs: 10_000,
  targetPeers: 8,
  meshDegree: 4,
  tombstoneTtlMs: 30 * 60_000,
  reapMs: 60 * 60_000,
  floodRecordsPerSecond: 200,
  floodBurst: 2000,
  interestHoldMs: INTEREST_HOLD_MS,
};

export interface DiscoveryStats {
  gossipIn: number;
  gossipOut: number;
  gossipBytesOut: number;
  /** Dropped incoming messages by reason. */
  dropped: Record<string, number>;
  /** Records (gossip or anti-entropy) ignored over their owner's budget, by owner (peer id). */
  rateLimited: Record<string, number>;
  /** The same records by the path they came on. */
  rateLimitedByPath: { gossip: number; sync: number };
  syncRuns: number;
  syncFailures: number;
  /** Syncs started again with a partner that held more than one sync takes (connections.ts). */
  syncFollowUps: number;
  syncRecordsIn: number;
  /** Bytes of summaries and digests sent (either side of a sync), by form (anti-entropy.ts). */
  syncSummaryBytes: { buckets: number; partitions: number };
  probes: number;
  probeFailures: number;
  indirectProbes: number;
  reasserts: number;
}

export const emptyStats = (): DiscoveryStats => ({
  gossipIn: 0,
  gossipOut: 0,
  gossipBytesOut: 0,
  dropped: {},
  rateLimited: {},
  rateLimitedByPath: { gossip: 0, sync: 0 },
  syncRuns: 0,
  syncFailures: 0,
  syncFollowUps: 0,
  syncRecordsIn: 0,
  syncSummaryBytes: { buckets: 0, partitions: 0 },
  probes: 0,
  probeFailures: 0,
  indirectProbes: 0,
  reasserts: 0,
});

export interface DiscoveryContext {
  readonly peerId: string;
  readonly membership: Membership;
  readonly table: ReplicatedTable;
  readonly stats: DiscoveryStats;
  readonly timers: DiscoveryTimers;
  readonly log: Logger;
  /** The networks whose records this host holds (interests.ts). */
  readonly interests: Interests;
  /** The libp2p node, once started. */
  node(): VxmeshLibp2p | undefined;
  stopped(): boolean;
}

/** Counts and logs an incoming message that was refused. */
export function countDrop(ctx: Pick<DiscoveryContext, 'stats' | 'log'>, reason: string, detail?: string): void {
  ctx.stats.dropped[reason] = (ctx.stats.dropped[reason] ?? 0) + 1;
  ctx.log.debug({ reason, detail }, 'dropped message');
}

/** Where to dial a member: its announced addresses, else its peer id (the peer store may know it). */
export function dialTarget(m: Pick<Member, 'peerId' | 'addrs'>): Parameters<VxmeshLibp2p['dial']>[0] {
  const addrs = m.addrs.map((a) => toMultiaddr(parseHostPort(a, 'addrs'), m.peerId));
  return addrs.length > 0 ? addrs : peerIdFromString(m.peerId);
}

export function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}
