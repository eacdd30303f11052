/**
 * Agents with the optional etcd store (a real etcd server on simulated host 1, reached over the
 * underlay): network definitions and addresses decided by compare-and-swap, behaviour while the store
 * is down, and a clear error when it is missing at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { startEtcd } from '../../sim/etcd-server.js';
import { snapshot } from '../fixtures/kernel.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { rogueMember } from '../fixtures/rogue.js';

$.verbose = false;
$.quiet = true;

const HOSTS = 3;
// Host 4 runs no agent: a key-holding member (discovery only) that poses as h2.
const c = await Cluster.create(HOSTS + 1, 'store', { cli: inProcessCli });
t.teardown(() => c.teardown());
const etcdDir = path.join(c.dir, 'etcd');
let etcd = await startEtcd(c.tb, { dir: etcdDir, netns: c.tb.host(1).netns, host: c.tb.host(1).vtep });
const STORE_ARGS = ['--store', etcd.url, '--reconcile-interval-ms', '2000'];
for (let i = 1; i <= HOSTS; i++) await c.startAgent(i, { args: STORE_ARGS });

interface Ct {
  host: number;
  netns: string;
  ip: string;
}
type Inspect = {
  subnet: string;
  vni: number;
  storeAddresses: Array<{ ip: string; host: string; peer?: string }> | null;
  ipamBlocks: unknown[];
};

await t.test('network definitions: concurrent creates are decided by the store', async (t) => {
  // The same name with two subnets on two hosts at once: exactly one wins, the other is told why.
  const [r2, r3] = await Promise.all([
    c.vx(2, ['network', 'create', 'shared', '--subnet', '198.18.60.0/24'], { nothrow: true }),
    c.vx(3, ['network', 'create', 'shared', '--subnet', '198.18.61.0/24'], { nothrow: true }),
  ]);
  t.same([r2.exitCode, r3.exitCode].sort(), [0, 1], 'one create succeeded, one failed');
  const loser = r2.exitCode === 1 ? r2 : r3;
  // Refused by the store, or already by the local check when the winner's gossip arrived first.
  t.match(
    loser.stderr,
    /name: network shared exists (in the store )?with subnet 198\.18\.6[01]\.0\/24/,
    'the loser names the field and the winner',
  );
  const winnerSubnet = r2.exitCode === 0 ? '198.18.60.0/24' : '198.18.61.0/24';
  t.ok(
    await eventually(async () => {
      for (let i = 1; i <= HOSTS; i++) {
        const n = await c.vxJson<Inspect>(i, ['network', 'inspect', 'shared']).catch(() => undefined);
        if (n?.subnet !== winnerSubnet) return false;
      }
      return true;
    }, 5000),
    `every host has the winner (${winnerSubnet})`,
  );
  // Two names, one VNI, at once: one is refused naming the VNI.
  const [a, b] = await Promise.all([
    c.vx(1, ['network', 'create', 'v1', '--subnet', '198.18.62.0/24', '--vni', '6200'], { nothrow: true }),
    c.vx(2, ['network', 'create', 'v2', '--subnet', '198.18.63.0/24', '--vni', '6200'], { nothrow: true }),
  ]);
  t.same([a.exitCode, b.exitCode].sort(), [0, 1], 'one of two creates with the same VNI succeeded');
  t.match((a.exitCode === 1 ? a : b).stderr, /vni: VNI 6200 is used by network v[12]/);
});

const cts: Ct[] = [];
await t.test('addresses: 12 concurrent attaches on 3 hosts are unique and recorded in the store', async (t) => {
  await c.vx(1, ['network', 'create', 'web', '--subnet', '198.18.64.0/27', '--vni', '6400']);
  t.ok(
    await eventually(
      async () => (await c.vxJson<Array<{ name: string }>>(3, ['network', 'ls'])).some((n) => n.name === 'web'),
      5000,
    ),
    'definition everywhere',
  );
  const made = await Promise.all(
    [1, 2, 3].flatMap((h) =>
      [1, 2, 3, 4].map(async (j) => {
        const netns = await c.tb.addContainer(h, j);
        const ep = await c.vxJson<{ ip: string }>(h, ['attach', 'web', '--netns', netns]);
        return { host: h, netns, ip: ep.ip };
      }),
    ),
  );
  cts.push(...made);
  t.equal(new Set(cts.map((x) => x.ip)).size, 12, `12 unique addresses (${cts.map((x) => x.ip).join(' ')})`);
  const n = await c.vxJson<Inspect>(2, ['network', 'inspect', 'web']);
  t.same(n.ipamBlocks, [], 'no IPAM blocks: the store allocates');
  t.same(
    n.storeAddresses?.map((a) => `${a.ip}@${a.host}`).sort(),
    cts.map((x) => `${x.ip}@h${x.host}`).sort(),
    'the store holds each address for the host that attached it',
  );
  t.ok(
    await eventually(
      async () => (await c.tb.ping(cts[0]!.netns, cts[11]!.ip)) && (await c.tb.ping(cts[11]!.netns, cts[4]!.ip)),
      10000,
      250,
    ),
    'containers on different hosts ping',
  );
});

await t.test('detach releases the address in the store; another host may then take it explicitly', async (t) => {
  const gone = cts.find((x) => x.host === 2) as Ct;
  const spare = await c.tb.addContainer(3, 9);
  const before = await c.vx(3, ['attach', 'web', '--netns', spare, '--ip', gone.ip], { nothrow: true });
  t.equal(before.exitCode, 1, 'an address in use is refused');
  t.match(
    before.stderr,
    new RegExp(
      `ip: ${gone.ip.replace(/\./g, '\\.')} is (in use by endpoint .* on host h2|allocated to host h2 in the store)`,
    ),
  );
  await c.vx(2, ['detach', 'web', '--netns', gone.netns]);
  const n = await c.vxJson<Inspect>(1, ['network', 'inspect', 'web']);
  t.notOk(
    n.storeAddresses?.some((a) => a.ip === gone.ip),
    'released in the store',
  );
  t.ok(
    await eventually(
      async () =>
        (await c.vx(3, ['attach', 'web', '--netns', spare, '--ip', gone.ip], { nothrow: true })).exitCode === 0,
      5000,
    ),
    'h3 takes the address once the endpoint record is gone too',
  );
  const after = await c.vxJson<Inspect>(1, ['network', 'inspect', 'web']);
  t.ok(
    after.storeAddresses?.some((a) => a.ip === gone.ip && a.host === 'h3'),
    'now held by h3',
  );
});

await t.test('two hosts attach one explicit address at the same moment: the store gives it to one', async (t) => {
  const ip = '198.18.64.29';
  const [n1, n2] = [await c.tb.addContainer(1, 20), await c.tb.addContainer(2, 20)];
  const [r1, r2] = await Promise.all([
    c.vx(1, ['attach', 'web', '--netns', n1, '--ip', ip], { nothrow: true }),
    c.vx(2, ['attach', 'web', '--netns', n2, '--ip', ip], { nothrow: true }),
  ]);
  t.equal(
    [r1, r2].filter((r) => r.exitCode === 0).length,
    1,
    `exactly one succeeded (exit codes ${r1.exitCode}, ${r2.exitCode})`,
  );
  const [winner, loser] = r1.exitCode === 0 ? [1, r2] : [2, r1];
  t.match(
    loser.stderr,
    /ip: 198\.18\.64\.29 is (allocated to host h[12] in the store|in use)/,
    `the other is refused naming ip: ${loser.stderr.trim()}`,
  );
  const n = await c.vxJson<Inspect>(3, ['network', 'inspect', 'web']);
  t.same(
    n.storeAddresses?.filter((a) => a.ip === ip).map((a) => a.host),
    [`h${winner}`],
    'the store holds it for the winner only',
  );
  t.ok(
    await eventually(
      async () =>
        (await c.vxJson<Array<{ ip: string; host: string }>>(3, ['endpoints', 'web']))
          .filter((e) => e.ip === ip)
          .map((e) => e.host)
          .join() === `h${winner}`,
      5000,
    ),
    'one endpoint with that address in the cluster',
  );
  await c.vx(winner, ['detach', 'web', '--netns', winner === 1 ? n1 : n2]);
});

await t.test(
  "a key holder that names itself like another host cannot announce that host's store address",
  async (t) => {
    const victim = cts.filter((x) => x.host === 2).at(-1) as Ct;
    const h2 = (await c.vxJson<Array<{ peerId: string; self: boolean }>>(2, ['peers'])).find((p) => p.self)?.peerId;
    const n = await c.vxJson<Inspect>(1, ['network', 'inspect', 'web']);
    t.equal(
      n.storeAddresses?.find((a) => a.ip === victim.ip)?.peer,
      h2,
      "the store records the holder's peer id beside its name",
    );
    const rogue = await rogueMember(t, c, { name: 'h2', host: 4, stateDir: 'rogue' });
    t.ok(
      await eventually(async () => (await rogue.snapshot()).networks.includes('web'), 10_000),
      'the impostor joined',
    );
    await rogue.call('putEndpoint', {
      network: 'web',
      id: 'spoof',
      ip: victim.ip,
      mac: '02:aa:bb:cc:dd:ee',
      vtep: c.tb.host(4).vtep,
      host: 'h2',
    });
    t.ok(
      await eventually(
        async () =>
          (await c.vxJson<Array<{ id: string; status: string }>>(1, ['endpoints', 'web'])).find((e) => e.id === 'spoof')
            ?.status === 'refused: ip-not-claimed',
        10_000,
        200,
      ),
      'h1 refuses its endpoint: the store holds that address for another peer',
    );
    t.ok(await c.tb.ping(cts[0]!.netns, victim.ip), "h1's container still reaches the real one");
    await rogue.kill();
  },
);

await t.test(
  'a container that vanished while its agent was down: the restarted agent releases its address',
  async (t) => {
    const victim = cts.filter((x) => x.host === 2)[1] as Ct;
    t.ok(
      (await c.vxJson<Inspect>(1, ['network', 'inspect', 'web'])).storeAddresses?.some((a) => a.ip === victim.ip),
      'held before',
    );
    await c.stopAgent(2);
    await $`ip netns del ${victim.netns}`;
    await c.startAgent(2, { args: STORE_ARGS });
    const n = await c.vxJson<Inspect>(1, ['network', 'inspect', 'web']);
    t.notOk(
      n.storeAddresses?.some((a) => a.ip === victim.ip),
      `${victim.ip} released in the store`,
    );
    t.ok(
      await eventually(
        async () => !(await c.vxJson<Array<{ ip: string }>>(1, ['endpoints', 'web'])).some((e) => e.ip === victim.ip),
        5000,
      ),
      'and its endpoint withdrawn from the cluster',
    );
    cts.splice(cts.indexOf(victim), 1);
  },
);

await t.test('store down: traffic goes on, allocations fail cleanly, and work again when it is back', async (t) => {
  await etcd.stop();
  const spare = await c.tb.addContainer(1, 10);
  const watched = [spare, c.tb.host(1).netns];
  const kernelBefore = await snapshot(watched);
  const r = await c.vx(1, ['attach', 'web', '--netns', spare], { nothrow: true });
  t.equal(r.exitCode, 1, 'attach fails');
  t.match(
    r.stderr,
    /store: .* failed at http:\/\/198\.51\.100\.11:2379/,
    `the error names the store (${r.stderr.trim().split('\n')[0]})`,
  );
  t.equal(await snapshot(watched), kernelBefore, 'no kernel change');
  t.ok(await c.tb.ping(cts[0]!.netns, cts[cts.length - 1]!.ip), 'existing containers still ping');
  // A detach while the store is down: the container goes at once; its address is given back later.
  const leaving = cts.filter((x) => x.host === 1)[1] as Ct;
  const d = await c.vx(1, ['detach', 'web', '--netns', leaving.netns], { nothrow: true });
  t.equal(d.exitCode, 0, `detach works without the store (${d.stderr.trim()})`);
  t.notOk(
    await c.tb.ping(cts[0]!.netns, leaving.ip, { timeoutS: 1 }),
    'the detached container is gone from the overlay',
  );
  const state = JSON.parse(fs.readFileSync(path.join(c.dir, 'h1', 'agent-state.json'), 'utf8')) as {
    addressesToReturn?: Array<{ ip: string }>;
  };
  t.same(
    state.addressesToReturn?.map((a) => a.ip),
    [leaving.ip],
    'its address is queued in the state directory',
  );
  etcd = await startEtcd(c.tb, { dir: etcdDir, netns: c.tb.host(1).netns, host: c.tb.host(1).vtep });
  t.ok(
    await eventually(
      async () => (await c.vx(1, ['attach', 'web', '--netns', spare], { nothrow: true })).exitCode === 0,
      45000,
      500,
    ),
    'attach works again once the store is back (same data)',
  );
  const spareIp = (await c.vxJson<{ ip: string }>(1, ['attach', 'web', '--netns', spare])).ip; // attach is idempotent: the endpoint
  // Given back: no longer in the store, unless the new attach has just been handed that very address.
  t.ok(
    await eventually(
      async () =>
        spareIp === leaving.ip ||
        !(await c.vxJson<Inspect>(1, ['network', 'inspect', 'web'])).storeAddresses?.some((a) => a.ip === leaving.ip),
      10000,
      250,
    ),
    'the queued address was given back to the store',
  );
  t.ok(
    await eventually(
      async () =>
        (
          JSON.parse(fs.readFileSync(path.join(c.dir, 'h1', 'agent-state.json'), 'utf8')) as {
            addressesToReturn?: unknown[];
          }
        ).addressesToReturn?.length === 0,
      10000,
      250,
    ),
    'and the queue is empty',
  );
  const n = await c.vxJson<Inspect>(1, ['network', 'inspect', 'web']);
  t.equal(new Set(n.storeAddresses?.map((a) => a.ip)).size, n.storeAddresses?.length, 'still unique');
  t.equal(
    n.storeAddresses?.length,
    11,
    '12 - 1 detached + 1 taken by h3 - 1 vanished + 1 new - 1 detached while the store was down',
  );
});

// (A store that does not answer at start no longer stops the agent: test/e2e/agent.readiness.test.ts.)
await t.test('bad agent settings are refused naming the setting: a store URL, no cluster key', async (t) => {
  const dir = path.join(c.dir, 'refused');
  fs.mkdirSync(dir, { recursive: true });
  const cli = new URL('../../cli/cli.js', import.meta.url).pathname;
  const bad = await $`${process.execPath} ${cli} agent --insecure --store redis://x:1`.nothrow();
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /--store: "redis:\/\/x:1" must start with etcd:\/\//);
  const nokey =
    await $`${process.execPath} ${cli} agent --state-dir ${dir} --socket ${path.join(dir, 'x.sock')} --no-docker-plugin`.nothrow();
  t.equal(nokey.exitCode, 1, 'no key and no --insecure: the agent does not start');
  t.match(nokey.stderr, /cluster-key: no cluster key given[\s\S]*vxmesh keygen[\s\S]*--insecure/);
  t.notOk(fs.existsSync(path.join(dir, 'x.sock')), 'no admin socket was opened');
});
