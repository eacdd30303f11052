/** Cluster key: a peer with a different key, or none, cannot join and learns nothing. */
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { DiscoveryCluster, endpointOf } from '../fixtures/discovery-cluster.js';
import { eventually } from '../fixtures/members.js';

const c = await DiscoveryCluster.create(4, { connectIntervalMs: 500 });
t.teardown(() => c.teardown());
const keyA = c.newKeyFile('a.key');
const keyB = c.newKeyFile('b.key');

t.test('members with the same key form a cluster; others stay outside', async (t) => {
  const h1 = c.start(1, { clusterKeyFile: keyA });
  const h2 = c.start(2, { clusterKeyFile: keyA });
  const wrong = c.start(3, { clusterKeyFile: keyB });
  const none = c.start(4);
  await Promise.all([h1, h2, wrong, none].map((p) => p.ready));
  await h1.call('putNetwork', { name: 'blue', vni: 7, subnet: '198.18.0.0/24' });
  await h1.call('putEndpoint', endpointOf(c.tb, 1, 1));
  await h2.call('putEndpoint', endpointOf(c.tb, 2, 1));
  t.ok(
    await eventually(async () => (await h2.snapshot()).endpoints.length === 2, 10000),
    'keyed members exchange records',
  );
  // Give the outsiders several connection rounds.
  await new Promise((r) => setTimeout(r, 3000));
  for (const p of [wrong, none]) {
    const s = await p.snapshot();
    t.same(
      s.members.map((m) => m.name),
      [p.name],
      `${p.name} knows only itself`,
    );
    t.same(s.endpoints, [], `${p.name} learned no endpoint`);
    t.same(s.networks, [], `${p.name} learned no network`);
  }
  for (const p of [h1, h2])
    t.same((await p.snapshot()).members.map((m) => m.name).sort(), ['h1', 'h2'], `${p.name} lists only keyed members`);
});

t.test('a malformed key file is refused with the field named', async (t) => {
  const bad = path.join(c.stateRoot, 'bad.key');
  fs.writeFileSync(bad, 'not a key\n');
  const { readClusterKey } = await import('../../discovery/node.js');
  let field: string | undefined;
  try {
    readClusterKey(bad);
  } catch (e) {
    field = (e as { field?: string }).field;
  }
  t.equal(field, 'cluster-key');
});
