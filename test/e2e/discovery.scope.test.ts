/**
 * Interest-scoped distribution, one member process per simulated host: a network that spans a subset
 * of the hosts is held by those hosts only (its topic, its records, its claims); a host's first attach
 * fetches the network's records before it returns; its last detach drops them after the hold. Then a
 * member of the release before scoping (generation 4: holds every record, listens on vxmesh/table/2
 * only) joins: records of every network reach it, and its own reach the hosts of its network. Last,
 * a member of generation 6 (a summary entry per partition and member) beside this build's two-level
 * summaries: it fetches a network on its first attach, and this build's members sync with it.
 */
import t from 'tap';
import { DiscoveryCluster, endpointOf } from '../fixtures/discovery-cluster.js';
import { eventually, type MemberProc, type Snapshot } from '../fixtures/members.js';
import { GENERATION_4_RELEASE, GENERATION_6_RELEASE, buildPreviousMember } from '../fixtures/previous-release.js';

const HOLD_MS = 3000;
const c = await DiscoveryCluster.create(6, { interestHoldMs: HOLD_MS, pushPullIntervalMs: 5000 }, 'sc');
t.teardown(() => c.teardown());
const generation4 = buildPreviousMember(GENERATION_4_RELEASE);
t.teardown(() => generation4.remove());
const generation6 = buildPreviousMember(GENERATION_6_RELEASE);
t.teardown(() => generation6.remove());

const snaps = (procs: MemberProc[]) => Promise.all(procs.map((p) => p.snapshot()));
const of = (s: Snapshot, net: string) => s.endpoints.filter((e) => e.startsWith(`${net}/`));
const ep = (i: number, k: number, network: string) => ({ ...endpointOf(c.tb, i, k), network });

const [h1, h2, h3, h4] = [c.start(1, { seeds: [] }), c.start(2), c.start(3), c.start(4)];
await Promise.all([h1, h2, h3, h4].map((p) => p.ready));

t.test('a network on two of four hosts: only those two hold its records and take its topic', async (t) => {
  t.ok(
    await eventually(
      async () =>
        (await snaps([h1, h2, h3, h4])).every((s) => s.members.filter((m) => m.state === 'alive').length === 4),
      30_000,
    ),
    'four members alive',
  );
  await h1.call('putNetwork', { name: 'sub', vni: 200, subnet: '198.18.0.0/16' });
  await h3.call('putNetwork', { name: 'other', vni: 201, subnet: '198.19.0.0/16' });
  for (const k of [1, 2]) {
    await h1.call('putEndpoint', ep(1, k, 'sub'));
    await h2.call('putEndpoint', ep(2, k, 'sub'));
    await h3.call('putEndpoint', ep(3, k, 'other'));
    await h4.call('putEndpoint', ep(4, k, 'other'));
  }
  t.ok(
    await eventually(async () => {
      const [s1, s2, s3, s4] = await snaps([h1, h2, h3, h4]);
      return (
        [s1, s2].every((s) => of(s, 'sub').length === 4) &&
        [s3, s4].every((s) => of(s, 'other').length === 4) &&
        [s1, s2, s3, s4].every((s) => s.networks.includes('sub') && s.networks.includes('other'))
      );
    }, 20_000),
    'each network\u2019s hosts hold its 4 endpoints; every host holds both definitions',
  );
  // A burst of writes in sub while h3 and h4 hold none of it.
  for (let k = 3; k <= 12; k++) await h1.call('putEndpoint', ep(1, k, 'sub'));
  t.ok(await eventually(async () => of(await h2.snapshot(), 'sub').length === 14, 10_000), 'h2 got the burst');
  await new Promise((r) => setTimeout(r, 1000));
  const [s1, s2, s3, s4] = await snaps([h1, h2, h3, h4]);
  t.same([of(s3, 'sub'), of(s4, 'sub')], [[], []], 'h3 and h4 hold no record of sub');
  t.same([of(s1, 'other'), of(s2, 'other')], [[], []], 'h1 and h2 hold no record of other');
  t.ok(
    [s1, s2].every((s) => s.topics?.includes('vxmesh/net/sub/2')) &&
      [s3, s4].every((s) => !s.topics?.includes('vxmesh/net/sub/2')),
    'sub\u2019s topic is taken by its two hosts only',
  );
  t.equal(
    (s3.stats.dropped['out-of-scope'] ?? 0) + (s4.stats.dropped['out-of-scope'] ?? 0),
    0,
    'no record of sub even reached h3 or h4 (none dropped there as out of scope)',
  );
});

t.test(
  'the first attach fetches the network\u2019s records before it returns; the last detach drops them after the hold',
  async (t) => {
    const r = await h3.call<{ interests: string[]; fetches: { count: number; lastMs: number; timedOut: number } }>(
      'interest',
      { network: 'sub' },
    );
    t.same(r.interests, ['other', 'sub'], 'sub is of interest on h3 now');
    t.equal(of(await h3.snapshot(), 'sub').length, 14, 'all 14 endpoints of sub are on h3 as the interest returns');
    t.equal(r.fetches.timedOut, 0, `fetched from its members, not timed out (${r.fetches.lastMs} ms)`);
    t.comment(`first-attach fetch: ${r.fetches.lastMs} ms`);
    await h3.call('putEndpoint', ep(3, 9, 'sub'));
    t.ok(
      await eventually(async () => (await snaps([h1, h2])).every((s) => s.endpoints.includes('sub/e3-9')), 10_000),
      'its endpoint reaches the hosts of sub',
    );
    await h1.call('putEndpoint', ep(1, 13, 'sub'));
    t.ok(
      await eventually(async () => (await h3.snapshot()).endpoints.includes('sub/e1-13'), 10_000),
      'and their later writes reach it on the network\u2019s topic',
    );
    await h3.call('deleteEndpoint', { network: 'sub', id: 'e3-9' });
    const detached = performance.now();
    t.ok(of(await h3.snapshot(), 'sub').length > 0, 'right after the last detach, the records are still held');
    t.ok(
      await eventually(async () => {
        const s = await h3.snapshot();
        return of(s, 'sub').length === 0 && !s.topics?.includes('vxmesh/net/sub/2');
      }, 30_000),
      'after the hold, h3 holds nothing of sub and has left its topic',
    );
    t.ok(performance.now() - detached >= HOLD_MS, `not before the hold (${HOLD_MS} ms)`);
    t.same((await h3.snapshot()).interests, ['other']);
  },
);

t.test(
  'a member of the release before scoping holds every record; its records reach the hosts of its network',
  async (t) => {
    const old = c.start(5, { main: generation4.main, nodeArgs: generation4.nodeArgs });
    await old.ready;
    t.ok(
      await eventually(async () => {
        const s = await old.snapshot();
        return of(s, 'sub').length === 15 && of(s, 'other').length === 4;
      }, 30_000),
      'the generation-4 member gets the records of both networks',
    );
    await old.call('putEndpoint', ep(5, 1, 'sub'));
    t.ok(
      await eventually(async () => (await snaps([h1, h2])).every((s) => s.endpoints.includes('sub/e5-1')), 15_000),
      'its endpoint in sub reaches sub\u2019s hosts (it publishes on vxmesh/table/2 only)',
    );
    await h4.call('putEndpoint', ep(4, 3, 'other'));
    t.ok(
      await eventually(async () => (await old.snapshot()).endpoints.includes('other/e4-3'), 15_000),
      'a new write of this build reaches it (owner-bound records also on vxmesh/table/2 while it is live)',
    );
    const s3 = await h3.snapshot();
    t.notOk(s3.endpoints.includes('sub/e5-1'), 'h3 still holds nothing of sub');
  },
);

t.test(
  'a member of generation 6 (summaries per partition) and this build (per bucket): both forms in one cluster',
  async (t) => {
    const old = c.start(6, { main: generation6.main, nodeArgs: generation6.nodeArgs });
    await old.ready;
    const r = await old.call<{ interests: string[] }>('interest', { network: 'sub' });
    t.same(r.interests, ['sub'], 'sub is of interest on the generation-6 member');
    t.same(of(await old.snapshot(), 'sub'), of(await h1.snapshot(), 'sub'), 'its first attach fetched all of sub');
    await old.call('putEndpoint', ep(6, 1, 'sub'));
    t.ok(
      await eventually(async () => (await snaps([h1, h2])).every((s) => s.endpoints.includes('sub/e6-1')), 15_000),
      'its endpoint reaches sub\u2019s hosts',
    );
    const bytes = async () => (await snaps([h1, h2, h3, h4])).map((s) => s.stats.syncSummaryBytes);
    t.ok(
      await eventually(async () => (await bytes()).some((b) => b.partitions > 0), 30_000, 500),
      'this build syncs per partition with it (either side)',
    );
    t.ok(
      (await bytes()).every((b) => b.buckets > 0),
      'and per bucket among its own members',
    );
  },
);
