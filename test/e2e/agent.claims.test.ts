/**
 * Addresses bound to claims, with agent processes and a rogue member (a discovery process that holds
 * the cluster key, so it may publish, on a 4th simulated host): whatever it announces, no honest
 * host's kernel points another host's address at it, and the refusals are reported. Then two hosts
 * ask for one explicit address at the same moment: one gets it, everyone agrees.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Cluster } from '../../sim/cluster.js';
import { readNamespaceTables } from '../../dataplane/tables.js';
import { macFromIp } from '../../core/addresses.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { rogueMember } from '../fixtures/rogue.js';
import { signedBoth } from '../fixtures/signed-records.js';
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { MAX_LAMPORT } from '../../discovery/clock-bounds.js';
import { encodeTableMessageV2 } from '../../discovery/record-codec.js';
import { TOPIC_MEMBERS, TOPIC_TABLE_V2, type WireRecord } from '../../discovery/wire.js';

const VNI = 2201;
const NET = 'cl';
const ARGS = ['--reconcile-interval-ms', '1000', '--metrics', '127.0.0.1:9476'];
const c = await Cluster.create(4, 'clm', { cli: inProcessCli });
t.teardown(() => c.teardown());

interface Ep {
  id: string;
  ip: string;
  mac: string;
  host: string;
  status: string;
}
const endpoints = (i: number) => c.vxJson<Ep[]>(i, ['endpoints', NET]);
/** Host i's kernel view of the network: MAC → VTEP (fdb) and IP → MAC (neighbours). */
async function kernel(i: number): Promise<{ fdb: Map<string, string>; neigh: Map<string, string> }> {
  const tables = await readNamespaceTables(`${c.overlayPrefix(i)}${VNI}`);
  const fdb = new Map<string, string>();
  const neigh = new Map<string, string>();
  for (const x of tables) {
    for (const e of x.fdb) if (e.dst && e.mac !== '00:00:00:00:00:00') fdb.set(e.mac, e.dst);
    for (const n of x.neighbours) if (n.mac) neigh.set(n.ip, n.mac);
  }
  return { fdb, neigh };
}
const metrics = async (i: number) =>
  (
    await c.tb.exec(c.tb.host(i).netns, [
      process.execPath,
      '-e',
      "fetch('http://127.0.0.1:9476/metrics').then((r) => r.text()).then((s) => process.stdout.write(s))",
    ])
  ).stdout;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// h3 runs without --metrics (the default), for the local-surfaces check.
for (let i = 1; i <= 3; i++) await c.startAgent(i, { args: i === 3 ? ['--reconcile-interval-ms', '1000'] : ARGS });
await c.vx(1, ['network', 'create', NET, '--subnet', '198.18.72.0/24', '--vni', String(VNI)]);
const attach = async (i: number, j: number, extra: string[] = []) => {
  await eventually(async () => (await c.vx(i, ['network', 'inspect', NET], { nothrow: true })).exitCode === 0, 15_000);
  return c.vx(i, ['attach', NET, '--netns', await c.tb.addContainer(i, j), '--json', ...extra], { nothrow: true });
};
const parse = (r: { stdout: string }) => JSON.parse(r.stdout) as { ip: string; mac: string; netns: string };
const a1 = parse(await attach(1, 1));
const b2 = parse(await attach(2, 1));
const c3 = parse(await attach(3, 1));
const vtep = (i: number) => c.tb.host(i).vtep;

await t.test('local surfaces: root-only socket and state, no metrics unless asked, one TCP port', async (t) => {
  const a = c.agents.get(3)!;
  t.equal(fs.statSync(a.socket).mode & 0o777, 0o600, 'admin socket 0600');
  t.equal(
    fs.statSync(a.stateDir).mode & 0o777,
    0o700,
    'state directory 0700 (it was created 0755 before the agent started)',
  );
  t.equal(fs.statSync(path.join(a.stateDir, 'peer.key')).mode & 0o777, 0o600, 'peer key 0600');
  const listening = (await c.tb.exec(c.tb.host(3).netns, ['ss', '-Hltn'])).stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[3]?.split(':').pop())
    .sort();
  t.same(listening, ['7946'], 'the only TCP listener is the gossip port (metrics are off by default)');
});

await t.test("a key-holding member cannot take another host's address", async (t) => {
  t.ok(await eventually(async () => (await kernel(3)).fdb.get(b2.mac) === vtep(2), 15_000), 'h3 sends b2 to h2');
  const rogue = await rogueMember(t, c, { name: 'rogue', host: 4 });
  t.ok(
    await eventually(async () => (await rogue.snapshot()).networks.includes(NET), 15_000),
    'the rogue member joined and learned the network',
  );
  const rogueEp = (id: string, ip: string, over: object = {}) => ({
    network: NET,
    id,
    ip,
    mac: macFromIp(ip),
    vtep: vtep(4),
    host: 'rogue',
    ...over,
  });
  // The rogue claims a /28 no host holds (the honest hosts picked theirs at random).
  const held = new Set(
    (await c.vxJson<{ ipamBlocks: Array<{ block: string }> }>(1, ['network', 'inspect', NET])).ipamBlocks.map(
      (b) => b.block,
    ),
  );
  const base = [240, 224, 208, 192, 176, 160].find((b) => !held.has(`198.18.72.${b}/28`)) as number;
  const at = (k: number) => `198.18.72.${base + k}`;
  // 1. b2's IP (and so its MAC), 2. an unused address of b2's block (b2 + 3),
  // 3. its own claimed address with b2's MAC, 4. its own claimed address pointed at h1's VTEP.
  const unused = `198.18.72.${Number(b2.ip.split('.')[3]) + 3}`;
  const free = at(10);
  await rogue.call('putIpamBlock', { network: NET, block: `${at(0)}/28` });
  await rogue.call('putEndpoint', rogueEp('steal-ip', b2.ip));
  await rogue.call('putEndpoint', rogueEp('free-ip', unused));
  await rogue.call('putEndpoint', rogueEp('steal-mac', at(1), { mac: b2.mac }));
  await rogue.call('putEndpoint', rogueEp('redirect', free, { vtep: vtep(1) }));
  const want = {
    'steal-ip': 'refused: ip-not-claimed',
    'free-ip': 'refused: ip-not-claimed',
    'steal-mac': 'refused: mac-in-use',
    redirect: 'refused: vtep-not-owner',
  };
  for (const i of [1, 3]) {
    t.ok(
      await eventually(
        async () => {
          const eps = await endpoints(i);
          return Object.entries(want).every(([id, status]) => eps.find((e) => e.id === id)?.status === status);
        },
        15_000,
        200,
      ),
      `h${i}: \`vxmesh endpoints\` shows each rogue record refused with its reason`,
    );
  }
  await sleep(2500); // several reconciles
  for (const i of [1, 3]) {
    const k = await kernel(i);
    t.equal(k.fdb.get(b2.mac), vtep(2), `h${i}: b2's MAC still goes to h2`);
    t.equal(k.neigh.get(b2.ip), b2.mac, `h${i}: b2's IP still resolves to b2's MAC`);
    t.notOk([...k.fdb.values()].includes(vtep(4)), `h${i}: nothing points at the rogue host`);
    t.notOk(k.neigh.has(unused) || k.neigh.has(free), `h${i}: no neighbour entry for the rogue's addresses`);
  }
  t.ok(await c.tb.ping(a1.netns, b2.ip), 'a1 still reaches b2');
  const m = await metrics(1);
  t.match(m, /vxmesh_endpoint_refusals\{reason="ip-not-claimed"\} 2/);
  t.match(m, /vxmesh_endpoint_refusals\{reason="mac-in-use"\} 1/);
  t.match(m, /vxmesh_endpoint_refusals\{reason="vtep-not-owner"\} 1/);
  // Network definitions: the rogue redefines, deletes, and takes the VNI of the network others use.
  await rogue.call('putNetwork', { name: NET, vni: VNI, subnet: '198.18.73.0/24', gateway: '198.18.73.1' });
  await rogue.call('putNetwork', { name: 'evil', vni: VNI, subnet: '198.18.74.0/24', gateway: '198.18.74.1' });
  await rogue.call('deleteNetwork', { name: NET });
  t.ok(
    await eventually(
      async () =>
        /vxmesh_gossip_messages_dropped_total\{reason="network-in-use"\} [2-9]/.test(await metrics(1)) &&
        /reason="vni-in-use"\} 1/.test(await metrics(1)),
      10_000,
      200,
    ),
    'h1 refused and counted the three network writes',
  );
  await sleep(2000);
  for (const i of [1, 2, 3]) {
    const nets = await c.vxJson<Array<{ name: string; subnet: string; vni: number; usable: boolean }>>(i, [
      'network',
      'ls',
    ]);
    t.same(
      nets.map((n) => `${n.name} ${n.subnet} ${n.vni} ${n.usable}`),
      [`${NET} 198.18.72.0/24 ${VNI} true`],
      `h${i}: the network keeps its definition, no rival on its VNI`,
    );
  }
  t.ok(await c.tb.ping(a1.netns, b2.ip), 'a1 still reaches b2 after the network writes');
  // What the rogue may do: announce an endpoint in its own claim, at its own VTEP.
  await rogue.call('putEndpoint', rogueEp('own', at(2)));
  t.ok(
    await eventually(async () => (await kernel(1)).fdb.get(macFromIp(at(2))) === vtep(4), 15_000),
    'its own claimed address is programmed',
  );
  // The hardening issue's attacks 1, 2 and 5 from the same key holder, then the cluster must keep working.
  const rogueKey = privateKeyFromProtobuf(fs.readFileSync(path.join(c.dir, 'rogue', 'peer.key')));
  const rogueId = peerIdFromPrivateKey(rogueKey).toString();
  const publish = (topic: string, bytes: Uint8Array) =>
    rogue.call('publishRaw', { topic, base64: Buffer.from(bytes).toString('base64') });
  const ownClaim = (lamport: number): WireRecord => ({
    kind: 'ipam-block',
    key: `${NET}/${at(0)}/28`,
    owner: rogueId,
    lamport,
    value: { network: NET, block: `${at(0)}/28` },
  });
  // 1. One record at 2^53−1 (refused where it is decoded), one at the ceiling (clocks rise to the cap only).
  for (const lamport of [2 ** 53 - 1, MAX_LAMPORT])
    await publish(
      TOPIC_TABLE_V2,
      encodeTableMessageV2([await signedBoth(rogueKey, rogueId, ownClaim(lamport))], false),
    );
  // 2. h2 declared dead at 2^53−1 (refused) and at 2^48 (above the incarnation h2 announced: ignored).
  const h2Id = (await c.vxJson<Array<{ name: string; peerId: string }>>(1, ['peers'])).find(
    (p) => p.name === 'h2',
  )?.peerId;
  for (const incarnation of [2 ** 53 - 1, 2 ** 48])
    await publish(
      TOPIC_MEMBERS,
      Buffer.from(JSON.stringify({ v: 1, t: 'dead', peerId: h2Id, incarnation, from: rogueId })),
    );
  // 5. b2's address as a /32 claim of its own, then announced.
  await rogue.call('putIpamBlock', { network: NET, block: `${b2.ip}/32` });
  await rogue.call('putEndpoint', rogueEp('take-ip', b2.ip));
  t.ok(
    await eventually(
      async () => (await endpoints(1)).find((e) => e.id === 'take-ip')?.status === 'refused: ip-in-use',
      15_000,
      200,
    ),
    'h1: the /32 taker is refused (ip-in-use)',
  );
  await sleep(2000); // several reconciles and gossip rounds
  for (const i of [1, 3]) {
    const peers = await c.vxJson<Array<{ name: string; state: string }>>(i, ['peers']);
    t.equal(peers.find((p) => p.name === 'h2')?.state, 'alive', `h${i}: h2 is alive`);
    t.equal((await kernel(i)).fdb.get(b2.mac), vtep(2), `h${i}: b2's MAC still goes to h2`);
  }
  t.ok(await c.tb.ping(a1.netns, b2.ip), 'a1 still reaches b2');
  // Afterwards: a container attached on an honest host is reachable, a new network is seen everywhere.
  const d3 = parse(await attach(3, 7));
  t.ok(
    await eventually(async () => c.tb.ping(a1.netns, d3.ip), 15_000),
    'a container attached on h3 after the attacks is reachable from h1',
  );
  await c.vx(2, ['network', 'create', 'after-attack', '--subnet', '198.18.76.0/24']);
  for (const i of [1, 3])
    t.ok(
      await eventually(
        async () => (await c.vx(i, ['network', 'inspect', 'after-attack'], { nothrow: true })).exitCode === 0,
        15_000,
      ),
      `h${i} sees a network created on h2 after the attacks`,
    );
  const dropped = await metrics(1);
  t.match(
    dropped,
    /vxmesh_gossip_messages_dropped_total\{reason="malformed"\} [1-9]/,
    'the 2^53−1 messages were refused as malformed',
  );
  await rogue.kill();
});

await t.test(
  'two hosts ask for one explicit address at the same moment: one gets it, every kernel agrees',
  async (t) => {
    const ip = '198.18.72.50';
    const [r1, r2] = await Promise.all([attach(1, 2, ['--ip', ip]), attach(2, 2, ['--ip', ip])]);
    const ok = [r1, r2].filter((r) => r.exitCode === 0);
    t.equal(ok.length, 1, `exactly one attach succeeded (exit codes ${r1.exitCode}, ${r2.exitCode})`);
    const loser = r1.exitCode === 0 ? r2 : r1;
    t.match(
      loser.stderr,
      /ip: 198\.18\.72\.50 (was claimed at the same time by another host \(h[12]\)|is in use)/,
      `the other is refused naming ip: ${loser.stderr.trim()}`,
    );
    const winner = r1.exitCode === 0 ? 1 : 2;
    t.ok(
      await eventually(async () => (await kernel(3)).fdb.get(macFromIp(ip)) === vtep(winner), 15_000),
      `h3 sends ${ip} to the winner h${winner}`,
    );
    const other = winner === 1 ? 2 : 1;
    t.ok(
      await eventually(async () => (await kernel(other)).fdb.get(macFromIp(ip)) === vtep(winner), 15_000),
      `h${other} sends it to h${winner} too`,
    );
    t.ok(await c.tb.ping(c3.netns, ip), "the winner's container answers on it from h3");
  },
);
