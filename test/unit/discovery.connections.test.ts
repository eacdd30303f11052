/** A member that joins or returns gets about WELCOME_SYNCS syncs from the cluster, not one from every member. */
import t from 'tap';
import { Connections, WELCOME_SYNCS } from '../../discovery/connections.js';
import type { AntiEntropy } from '../../discovery/anti-entropy.js';
import type { DiscoveryContext } from '../../discovery/context.js';

function connections(liveOthers: number): { c: Connections; synced: string[] } {
  const synced: string[] = [];
  const ctx = {
    membership: { others: () => Array.from({ length: liveOthers }, (_, i) => ({ peerId: `p${i}` })) },
  } as unknown as DiscoveryContext;
  const antiEntropy = {
    syncWith: async (m: { peerId: string }) => void synced.push(m.peerId),
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
    syncWith: async (m: { peerId: string }) => void synced.push(m.peerId),
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
    syncWith: async (m: { peerId: string }) => void synced.push(m.peerId),
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
