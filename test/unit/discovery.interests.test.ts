/**
 * The interest rules (interests.ts) and what they do to records: a host with no endpoint of a network
 * takes none of its records (intake, either path), holds a network while it has endpoints in it or an
 * attach is under way, keeps it for the hold period after the last detach (not announced then), and
 * forgets others' records of it when the hold runs out (its own stay). The statement's key 12, the
 * scoped partitions, the topic names, and where a first attach fetches from.
 */
import t from 'tap';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { silentLogger } from '../../core/logger.js';
import { emptyStats, type DiscoveryContext } from '../../discovery/context.js';
import {
  INTEREST_HOLD_MS,
  Interests,
  MAX_INTEREST_TAGS,
  networkTag,
  networkTopic,
  recordNetwork,
  topicNetwork,
} from '../../discovery/interests.js';
import { signStatement, verifyStatement } from '../../discovery/member-statement.js';
import { RecordIntake } from '../../discovery/record-intake.js';
import { NEW_INTEREST_WINDOW_MS, Scope } from '../../discovery/scope.js';
import { ReplicatedTable, partitionOf, scopedPartitionOf, splitScopedPartition } from '../../discovery/table.js';
import type { MemberInfo, WireRecord } from '../../discovery/wire.js';

function clock(start = 1000) {
  const c = { t: start, now: () => c.t };
  return c;
}

const endpoint = (owner: string, network: string, id: string, lamport = 1): WireRecord => ({
  kind: 'endpoint',
  key: `${network}/${id}`,
  owner,
  lamport,
  value: { network, id, mac: '02:00:c6:12:00:05', ip: '198.18.0.5', vtep: '198.51.100.2', host: 'h2' },
});
const claim = (owner: string, network: string, block: string, lamport = 1): WireRecord => ({
  kind: 'ipam-block',
  key: `${network}/${block}`,
  owner,
  lamport,
  value: { network, block },
});
const definition = (name: string, lamport = 1): WireRecord => ({
  kind: 'network',
  key: name,
  owner: 'peerB',
  lamport,
  value: { name, vni: 100, subnet: '198.18.0.0/24' },
});

t.test('a network is of interest while an endpoint is here, held after the last detach, then dropped', async (t) => {
  const own = new Set<string>();
  const c = clock();
  const i = new Interests(() => own, c.now, 10_000);
  t.same(i.refresh(), { added: [], removed: [], announce: false }, 'nothing at first');
  t.notOk(i.has('blue'), 'no endpoint of blue: not of interest');

  own.add('blue');
  t.same(i.refresh(), { added: ['blue'], removed: [], announce: true }, 'the first endpoint: blue added, announced');
  t.same(i.announced(), ['blue']);
  t.same(i.tags(), [networkTag('blue')], 'its tag in the statement');

  own.delete('blue');
  t.same(
    i.refresh(),
    { added: [], removed: [], announce: true },
    'the last detach: still of interest, no longer announced',
  );
  t.ok(i.has('blue'), 'held after the last detach');
  t.same(i.announced(), [], 'a held network is not announced (its users are gone)');
  c.t += 9_999;
  t.same(i.refresh().removed, [], 'still held just before the hold ends');
  own.add('blue');
  i.refresh();
  own.delete('blue');
  i.refresh();
  c.t += 5_000;
  t.same(i.refresh().removed, [], 'a re-attach within the hold starts the hold again at the next detach');
  c.t += 5_001;
  t.same(i.refresh(), { added: [], removed: ['blue'], announce: false }, 'dropped when the hold ends');
  t.notOk(i.has('blue'));
});

t.test('an attach under way holds a network (announced) for the hold period, also when it fails', async (t) => {
  const c = clock();
  const i = new Interests(() => [], c.now, 10_000);
  i.hold('red');
  t.same(i.refresh(), { added: ['red'], removed: [], announce: true }, 'held and announced before the attach');
  c.t += 10_001;
  t.same(i.refresh(), { added: [], removed: ['red'], announce: true }, 'a failed attach leaves no interest behind');
  t.equal(INTEREST_HOLD_MS >= 60_000, true, "the default hold outlasts gossipsub's 60 s prune backoff");
});

t.test('which records a host takes: shared ones, its own, and those of its networks', async (t) => {
  const i = new Interests(() => ['blue']);
  i.refresh();
  t.ok(i.wants(definition('red'), 'me'), 'network definitions are cluster-wide');
  t.ok(i.wants(endpoint('other', 'blue', 'c1'), 'me'), 'an endpoint of a network of interest');
  t.notOk(i.wants(endpoint('other', 'red', 'c1'), 'me'), 'not an endpoint of another network');
  t.notOk(i.wants(claim('other', 'red', '198.18.1.0/28'), 'me'), 'nor its IPAM claims');
  t.ok(i.wants(claim('me', 'red', '198.18.1.0/28'), 'me'), 'our own records always');
  t.equal(
    recordNetwork({ kind: 'ipam-block', key: 'red/198.18.1.0/28' }),
    'red',
    'the network is the key\u2019s first part',
  );
  t.equal(recordNetwork({ kind: 'network', key: 'red' }), undefined, 'definitions belong to no network');
});

t.test(
  'intake: a host with no endpoint of a network stores none of its records, and takes them once it has',
  async (t) => {
    const own = new Set<string>();
    const interests = new Interests(() => own);
    interests.refresh();
    const table = new ReplicatedTable('me');
    const stats = emptyStats();
    const ctx = { peerId: 'me', table, stats, log: silentLogger, interests } as unknown as DiscoveryContext;
    let changes = 0;
    const intake = new RecordIntake(ctx, {
      networks: () => [],
      endpoints: () => [],
      recentlyDead: () => false,
      interested: () => [],
      writeOwn: () => undefined,
      changed: () => changes++,
      merged: () => undefined,
    });
    intake.apply([definition('blue'), endpoint('other', 'blue', 'c1'), claim('other', 'blue', '198.18.0.0/28')]);
    t.same(
      [...table.all()].map((r) => r.kind),
      ['network'],
      'the definition is stored, the endpoint and the claim are not',
    );
    t.equal(stats.dropped['out-of-scope'], 2, 'both counted as out of scope');
    own.add('blue');
    interests.refresh();
    intake.apply([endpoint('other', 'blue', 'c1'), claim('other', 'blue', '198.18.0.0/28')]);
    t.equal(table.size, 3, 'with an endpoint of blue here, its records are taken');
    t.equal(changes, 2, 'each batch that stored something is one change');
  },
);

t.test('dropNetwork forgets the others\u2019 records of a network and keeps ours', async (t) => {
  const table = new ReplicatedTable('me');
  table.merge(endpoint('other', 'blue', 'c1'));
  table.merge(claim('other', 'blue', '198.18.0.0/28'));
  table.merge(endpoint('other', 'red', 'c2'));
  table.merge(definition('blue'));
  table.write('ipam-block', 'blue/198.18.0.16/28', { network: 'blue', block: '198.18.0.16/28' });
  t.equal(table.dropNetwork('blue'), 2, "the other owner's endpoint and claim of blue");
  t.same(
    [...table.all()].map((r) => `${r.kind}:${r.owner}:${r.key}`).sort(),
    ['endpoint:other:red/c2', 'ipam-block:me:blue/198.18.0.16/28', 'network:peerB:blue'],
    'red, the definition and our own claim stay',
  );
});

t.test('scoped partitions are per owner and network; the legacy ones per owner', async (t) => {
  const r = endpoint('peerX', 'blue', 'c1');
  t.equal(scopedPartitionOf(r), 'peerX/blue');
  t.equal(partitionOf(r), 'peerX');
  t.equal(scopedPartitionOf(definition('blue')), '*');
  t.same(splitScopedPartition('peerX/blue'), { owner: 'peerX', network: 'blue' });
  t.equal(splitScopedPartition('*'), undefined);
  const table = new ReplicatedTable('me');
  table.merge(endpoint('peerX', 'blue', 'c1'));
  table.merge(endpoint('peerX', 'red', 'c2'));
  table.merge(definition('blue'));
  const onlyBlue = table.summaries(scopedPartitionOf, (x) => recordNetwork(x) !== 'red');
  t.same(Object.keys(onlyBlue).sort(), ['*', 'peerX/blue'], 'a summary of the networks in scope only');
  t.same(Object.keys(table.summaries()).sort(), ['*', 'peerX'], 'the per-owner summary of everything held');
});

t.test('topics per network', async (t) => {
  t.equal(networkTopic('blue'), 'vxmesh/net/blue/2');
  t.equal(topicNetwork(networkTopic('a.b-c_d')), 'a.b-c_d');
  t.equal(topicNetwork('vxmesh/table/2'), undefined);
});

t.test('the statement carries the interests (key 12); a malformed list is refused naming the field', async (t) => {
  const key = await generateKeyPair('Ed25519');
  const peerId = peerIdFromPrivateKey(key).toString();
  const info: MemberInfo = {
    peerId,
    name: 'h1',
    vtep: '198.51.100.1',
    addrs: ['198.51.100.1:7946'],
    incarnation: 5,
    proto: 5,
    nets: [networkTag('blue'), networkTag('red')].sort((a, b) => a - b),
  };
  const st = verifyStatement(signStatement(key, info), peerId);
  t.same(st.nets, info.nets, 'the tags come back as signed');
  const tooMany = { ...info, nets: Array.from({ length: MAX_INTEREST_TAGS + 1 }, (_, k) => k) };
  t.throws(
    () => verifyStatement(signStatement(key, tooMany), peerId),
    { name: 'WireError', field: 'member.signed.nets' },
    'more tags than a statement may carry: refused, naming member.signed.nets',
  );
  const notInts = { ...info, nets: [-1] };
  t.throws(
    () => verifyStatement(signStatement(key, notInts), peerId),
    { name: 'WireError', field: 'member.signed.nets' },
    'a tag outside 32 bits: refused',
  );
  const none = { ...info };
  delete none.nets;
  t.equal(verifyStatement(signStatement(key, none), peerId).nets, undefined, 'absent: a release before scoping');
});

t.test(
  'a first attach fetches from members that hold the network, else from members of the release before scoping',
  async (t) => {
    const members: Array<{ peerId: string; name: string; state: string; proto?: number; nets?: number[] }> = [];
    const synced: string[] = [];
    const setup = () => {
      const interests = new Interests(() => []);
      const self = { peerId: 'me', incarnation: 5 } as { peerId: string; incarnation: number; nets?: number[] };
      const ctx = {
        peerId: 'me',
        interests,
        table: new ReplicatedTable('me'),
        log: silentLogger,
        node: () => ({}),
        stopped: () => false,
        membership: { self, others: (states: string[]) => members.filter((m) => states.includes(m.state)) },
      } as unknown as DiscoveryContext;
      const published: unknown[] = [];
      const scope = new Scope(ctx, {
        gossip: {
          subscribeNetwork: () => undefined,
          unsubscribeNetwork: () => undefined,
          publishMember: (m) => published.push(m),
        },
        antiEntropy: { syncWith: async (m) => (synced.push(m.peerId), { more: false, pushed: 0, pushedPast: false }) },
        persistence: { schedule: () => undefined },
        selfInfo: () => ({ peerId: 'me', name: 'h0', vtep: '198.51.100.9', addrs: [], incarnation: self.incarnation }),
        changed: () => undefined,
      });
      return { scope, self, published };
    };
    members.push(
      { peerId: 'a', name: 'h1', state: 'alive', proto: 5, nets: [networkTag('blue')] },
      { peerId: 'b', name: 'h2', state: 'alive', proto: 5, nets: [networkTag('red')] },
      { peerId: 'old', name: 'h3', state: 'alive', proto: 4 },
    );
    const first = setup();
    await first.scope.join('blue');
    t.same(synced, ['a'], 'the member whose statement names blue');
    t.same(first.self.nets, [networkTag('blue')], 'our statement names blue now');
    t.equal(first.self.incarnation, 6, 'at a new incarnation');
    t.equal(first.published.length, 1, 'announced once');
    synced.length = 0;
    await first.scope.join('blue');
    t.same(synced, [], 'a network already held: nothing fetched again');
    const second = setup();
    await second.scope.join('green');
    t.same(synced, ['old'], 'nobody names green: the member of the earlier release (it holds everything)');
    t.same(second.scope.describe('green'), { held: true, members: [], unscoped: ['h3'] });
  },
);

t.test('a member that names a network taken here in the last 30 s is synced with once, at once', async (t) => {
  const c = clock();
  const synced: string[] = [];
  const self = { peerId: 'me', incarnation: 5 } as { peerId: string; incarnation: number; nets?: number[] };
  const ctx = {
    peerId: 'me',
    interests: new Interests(() => [], c.now),
    table: new ReplicatedTable('me'),
    log: silentLogger,
    node: () => ({}),
    stopped: () => false,
    membership: { self, others: () => [] },
  } as unknown as DiscoveryContext;
  const scope = new Scope(
    ctx,
    {
      gossip: {
        subscribeNetwork: () => undefined,
        unsubscribeNetwork: () => undefined,
        publishMember: () => undefined,
      },
      antiEntropy: { syncWith: async (m) => (synced.push(m.peerId), { more: false, pushed: 0, pushedPast: false }) },
      persistence: { schedule: () => undefined },
      selfInfo: () => ({ peerId: 'me', name: 'h0', vtep: '198.51.100.9', addrs: [], incarnation: self.incarnation }),
      changed: () => undefined,
    },
    c.now,
  );
  const member = (peerId: string, nets: string[], state = 'alive') => ({
    peerId,
    addrs: [],
    state: state as 'alive',
    nets: nets.map(networkTag),
  });
  scope.memberHolds(member('a', ['blue']));
  t.same(synced, [], 'nothing taken here: no sync');
  await scope.join('blue');
  t.same(synced, [], 'taken with nobody naming it: nothing to fetch from');
  scope.memberHolds(member('b', ['red']));
  t.same(synced, [], 'a member of another network: no sync');
  scope.memberHolds(member('a', ['blue'], 'suspect'));
  t.same(synced, [], 'a suspect member: not yet');
  scope.memberHolds(member('a', ['red', 'blue']));
  t.same(synced, ['a'], 'a member that now names blue: synced with at once');
  scope.memberHolds(member('a', ['blue']));
  t.same(synced, ['a'], 'once per member and network');
  for (let k = 0; k < 10; k++) scope.memberHolds(member(`n${k}`, ['blue']));
  t.equal(synced.length, 8, 'at most 8 per network taken (then the periodic sync)');
  t.equal(scope.fetches.late, 8);
  await scope.join('green');
  c.t += NEW_INTEREST_WINDOW_MS + 1;
  scope.memberHolds(member('z', ['green']));
  t.equal(synced.length, 8, 'after the window: no sync');
});
