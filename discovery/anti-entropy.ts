/**
 * Push-pull anti-entropy over a stream protocol: summary (per partition: count, max Lamport, hash) →
 * digest (versions of the partitions that differ) → push of what the peer lacks + want → records.
 * Membership rides along. Records relayed this way must carry a valid signature of their owner.
 *
 * Scoped (both members of generation PROTO_SCOPED): the initiator names its networks of interest in
 * the summary, partitions are per owner and network, and only the networks the initiator names and
 * the responder holds (its interests, and its own records of any network) are compared: a member
 * never pulls or is pushed records of a network it has no endpoint in. With an earlier generation
 * (no `scope`), partitions per owner over everything held, as before; what it offers outside our
 * interests is dropped before its signature is checked.
 *
 * Two-level (both of PROTO_SYNC_BUCKETS; sync-buckets.ts): the summary carries one entry per bucket of
 * partitions and of members instead of one per partition and member; the digest expands the buckets
 * that differ (the responder's versions of their partitions, its members of them), and the push
 * carries the initiator's members of the differing member buckets.
 */
import { lpStream } from '@libp2p/utils';
import { peerIdFromString } from '@libp2p/peer-id';
import type { PeerId, Stream } from '@libp2p/interface';
import { countDrop, dialTarget, type DiscoveryContext } from './context.js';
import type { Member } from './membership.js';
import type { RecordBudget } from './record-budget.js';
import type { MemberIntake } from './member-intake.js';
import type { VxmeshLibp2p } from './node.js';
import { verifiedRecord } from './record-signing.js';
import {
  partitionOf,
  scopedPartitionOf,
  splitScopedPartition,
  toWire,
  type Partitioner,
  type TableRecord,
} from './table.js';
import { networkTag, recordNetwork } from './interests.js';
import { differingBuckets, inBuckets, memberBuckets, partitionBuckets } from './sync-buckets.js';
import {
  MAX_SYNC_FRAME_BYTES,
  PROTOCOL_SYNC,
  PROTO_SCOPED,
  PROTO_SYNC_BUCKETS,
  WireError,
  decodeSyncFrame,
  encode,
  type MemberInfo,
  type PartitionSummary,
  type SyncDigest,
  type SyncFrame,
  type WireRecord,
} from './wire.js';
import { OWNER_BOUND, type RecordKind } from '../core/records.js';

const SYNC_TIMEOUT_MS = 15_000;

/** What a sync left: `more` than one sync carries either way; records we `pushed`, and whether past a burst. */
export interface SyncOutcome {
  more: boolean;
  pushed: number;
  pushedPast: boolean;
}
const NOTHING: SyncOutcome = { more: false, pushed: 0, pushedPast: false };

/**
 * The partitions a member of PROTO_SYNC_BUCKETS compares with us as responder (its `responderScope`):
 * shared ones, its own, and those of the networks its statement names (`nets`); both sides must fold
 * the same partitions into their buckets, or a bucket differs at every sync.
 */
function comparedBy(
  partitions: Record<string, PartitionSummary>,
  peerId: string,
  nets: readonly number[] | undefined,
): Record<string, PartitionSummary> {
  if (!nets) return partitions;
  const tags = new Set(nets);
  const out: Record<string, PartitionSummary> = {};
  for (const [p, s] of Object.entries(partitions)) {
    const split = splitScopedPartition(p);
    if (!split || split.owner === peerId || tags.has(networkTag(split.network))) out[p] = s;
  }
  return out;
}

export class AntiEntropy {
  constructor(
    private readonly ctx: DiscoveryContext,
    /** Verified records from a sync. */
    private readonly onRecords: (records: WireRecord[]) => void,
    /** A sync exchange completed (either side). */
    private readonly onSynced: () => void,
    /** Per-owner budget for records new to this host (shared with gossip). */
    private readonly budget: RecordBudget,
    /** Member entries are checked there before the membership sees them. */
    private readonly members: MemberIntake,
  ) {}

  async attach(node: VxmeshLibp2p): Promise<void> {
    await node.handle(
      PROTOCOL_SYNC,
      (stream, conn) =>
        void this.serve(stream, conn.remotePeer.toString()).catch((e: unknown) => this.failed(e, 'serve')),
      { runOnLimitedConnection: false },
    );
  }

  private failed(e: unknown, side: string): void {
    this.ctx.stats.syncFailures++;
    this.ctx.log.debug({ side, err: String(e) }, 'sync failed');
  }

  private memberStates(): Array<MemberInfo & { state: Member['state'] }> {
    return this.ctx.membership.list().map((m) => ({
      peerId: m.peerId,
      name: m.name,
      vtep: m.vtep,
      addrs: m.addrs,
      incarnation: m.incarnation,
      ...(m.proto !== undefined ? { proto: m.proto } : {}),
      ...(m.signed !== undefined ? { signed: m.signed } : {}),
      state: m.state,
    }));
  }

  /**
   * A sync with a member. A connection opened only for it is closed afterwards when this agent
   * already has its share of connections: connections stay bounded whatever the cluster's size.
   */
  async syncWith(m: Pick<Member, 'peerId' | 'addrs'>): Promise<SyncOutcome> {
    const node = this.ctx.node();
    if (!node) return NOTHING;
    const peer = peerIdFromString(m.peerId);
    const wasConnected = node.getConnections(peer).length > 0;
    await node.dial(dialTarget(m), { signal: AbortSignal.timeout(3000) });
    try {
      return await this.sync(peer);
    } finally {
      // Kept when the member holds a network we hold: its topic's mesh needs the connection.
      if (!wasConnected && node.getConnections().length > this.ctx.timers.targetPeers && !this.sharesNetwork(m.peerId))
        await node.hangUp(peer).catch(() => undefined);
    }
  }

  /** Whether a member's statement names a network this host holds. */
  private sharesNetwork(peerId: string): boolean {
    const nets = this.ctx.membership.get(peerId)?.nets;
    if (!nets?.length) return false;
    const mine = new Set(this.ctx.interests.names().map(networkTag));
    return nets.some((tag) => mine.has(tag));
  }

  /**
   * Initiator side: summary → digest → push (+ want) → records. Returns whether more is left than one
   * sync carries either way: the peer holds more that we lack (past a burst per owner, or refused by
   * the owners' budgets now), or lacks more of ours than a burst (a host that wrote many at once).
   */
  async sync(peer: PeerId): Promise<SyncOutcome> {
    const node = this.ctx.node();
    if (!node) return NOTHING;
    const { table } = this.ctx;
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS);
    const stream = await node.dialProtocol(peer, PROTOCOL_SYNC, { signal });
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES, maxBufferSize: MAX_SYNC_FRAME_BYTES });
    const read = async <T extends SyncFrame['t']>(t: T): Promise<Extract<SyncFrame, { t: T }>> => {
      const f = decodeSyncFrame((await lp.read({ signal })).subarray());
      if (f.t !== t) throw new WireError('t', `expected ${t}, got ${f.t}`);
      return f as Extract<SyncFrame, { t: T }>;
    };
    // Scoped with a member that announced the generation; per owner with one of an earlier release;
    // by buckets of partitions and members with one of PROTO_SYNC_BUCKETS.
    const remote = this.ctx.membership.get(peer.toString());
    const scoped = (remote?.proto ?? 1) >= PROTO_SCOPED;
    const bucketed = (remote?.proto ?? 1) >= PROTO_SYNC_BUCKETS;
    const scope = this.ctx.interests.names();
    const inScope = new Set(scope);
    const of: Partitioner = scoped ? scopedPartitionOf : partitionOf;
    let partitions = scoped
      ? table.summaries(of, (r) => {
          const net = recordNetwork(r);
          return net === undefined || inScope.has(net);
        })
      : table.summaries();
    if (bucketed) partitions = comparedBy(partitions, peer.toString(), remote?.nets);
    const members = this.memberStates();
    try {
      const summary = encode(
        bucketed
          ? {
              v: 1,
              t: 'sync-summary',
              members: [],
              partitions: {},
              scope,
              buckets: partitionBuckets(partitions),
              memberBuckets: memberBuckets(members),
            }
          : { v: 1, t: 'sync-summary', members, partitions, ...(scoped ? { scope } : {}) },
      );
      this.ctx.stats.syncSummaryBytes[bucketed ? 'buckets' : 'partitions'] += summary.length;
      await lp.write(summary, { signal });
      const digest = await read('sync-digest');
      this.members.learnFrom(peer.toString(), digest.members);
      // Two-level: our partitions in a differing bucket that the peer listed nothing of, it lacks.
      if (bucketed)
        for (const p of inBuckets(Object.keys(partitions), (k) => k, digest.differing ?? [])) digest.versions[p] ??= [];
      const { push, want, more, pushedPast } = this.compare(digest, of);
      const ours = bucketed ? { members: inBuckets(members, (m) => m.peerId, digest.memberDiffering ?? []) } : {};
      await lp.write(encode({ v: 1, t: 'sync-push', records: push.map(toWire), want, ...ours }), { signal });
      const got = await read('sync-records');
      const overBudget = await this.mergeVerified(got.records);
      this.onSynced();
      return { more: more || overBudget > 0, pushed: push.length, pushedPast };
    } catch (e) {
      this.failed(e, 'initiate');
      throw e;
    } finally {
      await stream.close().catch(() => undefined);
    }
  }

  /** Responder side. */
  private async serve(stream: Stream, remote: string): Promise<void> {
    const { table } = this.ctx;
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS);
    const lp = lpStream(stream, { maxDataLength: MAX_SYNC_FRAME_BYTES, maxBufferSize: MAX_SYNC_FRAME_BYTES });
    try {
      const summary = decodeSyncFrame((await lp.read({ signal })).subarray());
      if (summary.t !== 'sync-summary') throw new WireError('t', 'expected sync-summary');
      this.members.learnFrom(remote, summary.members);
      const { of, compared } = this.responderScope(summary.scope);
      const mine = table.summaries(of, (r) => compared(of(r)));
      const versions: SyncDigest['versions'] = {};
      const digest: SyncDigest = { v: 1, t: 'sync-digest', members: this.memberStates(), versions };
      const differing: string[] = [];
      if (summary.buckets) {
        // Two-level: every partition of a differing bucket, and our members of differing member buckets.
        digest.differing = differingBuckets(partitionBuckets(mine), summary.buckets);
        differing.push(...inBuckets(Object.keys(mine), (p) => p, digest.differing));
        digest.memberDiffering = differingBuckets(memberBuckets(digest.members), summary.memberBuckets ?? {});
        digest.members = inBuckets(digest.members, (m) => m.peerId, digest.memberDiffering);
      } else
        for (const p of new Set([...Object.keys(mine), ...Object.keys(summary.partitions)])) {
          const a = mine[p];
          const b = summary.partitions[p];
          if (!compared(p)) continue;
          if (!a || !b || a.count !== b.count || a.max !== b.max || a.hash !== b.hash) differing.push(p);
        }
      const held = this.grouped(of, new Set(differing));
      for (const p of differing) versions[p] = (held.get(p) ?? []).map((r) => [r.kind, r.key, r.owner, r.lamport]);
      const digestBytes = encode(digest);
      this.ctx.stats.syncSummaryBytes[summary.buckets ? 'buckets' : 'partitions'] += digestBytes.length;
      await lp.write(digestBytes, { signal });
      const push = decodeSyncFrame((await lp.read({ signal })).subarray());
      if (push.t !== 'sync-push') throw new WireError('t', 'expected sync-push');
      if (push.members) this.members.learnFrom(remote, push.members);
      await this.mergeVerified(push.records);
      const records: WireRecord[] = [];
      for (const [kind, key, owner] of push.want) {
        const r = table.get(kind, key, owner);
        if (r) records.push(toWire(r));
      }
      await lp.write(encode({ v: 1, t: 'sync-records', records }), { signal });
      this.onSynced();
      this.ctx.log.debug({ remote, pushed: push.records.length, sent: records.length }, 'served sync');
    } finally {
      await stream.close().catch(() => undefined);
    }
  }

  /**
   * How the responder partitions and which partitions it compares: with a scope, per owner and network,
   * the networks the initiator named that this host holds (its interests, or its own records); without
   * one (an earlier release), per owner, everything.
   */
  private responderScope(scope: string[] | undefined): { of: Partitioner; compared: (p: string) => boolean } {
    if (scope === undefined) return { of: partitionOf, compared: () => true };
    const theirs = new Set(scope);
    const { interests, peerId } = this.ctx;
    return {
      of: scopedPartitionOf,
      compared: (p) => {
        const split = splitScopedPartition(p);
        if (!split) return true; // shared records: cluster-wide
        return theirs.has(split.network) && (interests.has(split.network) || split.owner === peerId);
      },
    };
  }

  /** The records of the given partitions, grouped by partition (one pass over the table). */
  private grouped(of: Partitioner, partitions: ReadonlySet<string>): Map<string, TableRecord[]> {
    const out = new Map<string, TableRecord[]>();
    if (partitions.size === 0) return out;
    for (const r of this.ctx.table.all()) {
      const p = of(r);
      if (!partitions.has(p)) continue;
      const list = out.get(p);
      if (list) list.push(r);
      else out.set(p, [r]);
    }
    return out;
  }

  /**
   * What to push (records the peer lacks or holds older) and what to ask for, per differing
   * partition: at most one record budget's burst of each (the receiver would not take more of one
   * owner at once; the next sync carries the rest), except what we ask for before our first sync
   * completed (a joining host takes the whole table once).
   */
  private compare(
    digest: SyncDigest,
    of: Partitioner,
  ): { push: TableRecord[]; want: Array<[RecordKind, string, string]>; more: boolean; pushedPast: boolean } {
    const push: TableRecord[] = [];
    const want: Array<[RecordKind, string, string]> = [];
    const cap = this.ctx.timers.floodBurst;
    const wantCap = this.ctx.stats.syncRuns > 0 ? cap : Infinity;
    const held = this.grouped(of, new Set(Object.keys(digest.versions)));
    let more = false;
    let pushedPast = false;
    for (const [p, theirs] of Object.entries(digest.versions)) {
      let pushed = 0;
      let wanted = 0;
      const theirMap = new Map(
        theirs.map(([kind, key, owner, lamport]) => [`${kind}\u0000${key}\u0000${owner}`, lamport]),
      );
      const mineInP = held.get(p) ?? [];
      const mineMap = new Map(mineInP.map((r) => [`${r.kind}\u0000${r.key}\u0000${r.owner}`, r]));
      for (const r of mineInP) {
        const lam = theirMap.get(`${r.kind}\u0000${r.key}\u0000${r.owner}`);
        if (lam === undefined || lam < r.lamport) {
          if (pushed++ < cap) push.push(r);
          else more = pushedPast = true;
        }
      }
      for (const [kind, key, owner, lamport] of theirs) {
        // Not asked for: records of networks this host does not hold (an earlier release lists everything).
        if (!this.ctx.interests.wants({ kind, key, owner }, this.ctx.peerId)) continue;
        const r = mineMap.get(`${kind}\u0000${key}\u0000${owner}`);
        // Shared records live under one identity whatever the writer: compare against ours too.
        const sharedMine = !OWNER_BOUND.has(kind)
          ? [...mineMap.values()].find((x) => x.kind === kind && x.key === key)
          : undefined;
        const have = r ?? sharedMine;
        if (!have || have.lamport < lamport || (have.lamport === lamport && have.owner < owner)) {
          if (wanted++ < wantCap) want.push([kind, key, owner]);
          else more = true;
        }
      }
    }
    return { push, want, more, pushedPast };
  }

  /**
   * Merges records relayed by a third party: each must carry a valid signature of its owner. Records
   * new to this host spend their owner's budget (before the crypto) once our first sync is done.
   * Returns how many its budget refused now (offered again by a later sync).
   */
  private async mergeVerified(records: WireRecord[]): Promise<number> {
    let refused = 0;
    const ok: WireRecord[] = [];
    const limited = this.ctx.stats.syncRuns > 0;
    for (const r of records) {
      if (!this.ctx.interests.wants(r, this.ctx.peerId)) {
        countDrop(this.ctx, 'out-of-scope', `${r.kind}/${r.key} of ${r.owner}`);
        continue;
      }
      const have = this.ctx.table.get(r.kind, r.key, r.owner);
      if (have && (have.lamport > r.lamport || (have.lamport === r.lamport && r.owner !== this.ctx.peerId))) continue; // nothing new: skip the crypto
      if (OWNER_BOUND.has(r.kind) && !this.ctx.membership.get(r.owner)) {
        countDrop(this.ctx, 'non-member', `${r.kind}/${r.key} of ${r.owner}`);
        continue;
      }
      if (limited && !this.budget.take(r.owner, 1, 'sync')) {
        refused++;
        continue;
      }
      const verified = await verifiedRecord(r);
      if (verified === 'malformed') countDrop(this.ctx, 'malformed', `${r.kind}/${r.key} of ${r.owner}: format-2 body`);
      else if (verified) ok.push(verified);
      else countDrop(this.ctx, 'bad-signature', `${r.kind}/${r.key} of ${r.owner}`);
    }
    this.ctx.stats.syncRecordsIn += ok.length;
    this.onRecords(ok);
    return refused;
  }
}
