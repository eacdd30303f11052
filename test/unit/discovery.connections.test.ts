/**
 * A member that joins or returns gets about WELCOME_SYNCS syncs from the cluster, not one from every member;
 * a restart rejoins through the members it remembered.
 */
import t from 'tap';
import { Connections, WELCOME_SYNCS } from '../../discovery/connections.js';
import type { AntiEntropy, SyncOutcome } from '../../discovery/anti-entropy.js';
import { networkTag } from '../../discovery/interests.js';
import type { DiscoveryContext } from '../../discovery/context.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../core/logger.js';
import { loadPersisted, Persistence, rememberedSeeds, type PersistedClocks } from '../../discovery/persistence.js';
import { ReplicatedTable } from '../../discovery/table.js';

const NOTHING: SyncOutcome = { more: false, pushed: 0, pushedPast: false };

function connections(liveOthers: number): { c: Connections; synced: string[] } {
  const synced: string[] = [];
  const ctx = {
    membership: { others: () => Array.from({ length: liveOthers }, (_, i) => ({ peerId: `p${i}` })) },
  } as unknown as DiscoveryContext;
  const antiEntropy = {
    syncWith: async (m: { peerId: string }) => (synced.push(m.peerId), NOTHING),
  } as unknown as AntiEntropy;
  return { c: new Connections(ctx, [], [], antiEntropy), synced };
}
const joiner = { peerId: 'new', addrs: ['198.51.100.9:7946'] };

t.test('small clusters: every member syncs with the newcomer', async (t) => {
  for (let n = 0; n <= WELCOME_SYNCS; n++) {
    const { c, synced } = connections(n);
    t.equal(await c.welcome(joiner, () => 0.999), true, `${n} other members`);
    t.same(synced, ['new']);
  }
});

t.test('large clusters: with probability WELCOME_SYNCS / members', async (t) => {
  const { c, synced } = connections(40);
  t.equal(await c.welcome(joiner, () => 0.07), true, '0.07 < 3/40');
  t.equal(await c.welcome(joiner, () => 0.08), false, '0.08 ≥ 3/40');
  t.same(synced, ['new']);
});

t.test('over a whole cluster, about WELCOME_SYNCS members sync per join', async (t) => {
  const n = 50;
  let total = 0;
  const rounds = 400;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < n; k++) {
      const { c } = connections(n - 1);
      if (await c.welcome(joiner)) total++;
    }
  }
  const mean = total / rounds;
  t.ok(
    mean > WELCOME_SYNCS * 0.8 && mean < WELCOME_SYNCS * 1.2,
    `mean syncs per join ${mean.toFixed(2)} (expected ≈ ${(WELCOME_SYNCS * n) / (n - 1)})`,
  );
});

t.test('periodic sync: three rounds in four with a connected member, the fourth with anyone', async (t) => {
  const synced: string[] = [];
  const live = Array.from({ length: 10 }, (_, i) => ({ peerId: `p${i}` }));
  const node = { getConnections: () => [{ remotePeer: { toString: () => 'p7' } }] };
  const ctx = { membership: { others: () => live }, node: () => node } as unknown as DiscoveryContext;
  const antiEntropy = {
    syncWith: async (m: { peerId: string }) => (synced.push(m.peerId), NOTHING),
  } as unknown as AntiEntropy;
  const c = new Connections(ctx, [], [], antiEntropy);
  for (let r = 0; r < 8; r++) await c.syncRandom(() => 0);
  t.same(
    synced,
    ['p7', 'p7', 'p7', 'p0', 'p7', 'p7', 'p7', 'p0'],
    'connected p7 three times, then the whole cluster (random 0 → p0)',
  );
});

t.test('periodic sync: never with a member that wrote over its record budget lately', async (t) => {
  const synced: string[] = [];
  const live = Array.from({ length: 4 }, (_, i) => ({ peerId: `p${i}` }));
  const node = { getConnections: () => live.map((m) => ({ remotePeer: { toString: () => m.peerId } })) };
  const ctx = { membership: { others: () => live }, node: () => node } as unknown as DiscoveryContext;
  const antiEntropy = {
    syncWith: async (m: { peerId: string }) => (synced.push(m.peerId), NOTHING),
  } as unknown as AntiEntropy;
  const flooding = new Set(['p0', 'p2']);
  const c = new Connections(ctx, [], [], antiEntropy, (p) => flooding.has(p));
  for (const x of [0, 0.3, 0.6, 0.9, 0, 0.5, 0.99, 0.2]) await c.syncRandom(() => x);
  t.same([...new Set(synced)].sort(), ['p1', 'p3'], 'only the members within their budget');
  flooding.clear();
  synced.length = 0;
  await c.syncRandom(() => 0);
  t.same(synced, ['p0'], 'once it is within its budget again, it is a partner again');
});

t.test(
  'a partner that held more than one sync takes: synced again once the budget refilled, while it has more',
  async (t) => {
    const synced: string[] = [];
    const live = [{ peerId: 'p1', state: 'alive' }];
    let more = 3; // the partner still has more after each of the first three syncs
    let stopped = false;
    const stats = { syncFollowUps: 0 };
    const ctx = {
      membership: { others: () => live, get: (p: string) => live.find((m) => m.peerId === p) },
      node: () => ({ getConnections: () => [] }),
      stopped: () => stopped,
      stats,
      // Refill time = burst ÷ rate: 5 ms here.
      timers: { floodBurst: 1, floodRecordsPerSecond: 200 },
    } as unknown as DiscoveryContext;
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    const antiEntropy = {
      syncWith: async (m: { peerId: string }) => {
        synced.push(m.peerId);
        if (more-- > 0) return { ...NOTHING, more: true };
        done();
        return NOTHING;
      },
    } as unknown as AntiEntropy;
    const c = new Connections(ctx, [], [], antiEntropy);
    const alive = setInterval(() => undefined, 1000); // the follow-up timers do not hold the process
    t.teardown(() => clearInterval(alive));
    await c.syncRandom(() => 0);
    await finished;
    t.same(synced, ['p1', 'p1', 'p1', 'p1'], 'the first sync and three follow-ups, the last finding nothing more');
    t.equal(stats.syncFollowUps, 3);
    // Gone from the live members (or stopped) by the time the follow-up is due: none.
    more = 1;
    await c.syncRandom(() => 0);
    live[0] = { peerId: 'p1', state: 'dead' };
    await new Promise((r) => setTimeout(r, 50));
    t.equal(synced.length, 5, 'a dead partner is not synced again');
    stopped = true;
  },
);

t.test(
  'an import past a burst goes on with another member of our networks while each next one still lacked some',
  async (t) => {
    const synced: string[] = [];
    const blue = [networkTag('blue')];
    const live = [
      { peerId: 'p1', state: 'alive', nets: blue },
      { peerId: 'p2', state: 'alive', nets: blue },
      { peerId: 'other', state: 'alive', nets: [networkTag('green')] },
    ];
    const ctx = {
      membership: { others: () => live, get: (p: string) => live.find((m) => m.peerId === p) },
      interests: { names: () => ['blue'] },
      node: () => ({ getConnections: () => [] }),
      stopped: () => false,
      stats: { syncFollowUps: 0 },
      timers: { floodBurst: 1, floodRecordsPerSecond: 200 },
    } as unknown as DiscoveryContext;
    // p1: past a burst, then the rest; p2: lacked a few; then whoever comes next has everything.
    const outcomes: SyncOutcome[] = [
      { more: true, pushed: 2000, pushedPast: true },
      { more: false, pushed: 300, pushedPast: false },
      { more: false, pushed: 12, pushedPast: false },
      NOTHING,
    ];
    let done: () => void = () => undefined;
    const finished = new Promise<void>((r) => (done = r));
    const antiEntropy = {
      syncWith: async (m: { peerId: string }) => {
        synced.push(m.peerId);
        const o = outcomes.shift() ?? NOTHING;
        if (outcomes.length === 0) done();
        return o;
      },
    } as unknown as AntiEntropy;
    const c = new Connections(ctx, [], [], antiEntropy);
    const alive = setInterval(() => undefined, 1000);
    t.teardown(() => clearInterval(alive));
    await c.syncAndFollow(live[0] as never);
    await Promise.race([finished, new Promise((r) => setTimeout(r, 2000))]);
    await new Promise((r) => setTimeout(r, 30));
    t.same(synced.slice(0, 3), ['p1', 'p1', 'p2'], 'p1 until it has all, then p2 (of blue, not the member of green)');
    t.equal(synced.length, 4, 'then one more member of blue, which lacked nothing: the chain ends');
    t.not(synced[3], 'other', 'never the member of another network');

    // Without a push past a burst, a sync that pushed a few records is not followed by another member.
    synced.length = 0;
    outcomes.push({ more: false, pushed: 5, pushedPast: false });
    await c.syncAndFollow(live[0] as never);
    await new Promise((r) => setTimeout(r, 30));
    t.same(synced, ['p1'], 'an ordinary sync: no chain');
  },
);

t.test('a restart rejoins through the members remembered (also without seeds), each dialed once', async (t) => {
  const dialed: string[] = [];
  const synced: string[] = [];
  const node = {
    dial: async (ma: { toString(): string }) => {
      dialed.push(ma.toString());
      if (ma.toString().includes('198.51.100.13')) throw new Error('unreachable');
      return { remotePeer: { toString: () => `peer-of-${ma.toString()}` } };
    },
  };
  const ctx = { node: () => node, log: silentLogger } as unknown as DiscoveryContext;
  const antiEntropy = {
    sync: async (p: { toString(): string }) => void synced.push(p.toString()),
  } as unknown as AntiEntropy;
  const seed = { host: '198.51.100.12', port: 7946 };
  const remembered = [seed, { host: '198.51.100.13', port: 7946 }, { host: '198.51.100.14', port: 7946 }];
  const c = new Connections(ctx, [seed], [], antiEntropy, () => false, remembered);
  t.ok(c.rejoining, 'rejoining until the first join has ended');
  t.equal(await c.join(), 2, 'the seed and one remembered member answered');
  t.same(dialed.sort(), ['/ip4/198.51.100.12/tcp/7946', '/ip4/198.51.100.13/tcp/7946', '/ip4/198.51.100.14/tcp/7946']);
  t.notOk(c.rejoining, 'done, answered or not');
  t.equal(synced.length, 2);
  const none = new Connections(ctx, [], [], antiEntropy);
  t.notOk(none.rejoining, 'nothing remembered: nothing to wait for');
});

t.test('the live members are remembered in discovery.json; bad entries are left out when read', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-persist-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const membership = {
    self: { incarnation: 7 },
    others: (states: string[]) =>
      states.includes('alive')
        ? [{ addrs: ['198.51.100.12:7946', '198.51.100.99:1'] }, { addrs: ['[2001:db8:100::13]:7946'] }]
        : [],
  };
  const p = new Persistence(dir, new ReplicatedTable('me', 3), membership as never, silentLogger);
  p.persist();
  const written = JSON.parse(fs.readFileSync(path.join(dir, 'discovery.json'), 'utf8')) as PersistedClocks;
  t.same(written.members, ['198.51.100.12:7946', '[2001:db8:100::13]:7946'], 'the first address of each live member');
  fs.writeFileSync(
    path.join(dir, 'discovery.json'),
    JSON.stringify({
      lamport: 1,
      incarnation: 1,
      members: ['198.51.100.12:7946', 'not an address', 5, '[2001:db8:100::13]:7946'],
    }),
  );
  t.same(
    rememberedSeeds(loadPersisted(dir).clocks),
    [
      { host: '198.51.100.12', port: 7946 },
      { host: '2001:db8:100::13', port: 7946 },
    ],
    'read back as addresses to dial',
  );
});
