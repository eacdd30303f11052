/**
 * Two-level anti-entropy summaries (generation PROTO_SYNC_BUCKETS): partitions (owner and network)
 * and members are hashed into SYNC_BUCKETS buckets; a sync's summary carries one count, maximum and
 * order-independent hash per bucket, and only the buckets that differ are expanded (the responder's
 * record versions and members of those buckets, then the initiator's members of them). A summary is
 * bounded whatever the cluster's size (SYNC_BUCKETS entries per level): one entry per owner and one
 * member entry each made a sync at 1,000 members carry hundreds of kilobytes, most of it equal on
 * both sides.
 */
import { fnv1a } from '../core/hash.js';
import type { MemberInfo, MemberState, PartitionSummary } from './wire-types.js';

export const SYNC_BUCKETS = 64;

export type BucketSummaries = Record<string, PartitionSummary>;

/** The bucket of a partition or member (its name hashed). */
export const bucketOf = (name: string): number => fnv1a(`vxmesh-bucket/${name}`) % SYNC_BUCKETS;

function fold(out: BucketSummaries, name: string, max: number, fingerprint: string, count: number): void {
  const s = (out[String(bucketOf(name))] ??= { count: 0, max: 0, hash: 0 });
  s.count += count;
  if (max > s.max) s.max = max;
  s.hash = (s.hash ^ fnv1a(fingerprint)) >>> 0;
}

/** Per-partition summaries folded into their buckets (a partition's name is part of its bucket's hash). */
export function partitionBuckets(partitions: Record<string, PartitionSummary>): BucketSummaries {
  const out: BucketSummaries = {};
  for (const [p, s] of Object.entries(partitions)) fold(out, p, s.max, `${p}|${s.count}|${s.max}|${s.hash}`, s.count);
  return out;
}

type MemberEntry = MemberInfo & { state: MemberState };

/** What two members' views of a member must agree on: its identity, incarnation, state and statement. */
const memberFingerprint = (m: MemberEntry): string =>
  `${m.peerId}|${m.incarnation}|${m.state}|${m.signed ? Buffer.from(m.signed.s).toString('base64') : ''}`;

/** Members folded into their buckets (count, highest incarnation, hash of what `memberFingerprint` holds). */
export function memberBuckets(members: readonly MemberEntry[]): BucketSummaries {
  const out: BucketSummaries = {};
  for (const m of members) fold(out, m.peerId, m.incarnation, memberFingerprint(m), 1);
  return out;
}

/** The buckets whose summaries differ (either side may lack one), ascending. */
export function differingBuckets(a: BucketSummaries, b: BucketSummaries): number[] {
  const out: number[] = [];
  for (let i = 0; i < SYNC_BUCKETS; i++) {
    const x = a[String(i)];
    const y = b[String(i)];
    if (!x && !y) continue;
    if (!x || !y || x.count !== y.count || x.max !== y.max || x.hash !== y.hash) out.push(i);
  }
  return out;
}

/** The entries whose name falls in one of `buckets`. */
export function inBuckets<T>(entries: Iterable<T>, nameOf: (e: T) => string, buckets: readonly number[]): T[] {
  const wanted = new Set(buckets);
  const out: T[] = [];
  for (const e of entries) if (wanted.has(bucketOf(nameOf(e)))) out.push(e);
  return out;
}
