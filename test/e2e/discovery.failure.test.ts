/**
 * Failure handling with real processes: kill -9, SIGSTOP/SIGCONT, a 1 s event-loop stall, and a
 * network partition (until both sides declare the other dead), each followed by convergence.
 */
import t from 'tap';
import { DiscoveryCluster, endpointOf } from '../fixtures/discovery-cluster.js';
import { eventually, type MemberProc } from '../fixtures/members.js';

const N = 4;
const c = await DiscoveryCluster.create(N, { pushPullIntervalMs: 5000, reconnectIntervalMs: 3000 });
t.teardown(() => c.teardown());

for (let i = 1; i <= N; i++) c.start(i);
await Promise.all(c.running().map((p) => p.ready));
for (let i = 1; i <= N; i++) for (const k of [1, 2]) await c.get(i).call('putEndpoint', endpointOf(c.tb, i, k));

const desiredOf = async (p: MemberProc) => (await p.snapshot()).desired.blue ?? [];
const hasEndpointsOf = (list: string[], i: number) => list.some((x) => x.startsWith(`e${i}-`));
const stateOf = async (p: MemberProc, name: string) => (await p.snapshot()).members.find((m) => m.name === name)?.state;
const othersThan = (i: number) => c.running().filter((p) => p !== c.get(i));

await t.test('setup: everyone sees everyone', async (t) => {
  t.ok(
    await eventually(
      async () => (await Promise.all(c.running().map(desiredOf))).every((d) => d.length === 2 * (N - 1)),
      15000,
    ),
  );
});

await t.test('kill -9: endpoints withdrawn everywhere; restart brings them back', async (t) => {
  const t0 = Date.now();
  await c.get(4).kill();
  const withdrawn = await eventually(
    async () => (await Promise.all(othersThan(4).map(desiredOf))).every((d) => !hasEndpointsOf(d, 4)),
    10000,
    50,
  );
  const ms = Date.now() - t0;
  t.ok(withdrawn, `h4's endpoints withdrawn on all others after ${ms} ms`);
  t.ok(ms < 5000, 'within 5 s of the kill');
  for (const p of othersThan(4)) t.equal(await stateOf(p, 'h4'), 'dead', `${p.name} sees h4 dead`);
  // Restart with the same state directory: same peer id, higher incarnation, records re-announced.
  const back = c.start(4);
  await back.ready;
  for (const k of [1, 2]) await back.call('putEndpoint', endpointOf(c.tb, 4, k));
  t.ok(
    await eventually(
      async () => (await Promise.all(othersThan(4).map(desiredOf))).every((d) => hasEndpointsOf(d, 4)),
      10000,
    ),
    'endpoints restored',
  );
  for (const p of othersThan(4)) t.equal(await stateOf(p, 'h4'), 'alive');
});

await t.test('SIGSTOP: suspect then dead; SIGCONT: refutes and comes back', async (t) => {
  const victim = c.get(3);
  victim.signal('SIGSTOP');
  const t0 = Date.now();
  const sawSuspect = await eventually(
    async () =>
      (await Promise.all(othersThan(3).map((p) => stateOf(p, 'h3')))).some((s) => s === 'suspect' || s === 'dead'),
    8000,
    50,
  );
  t.ok(sawSuspect, 'suspected');
  const dead = await eventually(
    async () => (await Promise.all(othersThan(3).map((p) => stateOf(p, 'h3')))).every((s) => s === 'dead'),
    15000,
    50,
  );
  t.ok(dead, `dead on all others after ${Date.now() - t0} ms`);
  t.ok(
    (await Promise.all(othersThan(3).map(desiredOf))).every((d) => !hasEndpointsOf(d, 3)),
    'its endpoints are withdrawn (suspended)',
  );
  victim.signal('SIGCONT');
  const back = await eventually(
    async () => (await Promise.all(othersThan(3).map((p) => stateOf(p, 'h3')))).every((s) => s === 'alive'),
    15000,
  );
  t.ok(back, 'alive again everywhere after SIGCONT');
  t.ok(
    await eventually(
      async () => (await Promise.all(othersThan(3).map(desiredOf))).every((d) => hasEndpointsOf(d, 3)),
      5000,
    ),
    'endpoints restored without rewriting them',
  );
  t.ok(
    (await victim.snapshot()).members.find((m) => m.name === 'h3')!.incarnation > 0,
    'it refuted with a higher incarnation',
  );
});

await t.test('a 1 s event-loop stall is not a death', async (t) => {
  const watched = othersThan(2);
  let falseDead = false;
  const watcher = (async () => {
    const until = Date.now() + 6000;
    while (Date.now() < until) {
      const states = await Promise.all(watched.map((p) => stateOf(p, 'h2')));
      if (states.some((s) => s === 'dead')) falseDead = true;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await c.get(2).call('stall', { ms: 1000 });
  await watcher;
  t.notOk(falseDead, 'no member declared h2 dead');
  t.ok(
    (await Promise.all(watched.map((p) => stateOf(p, 'h2')))).every((s) => s === 'alive'),
    'h2 alive everywhere',
  );
});

await t.test('partition until both sides declare the other dead, then heal: converged', async (t) => {
  await c.cut(1, true);
  const split = await eventually(
    async () => (await Promise.all(othersThan(1).map((p) => stateOf(p, 'h1')))).every((s) => s === 'dead'),
    15000,
    100,
  );
  t.ok(split, 'the majority declares h1 dead');
  // While cut off, h1 and h2 both write something.
  await c.get(1).call('putEndpoint', endpointOf(c.tb, 1, 3));
  await c.get(2).call('deleteEndpoint', { network: 'blue', id: 'e2-2' });
  // Both sides of the split declare the other dead before the heal (h1 alone against three).
  t.ok(
    await eventually(
      async () => (await c.get(1).snapshot()).members.filter((m) => m.name !== 'h1').every((m) => m.state === 'dead'),
      20000,
      100,
    ),
    'h1 declares the other three dead',
  );
  await c.cut(1, false);
  const healed = await eventually(
    async () => {
      const snaps = await Promise.all(c.running().map((p) => p.snapshot()));
      return (
        snaps.every((s) => s.members.every((m) => m.state === 'alive')) &&
        new Set(snaps.map((s) => JSON.stringify(s.endpoints))).size === 1 &&
        snaps[0]!.endpoints.includes('blue/e1-3') &&
        !snaps[0]!.endpoints.includes('blue/e2-2')
      );
    },
    30000,
    200,
  );
  t.ok(healed, "all alive, identical tables with both sides' writes");
});
