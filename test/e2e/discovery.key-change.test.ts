/**
 * The cluster key change of docs/operations.md ("Changing the cluster key") with discovery members as
 * processes: three rolling restarts of every member — accept the new key, send with it, drop the old
 * one — and after every single restart each member sees all three alive: the cluster never splits.
 * Then a member with only the old key is shut out. (With agents and containers pinging throughout:
 * `npm run test:key-change`, test/long/agent.key-change.long.ts.)
 */
import t from 'tap';
import { DiscoveryCluster } from '../fixtures/discovery-cluster.js';
import { eventually, type MemberProc } from '../fixtures/members.js';

const c = await DiscoveryCluster.create(4, { connectIntervalMs: 500 });
t.teardown(() => c.teardown());
const oldKey = c.newKeyFile('old.key');
const newKey = c.newKeyFile('new.key');

const seedsOf = (i: number) => [1, 2, 3].filter((j) => j !== i);
const procs = new Map<number, MemberProc>();
const aliveSeen = async (p: MemberProc) =>
  (await p.snapshot()).members
    .filter((m) => m.state === 'alive')
    .map((m) => m.name)
    .sort()
    .join();
const allSeeAll = async () => {
  for (const p of procs.values()) if ((await aliveSeen(p)) !== 'h1,h2,h3') return false;
  return true;
};

for (const i of [1, 2, 3]) procs.set(i, c.start(i, { seeds: seedsOf(i), clusterKeyFile: oldKey }));
await Promise.all([...procs.values()].map((p) => p.ready));
t.ok(await eventually(allSeeAll, 15_000, 200), 'three members on the old key');

await t.test('accept the new key, send with it, drop the old one: never split', async (t) => {
  const steps = [
    { name: 'accept the new key', key: oldKey, accept: [newKey] },
    { name: 'send with the new key', key: newKey, accept: [oldKey] },
    { name: 'drop the old key', key: newKey, accept: [] },
  ];
  for (const step of steps) {
    for (const i of [1, 2, 3]) {
      const before = procs.get(i)!;
      await before.call('stop').catch(() => undefined);
      await eventually(() => before.exited, 5000, 50);
      const p = c.start(i, { seeds: seedsOf(i), clusterKeyFile: step.key, clusterKeyAcceptFiles: step.accept });
      procs.set(i, p);
      await p.ready;
      t.ok(await eventually(allSeeAll, 15_000, 200), `${step.name}, h${i} restarted: all three see all three alive`);
    }
  }
});

await t.test('after the change a member with only the old key is shut out', async (t) => {
  const outsider = c.start(4, { seeds: [1], clusterKeyFile: oldKey });
  await outsider.ready;
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(await aliveSeen(outsider), 'h4', 'it sees only itself');
  t.equal(await aliveSeen(procs.get(1)!), 'h1,h2,h3', 'nobody sees it');
  await outsider.kill();
});

t.test('skipping a step splits: a member that only accepts the new key cannot hear one sending the old', async (t) => {
  const a = c.start(4, { seeds: [1], clusterKeyFile: oldKey, clusterKeyAcceptFiles: [newKey] });
  await a.ready;
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(await aliveSeen(a), 'h4', 'sending with the old key, it is not heard by members on the new key only');
  await a.kill();
});
