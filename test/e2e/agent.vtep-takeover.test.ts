/**
 * A VTEP changing hands, with agent processes: a host rebuilt on a dead member's VTEP (new state
 * directory, new name) ends that member's hold, so its old endpoints leave the kernels and never come
 * back (the stale-entry bug of moby#49908); a member announcing the VTEP of a live member is refused
 * and reported.
 */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { Cluster } from '../../sim/cluster.js';
import { readNamespaceTables } from '../../dataplane/tables.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

const VNI = 2101;
const ARGS = ['--reconcile-interval-ms', '1000'];
const c = await Cluster.create(3, 'vtk', { cli: inProcessCli });
t.teardown(() => c.teardown());

interface Peer {
  name: string;
  state: string;
  dataplane: string;
  dataplaneHeld: boolean;
}
const peers = (i: number) => c.vxJson<Peer[]>(i, ['peers']);
/** The MACs host i's kernel sends to `vtep`. */
async function macsTowards(i: number, vtep: string): Promise<string[]> {
  const tables = await readNamespaceTables(`${c.overlayPrefix(i)}${VNI}`);
  return tables.flatMap((x) => x.fdb.filter((e) => e.dst === vtep).map((e) => e.mac)).sort();
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await c.startAgent(1, { args: ARGS });
await c.startAgent(2, { args: ARGS });
await c.vx(1, ['network', 'create', 'tk', '--subnet', '198.18.71.0/24', '--vni', String(VNI)]);
const attach = async (i: number, j: number) => {
  await eventually(async () => (await c.vx(i, ['network', 'inspect', 'tk'], { nothrow: true })).exitCode === 0, 15_000);
  return c.vxJson<{ mac: string; ip: string }>(i, ['attach', 'tk', '--netns', await c.tb.addContainer(i, j)]);
};
await attach(1, 1);
const old = await attach(2, 1);
const vtep2 = c.tb.host(2).vtep;

await t.test("a host rebuilt on a dead member's VTEP: the old endpoints leave and stay gone", async (t) => {
  t.ok(
    await eventually(async () => (await macsTowards(1, vtep2)).includes(old.mac), 15_000),
    "h1 sends h2's container to h2's VTEP",
  );
  await c.stopAgent(2, 'SIGKILL'); // the host stays up: its VTEP answers, so h1 holds h2's endpoints
  t.ok(
    await eventually(
      async () => (await peers(1)).some((p) => p.name === 'h2' && p.state === 'dead' && p.dataplaneHeld),
      20_000,
      200,
    ),
    'h2 dead and held on h1',
  );
  t.same(await macsTowards(1, vtep2), [old.mac], 'held: the entry stays while the host answers');
  // Rebuilt: a new host namespace on the same address, a new state directory, a new name.
  await c.tb.removeHost(2);
  await c.tb.recreateHost(2);
  fs.rmSync(path.join(c.dir, 'h2'), { recursive: true, force: true });
  await c.startAgent(2, { args: [...ARGS, '--name', 'h2-rebuilt'] });
  t.ok(
    await eventually(async () => !(await macsTowards(1, vtep2)).includes(old.mac), 15_000, 100),
    "the old endpoint left h1's kernel",
  );
  const fresh = await attach(2, 2);
  t.ok(
    await eventually(async () => (await macsTowards(1, vtep2)).includes(fresh.mac), 15_000),
    "the rebuilt host's new container is programmed",
  );
  await sleep(3000); // several reconciles and probe rounds
  t.same(
    await macsTowards(1, vtep2),
    [fresh.mac],
    'only the new container points at that VTEP: the old one never came back',
  );
  const p = await peers(1);
  t.not(p.find((x) => x.name === 'h2')?.dataplane, 'held', 'the dead member is no longer held');
  t.equal(p.find((x) => x.name === 'h2-rebuilt')?.dataplane, 'live');
});

await t.test("a member announcing a live member's VTEP is refused and reported", async (t) => {
  // h3 claims h1's VTEP (a copied config): h1 was there first and keeps it.
  await c.startAgent(3, { args: [...ARGS, '--vtep', c.tb.host(1).vtep] });
  const intruder = await attach(3, 1);
  t.ok(
    await eventually(
      async () => (await peers(2)).find((p) => p.name === 'h3')?.dataplane === 'vtep-conflict',
      15_000,
      200,
    ),
    'h2 reports h3 as a VTEP conflict',
  );
  await sleep(2000);
  const on2 = (await readNamespaceTables(`${c.overlayPrefix(2)}${VNI}`)).flatMap((x) => x.fdb.map((e) => e.mac));
  t.notOk(on2.includes(intruder.mac), "h3's endpoint is not programmed on h2");
  t.equal((await peers(2)).find((p) => p.name === 'h1')?.dataplane, 'live', 'h1 keeps its VTEP and its endpoints');
});
