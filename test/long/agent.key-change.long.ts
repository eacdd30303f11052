/**
 * Moving a running cluster to a new key without an outage (docs/operations.md, "Changing the cluster
 * key"): three rolling restarts of every agent — accept the new key, send with it, drop the old one —
 * while containers ping across hosts. The cluster never splits: after every restart each agent sees
 * every other one alive, and no ping is lost, on a plain and on an encrypted network (WireGuard
 * pre-shared keys follow the keys each pair holds). Afterwards a host with only the old key is shut out.
 * About 2–5 minutes: `npm run test:key-change` (npm test runs the same steps with discovery members,
 * test/e2e/discovery.key-change.test.ts).
 */
import t from 'tap';
import { Cluster, makeClusterKey } from '../../sim/cluster.js';
import { eventually } from '../fixtures/members.js';
import path from 'node:path';

const HOSTS = 3;
const ARGS = ['--reconcile-interval-ms', '1000'];
const c = await Cluster.create(HOSTS + 1, 'kch');
t.teardown(() => c.teardown());
const oldKey = c.keyFile;
const newKey = path.join(c.dir, 'new.key');
await makeClusterKey(newKey);

const others = (i: number) => Array.from({ length: HOSTS }, (_, k) => k + 1).filter((j) => j !== i);
const alivePeers = async (i: number) =>
  (await c.vxJson<Array<{ name: string; state: string }>>(i, ['peers']))
    .filter((p) => p.state === 'alive')
    .map((p) => p.name)
    .sort();
const everyoneSeesEveryone = async () => {
  for (let i = 1; i <= HOSTS; i++) if ((await alivePeers(i)).join() !== ['h1', 'h2', 'h3'].join()) return false;
  return true;
};

for (let i = 1; i <= HOSTS; i++) await c.startAgent(i, { args: ARGS });
await c.vx(1, ['network', 'create', 'kc', '--subnet', '198.18.75.0/24', '--vni', '2301']);
const cts: Array<{ netns: string; ip: string }> = [];
for (let i = 1; i <= HOSTS; i++) {
  await eventually(async () => (await c.vx(i, ['network', 'inspect', 'kc'], { nothrow: true })).exitCode === 0, 15_000);
  const netns = await c.tb.addContainer(i, 1);
  cts.push({ netns, ip: (await c.vxJson<{ ip: string }>(i, ['attach', 'kc', '--netns', netns])).ip });
}
// An encrypted network too: its WireGuard pre-shared keys derive from the cluster keys each pair holds.
await c.vx(1, ['network', 'create', 'kce', '--subnet', '198.18.76.0/24', '--encrypted']);
const enc: Array<{ netns: string; ip: string }> = [];
for (let i = 1; i <= HOSTS; i++) {
  await eventually(
    async () => (await c.vx(i, ['network', 'inspect', 'kce'], { nothrow: true })).exitCode === 0,
    15_000,
  );
  const netns = await c.tb.addContainer(i, 2);
  enc.push({ netns, ip: (await c.vxJson<{ ip: string }>(i, ['attach', 'kce', '--netns', netns])).ip });
}
await t.test('before the change: both networks carry traffic across hosts', async (t) => {
  t.ok(
    await eventually(async () => c.tb.ping(cts[0]!.netns, cts[2]!.ip, { timeoutS: 1 }), 15_000),
    "h1's container reaches h3's",
  );
  t.ok(
    await eventually(async () => c.tb.ping(enc[0]!.netns, enc[2]!.ip, { timeoutS: 1 }), 15_000),
    "h1's container reaches h3's on the encrypted network",
  );
});

await t.test('three rolling restarts move the cluster to the new key with no split and no lost ping', async (t) => {
  // 5 pings a second across the whole change.
  const pings = c.tb.exec(cts[0]!.netns, ['ping', '-n', '-q', '-i', '0.2', '-w', '600', cts[2]!.ip], { nothrow: true });
  const encPings = c.tb.exec(enc[0]!.netns, ['ping', '-n', '-q', '-i', '0.2', '-w', '600', enc[2]!.ip], {
    nothrow: true,
  });
  const phases: Array<{ name: string; key: string; accept?: string }> = [
    { name: 'accept the new key', key: oldKey, accept: newKey },
    { name: 'send with the new key', key: newKey, accept: oldKey },
    { name: 'drop the old key', key: newKey },
  ];
  for (const phase of phases) {
    for (let i = 1; i <= HOSTS; i++) {
      await c.stopAgent(i, 'SIGTERM');
      await c.startAgent(i, {
        keyFile: phase.key,
        join: others(i),
        args: [...ARGS, ...(phase.accept ? ['--cluster-key-accept', phase.accept] : [])],
      });
      t.ok(
        await eventually(everyoneSeesEveryone, 20_000, 250),
        `${phase.name}, h${i} restarted: every agent sees all three alive`,
      );
    }
  }
  await pings.kill('SIGINT');
  const r = await pings;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  t.ok(m, `ping summary: ${r.stdout.trim().split('\n').slice(-2).join(' | ')}`);
  t.ok(Number(m?.[1]) > 50, 'pinged throughout');
  t.equal(m?.[1], m?.[2], 'no ping lost across nine agent restarts');
  await encPings.kill('SIGINT');
  const e = /(\d+) packets transmitted, (\d+) received/.exec((await encPings).stdout);
  t.comment(`encrypted network: ${e?.[2]} of ${e?.[1]} pings answered`);
  t.ok(Number(e?.[1]) > 50, 'pinged throughout on the encrypted network');
  t.equal(e?.[1], e?.[2], 'no encrypted ping lost: every pair kept a pre-shared key both ends hold');
});

await t.test('after the change: the old key alone is shut out, the new one works', async (t) => {
  await c.startAgent(4, { keyFile: oldKey, join: [1], args: ARGS }).catch(() => undefined);
  await new Promise((r) => setTimeout(r, 4000));
  t.same(await alivePeers(4), ['h4'], 'a host with the old key sees nobody');
  t.notOk((await alivePeers(1)).includes('h4'), 'and nobody sees it');
  await c.stopAgent(4);
  await c.startAgent(4, { keyFile: newKey, join: [1], args: ARGS });
  t.ok(await eventually(async () => (await alivePeers(1)).includes('h4'), 15_000, 250), 'with the new key it joins');
});
