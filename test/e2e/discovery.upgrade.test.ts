/**
 * Rolling upgrade: members of the previous release (record format 1, JSON on vxmesh/table/1) and of
 * this build (format 2 on vxmesh/table/2, JSON too while a previous-release member is live) in one
 * cluster, one process per simulated host. Every member gets every record, by gossip and by relay
 * (anti-entropy from a third party, where the format-1 signature must still verify).
 */
import t from 'tap';
import { DiscoveryCluster, endpointOf } from '../fixtures/discovery-cluster.js';
import { eventually, type MemberProc } from '../fixtures/members.js';
import { GENERATION_2_RELEASE, buildPreviousMember } from '../fixtures/previous-release.js';

const previous = buildPreviousMember();
t.teardown(() => previous.remove());
const generation2 = buildPreviousMember(GENERATION_2_RELEASE);
t.teardown(() => generation2.remove());

const alive = async (procs: MemberProc[], n: number) =>
  eventually(
    async () =>
      (await Promise.all(procs.map((p) => p.snapshot()))).every(
        (s) => s.members.filter((m) => m.state === 'alive').length === n,
      ),
    30_000,
    200,
  );
const holds = async (procs: MemberProc[], ids: string[]) =>
  eventually(
    async () =>
      (await Promise.all(procs.map((p) => p.snapshot()))).every((s) =>
        ids.every((id) => s.endpoints.includes(`blue/${id}`)),
      ),
    30_000,
    200,
  );

t.test('members of the previous release and of this build share every record', async (t) => {
  const c = await DiscoveryCluster.create(4, {}, 'up');
  t.teardown(() => c.teardown());
  const old1 = c.start(1, { main: previous.main, nodeArgs: previous.nodeArgs });
  await old1.ready;
  const new2 = c.start(2, { seeds: [1] });
  const new3 = c.start(3, { seeds: [1] });
  await Promise.all([new2.ready, new3.ready]);
  t.ok(await alive([old1, new2, new3], 3), 'one cluster of 3 (1 previous, 2 new)');

  await old1.call('putNetwork', { name: 'blue', vni: 100, subnet: '198.18.0.0/16' });
  await eventually(
    async () => (await Promise.all([new2, new3].map((p) => p.snapshot()))).every((s) => s.networks.includes('blue')),
    20_000,
    200,
  );
  await old1.call('putEndpoint', endpointOf(c.tb, 1, 1));
  await new2.call('putEndpoint', endpointOf(c.tb, 2, 1));
  await new3.call('putEndpoint', endpointOf(c.tb, 3, 1));
  t.ok(
    await holds([old1, new2, new3], ['e1-1', 'e2-1', 'e3-1']),
    'records of both builds reach every member by gossip',
  );
  const s2 = await new2.snapshot();
  t.notOk(
    s2.stats.dropped['bad-signature'] ?? s2.stats.dropped.malformed,
    'no record of the previous release refused by this build',
  );

  // A previous-release member that joins through a new one only: everything reaches it by relay
  // (sync from h2, which relays h3's records with h3's format-1 signature).
  await old1.kill();
  const old4 = c.start(4, { seeds: [2], main: previous.main, nodeArgs: previous.nodeArgs });
  await old4.ready;
  t.ok(await holds([old4], ['e2-1', 'e3-1']), 'relayed records of this build verify on the previous release');
  const s4 = await old4.snapshot();
  t.notOk(s4.stats.dropped['bad-signature'], 'no bad signature on the previous release');

  // Writes after it joined: gossip from new members to a previous-release one (format 1 is still sent).
  await new3.call('putEndpoint', endpointOf(c.tb, 3, 2));
  t.ok(await holds([old4, new2], ['e3-2']), "a new member's later write reaches the previous-release member");
});

t.test('the release before signed member statements (generation 2) and this build: one cluster', async (t) => {
  const c = await DiscoveryCluster.create(4, {}, 'up2');
  t.teardown(() => c.teardown());
  const old1 = c.start(1, { main: generation2.main, nodeArgs: generation2.nodeArgs });
  await old1.ready;
  // Two new members join through the old one only: they learn each other from its unsigned entries.
  const new2 = c.start(2, { seeds: [1] });
  const new3 = c.start(3, { seeds: [1] });
  await Promise.all([new2.ready, new3.ready]);
  t.ok(
    await alive([old1, new2, new3], 3),
    'one cluster of 3 (1 of generation 2, 2 new): probes of both versions answered',
  );
  await old1.call('putNetwork', { name: 'blue', vni: 100, subnet: '198.18.0.0/16' });
  await old1.call('putEndpoint', endpointOf(c.tb, 1, 1));
  await new2.call('putEndpoint', endpointOf(c.tb, 2, 1));
  await new3.call('putEndpoint', endpointOf(c.tb, 3, 1));
  t.ok(await holds([old1, new2, new3], ['e1-1', 'e2-1', 'e3-1']), 'every record reaches every member');
  // An old member joining through a new one learns everyone (the new entries carry extra fields it ignores).
  const old4 = c.start(4, { seeds: [2], main: generation2.main, nodeArgs: generation2.nodeArgs });
  await old4.ready;
  t.ok(await alive([old1, new2, new3, old4], 4), 'a generation-2 member joining through a new one: 4 alive everywhere');
  t.ok(await holds([old4], ['e1-1', 'e2-1', 'e3-1']), 'it holds every record');
  const s2 = await new2.snapshot();
  t.notOk(s2.stats.dropped['probe-refused'], 'no probe of a generation-2 member refused by this build');
  t.notOk(s2.stats.dropped['bad-member-statement'], 'no member statement refused');
});
