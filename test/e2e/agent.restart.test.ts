/** A single-host cluster: an agent restart keeps its networks and endpoints (table snapshot on disk). */
import t from 'tap';
import { Cluster } from '../../sim/cluster.js';

const c = await Cluster.create(1, 'solo');
t.teardown(() => c.teardown());

t.test('networks and endpoints survive a restart with no peer to sync from', async (t) => {
  await c.startAgent(1);
  await c.vx(1, ['network', 'create', 'solo', '--subnet', '198.18.70.0/24']);
  const ct = await c.tb.addContainer(1, 1);
  const ep = await c.vxJson<{ ip: string }>(1, ['attach', 'solo', '--netns', ct]);
  await new Promise((r) => setTimeout(r, 700)); // network definitions are in the snapshot within 500 ms (the rest within 5 s; endpoints come from the agent's own state)
  await c.stopAgent(1, 'SIGKILL');
  await c.startAgent(1);
  const nets = await c.vxJson<Array<{ name: string; subnet: string }>>(1, ['network', 'ls']);
  t.same(
    nets.map((n) => [n.name, n.subnet]),
    [['solo', '198.18.70.0/24']],
    'the network is still defined',
  );
  const eps = await c.vxJson<Array<{ ip: string; status: string }>>(1, ['endpoints', 'solo']);
  t.same(
    eps.map((e) => [e.ip, e.status]),
    [[ep.ip, 'local']],
    'the local endpoint is still there',
  );
  t.equal((await c.vx(1, ['fdb', '--check'], { nothrow: true })).exitCode, 0, 'fdb --check passes');
  const ct2 = await c.tb.addContainer(1, 2);
  const ep2 = await c.vxJson<{ ip: string }>(1, ['attach', 'solo', '--netns', ct2]);
  t.not(ep2.ip, ep.ip, 'IPAM does not hand out the first address again');
  t.ok(await c.tb.ping(ct2, ep.ip), 'the two containers talk');
});
