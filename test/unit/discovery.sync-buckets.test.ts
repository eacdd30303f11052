/**
 * Two-level anti-entropy summaries (sync-buckets.ts): equal sets give equal buckets whatever their
 * order; a change of one partition or member shows in its bucket and no other; the frames' bucket
 * fields are checked naming the field.
 */
import t from 'tap';
import fc from 'fast-check';
import {
  SYNC_BUCKETS,
  bucketOf,
  differingBuckets,
  inBuckets,
  memberBuckets,
  partitionBuckets,
} from '../../discovery/sync-buckets.js';
import { WireError, decodeSyncFrame, encode, type MemberInfo, type MemberState } from '../../discovery/wire.js';

const summary = fc.record({
  count: fc.integer({ min: 1, max: 1000 }),
  max: fc.integer({ min: 1, max: 1e6 }),
  hash: fc.integer({ min: 0, max: 0xffffffff }),
});
const partitions = fc.dictionary(fc.string({ minLength: 1, maxLength: 30 }), summary, { minKeys: 1, maxKeys: 200 });
const shuffled = <T>(xs: T[], seed: number): T[] =>
  xs
    .map((x, i) => [x, (i * 2654435761 + seed) % 4294967291] as const)
    .sort((a, b) => a[1] - b[1])
    .map(([x]) => x);

t.test('partitions: equal sets, equal buckets; one changed partition, its bucket only', async (t) => {
  fc.assert(
    fc.property(
      partitions,
      fc.nat(),
      fc.nat(),
      fc.constantFrom('count', 'max', 'hash', 'gone', 'added'),
      (ps, seed, pick, how) => {
        const entries = Object.entries(ps);
        const again = Object.fromEntries(shuffled(entries, seed));
        if (differingBuckets(partitionBuckets(ps), partitionBuckets(again)).length !== 0) return false;
        const [p, s] = entries[pick % entries.length] as [string, (typeof entries)[0][1]];
        const changed = { ...ps };
        if (how === 'gone') delete changed[p];
        else if (how === 'added') changed[`${p}+`] = s;
        else changed[p] = { ...s, [how]: s[how] + 1 };
        const expected = [bucketOf(how === 'added' ? `${p}+` : p)];
        return (
          JSON.stringify(differingBuckets(partitionBuckets(ps), partitionBuckets(changed))) === JSON.stringify(expected)
        );
      },
    ),
  );
  t.pass('property held');
});

const peer = (i: number) => `12D3KooW${String(i).padStart(44, 'A')}`;
const member = (i: number, incarnation = 1, state: MemberState = 'alive'): MemberInfo & { state: MemberState } => ({
  peerId: peer(i),
  name: `h${i}`,
  vtep: '198.51.100.1',
  addrs: ['198.51.100.1:7946'],
  incarnation,
  state,
  signed: { b: new Uint8Array([i]), s: new Uint8Array([i, incarnation]) },
});

t.test('members: a changed incarnation, state or statement shows in the member’s bucket only', async (t) => {
  const ms = Array.from({ length: 300 }, (_, i) => member(i));
  const base = memberBuckets(ms);
  t.same(differingBuckets(base, memberBuckets([...ms].reverse())), [], 'order does not matter');
  const at = (i: number, m: MemberInfo & { state: MemberState }) => ms.map((x, j) => (j === i ? m : x));
  t.same(differingBuckets(base, memberBuckets(at(7, member(7, 2)))), [bucketOf(peer(7))], 'incarnation');
  t.same(differingBuckets(base, memberBuckets(at(8, member(8, 1, 'suspect')))), [bucketOf(peer(8))], 'state');
  const resigned = { ...member(9), signed: { b: new Uint8Array([9]), s: new Uint8Array([99]) } };
  t.same(differingBuckets(base, memberBuckets(at(9, resigned))), [bucketOf(peer(9))], 'statement');
  t.same(differingBuckets(base, memberBuckets(ms.slice(1))), [bucketOf(peer(0))], 'a member missing');
  t.same(differingBuckets({}, base).length, Object.keys(base).length, 'nothing held: every bucket in use differs');
  const picked = inBuckets(ms, (m) => m.peerId, [bucketOf(peer(7))]);
  t.ok(
    picked.some((m) => m.peerId === peer(7)),
    'inBuckets picks the member',
  );
  t.ok(
    picked.every((m) => bucketOf(m.peerId) === bucketOf(peer(7))),
    'and only members of that bucket',
  );
  t.ok(Object.keys(base).length <= SYNC_BUCKETS, `at most ${SYNC_BUCKETS} buckets for 300 members`);
});

const fieldOf = (o: unknown): string | undefined => {
  try {
    decodeSyncFrame(Buffer.from(JSON.stringify(o)));
    return undefined;
  } catch (e) {
    return e instanceof WireError ? e.field : `other: ${String(e)}`;
  }
};

t.test('the frames’ bucket fields round-trip and are checked naming the field', async (t) => {
  const s = { count: 3, max: 9, hash: 77 };
  const summaryFrame = {
    v: 1 as const,
    t: 'sync-summary' as const,
    members: [],
    partitions: {},
    scope: ['blue'],
    buckets: { '0': s, '63': s },
    memberBuckets: { '5': s },
  };
  t.same(decodeSyncFrame(encode(summaryFrame)), summaryFrame);
  const digest = {
    v: 1 as const,
    t: 'sync-digest' as const,
    members: [],
    versions: {},
    differing: [0, 63],
    memberDiffering: [],
  };
  t.same(decodeSyncFrame(encode(digest)), digest);
  t.equal(fieldOf({ ...summaryFrame, buckets: { '64': s } }), 'buckets.64', 'a bucket past the last');
  t.equal(fieldOf({ ...summaryFrame, buckets: { '01': s } }), 'buckets.01', 'not a canonical number');
  t.equal(fieldOf({ ...summaryFrame, memberBuckets: { x: s } }), 'memberBuckets.x');
  t.equal(fieldOf({ ...summaryFrame, buckets: { '3': { ...s, hash: -1 } } }), 'buckets.3.hash');
  t.equal(fieldOf({ ...digest, differing: [64] }), 'differing[0]');
  t.equal(fieldOf({ ...digest, memberDiffering: Array.from({ length: 65 }, () => 0) }), 'memberDiffering');
  t.equal(fieldOf({ v: 1, t: 'sync-push', records: [], want: [], members: [{ peerId: 'x' }] }), 'members[0].peerId');
});
