/**
 * What one anti-entropy exchange's summary and digest weigh as the cluster grows: N members (real
 * Ed25519 keys, real signed statements), 50 endpoint records each, networks of 10 hosts; seen from a
 * host that holds one network (scoped), and from a host of a network that spans every host (the worst
 * case: one partition per member). Per form (per partition and member, generation ≤ 6; two-level,
 * generation 7): the summary the initiator sends, the digest when both sides agree, and the digest
 * when one member's state and one owner's records differ; the time to build a two-level summary.
 * No network: the frames are the ones anti-entropy.ts encodes.
 *
 * npm run bench:sync-summary → bench/results/sync-summary.json (SYNC_SUMMARY_SIZES=100,1000,10000)
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { fnv1a } from '../core/hash.js';
import { writeResults } from './results-file.js';
import { signStatement } from '../discovery/member-statement.js';
import { differingBuckets, inBuckets, memberBuckets, partitionBuckets } from '../discovery/sync-buckets.js';
import { encode, PROTO_VERSION, type MemberInfo, type MemberState, type PartitionSummary } from '../discovery/wire.js';
import { networkTag } from '../discovery/interests.js';

const SIZES = (process.env.SYNC_SUMMARY_SIZES ?? '100,1000,10000').split(',').map(Number);
const PER_MEMBER = 50;
const NETWORK_HOSTS = 10;
type Entry = MemberInfo & { state: MemberState };

async function members(n: number): Promise<Entry[]> {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const key = await generateKeyPair('Ed25519');
    const vtep = `198.51.${100 + Math.floor(i / 250)}.${(i % 250) + 1}`;
    const info: MemberInfo = {
      peerId: peerIdFromPrivateKey(key).toString(),
      name: `host-${i}`,
      vtep,
      addrs: [`${vtep}:7946`],
      incarnation: 1 + (i % 7),
      proto: PROTO_VERSION,
      wgKey: Buffer.alloc(32, i % 251).toString('base64'),
      tunnel: `198.19.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      version: '0.1.0',
      clusterKeys: ['0123456789abcdef'],
      nets: [networkTag(`net-${Math.floor(i / NETWORK_HOSTS)}`)],
    };
    out.push({ ...info, signed: signStatement(key, info), state: 'alive' });
  }
  return out;
}

/** Scoped partitions (`owner/network`) of the given owners' records, each with its summary. */
function partitions(owners: Entry[], networkOf: (i: number) => string): Record<string, PartitionSummary> {
  const out: Record<string, PartitionSummary> = { '*': { count: 40, max: 900, hash: 12345 } };
  owners.forEach((m, i) => {
    out[`${m.peerId}/${networkOf(i)}`] = { count: PER_MEMBER, max: 1000 + i, hash: fnv1a(m.peerId) };
  });
  return out;
}

interface Sizes {
  summary: number;
  digest_equal: number;
  digest_one_differs: number;
}

function perPartition(ms: Entry[], ps: Record<string, PartitionSummary>): Sizes {
  const summary = encode({ v: 1, t: 'sync-summary', members: ms, partitions: ps, scope: ['net-0'] }).length;
  const digest = (versions: number) =>
    encode({
      v: 1,
      t: 'sync-digest',
      members: ms,
      versions: versions
        ? {
            [`${ms[0]?.peerId}/net-0`]: Array.from({ length: versions }, (_, k) => [
              'endpoint',
              `net-0/e${k}`,
              ms[0]?.peerId ?? '',
              1000 + k,
            ]),
          }
        : {},
    }).length;
  return { summary, digest_equal: digest(0), digest_one_differs: digest(PER_MEMBER) };
}

function twoLevel(ms: Entry[], ps: Record<string, PartitionSummary>): Sizes & { build_ms: number } {
  const t0 = performance.now();
  const buckets = partitionBuckets(ps);
  const mbuckets = memberBuckets(ms);
  const summary = encode({
    v: 1,
    t: 'sync-summary',
    members: [],
    partitions: {},
    scope: ['net-0'],
    buckets,
    memberBuckets: mbuckets,
  });
  const buildMs = performance.now() - t0;
  // The other side: one member suspected, one owner's partition one record ahead.
  const [first] = ms;
  const theirs = ms.map((m, i) => (i === 1 ? { ...m, state: 'suspect' as const } : m));
  const theirPs = { ...ps, [`${first?.peerId}/net-0`]: { count: PER_MEMBER, max: 5000, hash: 7 } };
  const differing = differingBuckets(partitionBuckets(theirPs), buckets);
  const memberDiffering = differingBuckets(memberBuckets(theirs), mbuckets);
  const inDiffering = inBuckets(Object.keys(theirPs), (p) => p, differing);
  const versions = Object.fromEntries(
    inDiffering.map((p) => [
      p,
      Array.from({ length: (theirPs[p] as PartitionSummary).count }, (_, k) => [
        'endpoint',
        `net-0/e${k}`,
        p.split('/')[0] ?? '',
        1000 + k,
      ]),
    ]),
  );
  const digestOne = encode({
    v: 1,
    t: 'sync-digest',
    members: inBuckets(theirs, (m) => m.peerId, memberDiffering),
    versions: versions as never,
    differing,
    memberDiffering,
  }).length;
  const digestEqual = encode({
    v: 1,
    t: 'sync-digest',
    members: [],
    versions: {},
    differing: [],
    memberDiffering: [],
  }).length;
  return {
    summary: summary.length,
    digest_equal: digestEqual,
    digest_one_differs: digestOne,
    build_ms: +buildMs.toFixed(2),
  };
}

const runs = [];
for (const n of SIZES) {
  const ms = await members(n);
  const ofNetwork = ms.slice(0, NETWORK_HOSTS);
  for (const [layout, ps] of [
    ['one network of 10 hosts held', partitions(ofNetwork, () => 'net-0')],
    ['one network on every host', partitions(ms, () => 'net-0')],
  ] as const) {
    const a = perPartition(ms, ps);
    const b = twoLevel(ms, ps);
    const row = { n, layout, per_partition: a, two_level: b, summary_ratio: +(a.summary / b.summary).toFixed(1) };
    runs.push(row);
    console.log(
      `N=${n} ${layout}: summary ${a.summary} → ${b.summary} B (${row.summary_ratio}×), digest (all equal) ${a.digest_equal} → ${b.digest_equal} B, digest (one member and one owner differ) ${a.digest_one_differs} → ${b.digest_one_differs} B; two-level summary built in ${b.build_ms} ms`,
    );
  }
}
const out = writeResults(
  'sync-summary.json',
  { date: new Date().toISOString(), node: process.version, per_member_records: PER_MEMBER, runs },
  1,
);
console.log(`wrote ${out}`);
