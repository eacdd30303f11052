/**
 * The agent facade and its reconcile decisions, with a fake cluster and a fake kernel: what is handed
 * to the data plane, when deletions are allowed (never before the first sync after a restart), and
 * attach/detach all-or-nothing.
 */
import t from 'tap';
import { blueEndpoint } from '../fixtures/endpoints.js';
import { Agent } from '../../agent/agent.js';
import type { LocalEndpoint } from '../../agent/local-state.js';
import type { RemoteEndpoint } from '../../dataplane/dataplane.js';
import { agentParts, FakeCluster, FakeOverlay } from '../fixtures/agent-fakes.js';

const until = async (what: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
};

const BLUE = { name: 'blue', vni: 5000, subnet: '198.18.5.0/24', gateway: '198.18.5.1' };
const localEp: LocalEndpoint = {
  id: 'l1',
  network: 'blue',
  vni: 5000,
  netns: 'ns1',
  ifname: 'eth0',
  mac: '02:42:c6:12:05:0a',
  ip: '198.18.5.10',
  prefix: 24,
  createdAt: '2026-01-01T00:00:00Z',
};
const remoteEp = (id: string, ip: string, vtep: string) => blueEndpoint(id, ip, vtep);

/** A cluster where member h2 (VTEP .2) defined blue, claims `block` and announces one endpoint in it. */
function clusterWithRemote(block: string, ep: ReturnType<typeof remoteEp>) {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  cluster.remote('network', 'h2', BLUE);
  cluster.addMember({ peerId: 'h2', vtep: '198.51.100.2' });
  cluster.claim('h2', 'blue', block);
  cluster.remote('endpoint', 'h2', ep);
  return { cluster, driver };
}

t.test('after a restart: no deletion before the first sync, deletions once it completes', async (t) => {
  const cluster = new FakeCluster('self', { synced: false });
  const driver = new FakeOverlay();
  cluster.remote('network', 'h2', BLUE);
  const agent = new Agent(
    agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
  );
  t.teardown(() => agent.stop());
  await agent.start();
  t.ok(cluster.started);
  t.same(
    cluster.eps.map((r) => r.value.id),
    ['l1'],
    'the local endpoint is announced again',
  );
  t.match(driver.reconciles, [{ vni: 5000, allowDelete: false }], 'the start reconcile may add but not delete');
  t.same(driver.staleRemovals, [], 'no overlay is removed before the first sync');
  t.equal(agent.status().initialSyncDone, false);
  const beforeNew = driver.reconciles.length;
  cluster.addMember({ peerId: 'h3', vtep: '198.51.100.3' });
  cluster.claim('h3', 'blue', '198.18.5.64/26');
  cluster.remote('endpoint', 'h3', { ...remoteEp('r3', '198.18.5.70', '198.51.100.3'), host: 'h3' });
  await until(() => driver.reconciles.length > beforeNew);
  t.equal(
    driver.reconciles.at(-1)?.delta,
    undefined,
    'a change before the first sync: the full compare (the kernel may hold entries from before the restart)',
  );
  const beforeSync = driver.reconciles.length;
  cluster.sync();
  await until(() => driver.reconciles.length > beforeSync);
  t.match(driver.reconciles.at(-1), { vni: 5000, allowDelete: true }, 'after the first sync deletions are allowed');
  await until(() => driver.staleRemovals.length >= 1);
  t.equal(agent.status().initialSyncDone, true);
});

t.test('after a restart the saved address claims are announced again (peers would otherwise drop them)', async (t) => {
  const cluster = new FakeCluster('self');
  const parts = agentParts({
    cluster,
    driver: new FakeOverlay(),
    initialState: {
      version: 1,
      endpoints: [localEp],
      ipamBlocks: [
        { network: 'blue', block: '198.18.5.0/28' },
        { network: 'blue', block: '198.18.5.77/32' },
      ],
    },
  });
  const agent = new Agent(parts);
  t.teardown(() => agent.stop());
  await agent.start();
  t.same(cluster.blocks.map((r) => `${r.owner} ${r.key}`).sort(), [
    'self blue/198.18.5.0/28',
    'self blue/198.18.5.77/32',
  ]);
  t.same(
    parts.saved
      .at(-1)
      ?.ipamBlocks.map((b) => b.block)
      .sort(),
    ['198.18.5.0/28', '198.18.5.77/32'],
    'and kept in the state file',
  );
});

t.test('a network without a local endpoint is not programmed here (no overlay, no entries)', async (t) => {
  const { cluster, driver } = clusterWithRemote('198.18.5.0/28', remoteEp('r2', '198.18.5.2', '198.51.100.2'));
  const agent = new Agent(agentParts({ cluster, driver }));
  t.teardown(() => agent.stop());
  await agent.start();
  await agent.reconcileAll('test');
  t.same(driver.reconciles, [], 'no reconcile of blue');
  t.equal(driver.overlays.size, 0, 'no overlay namespace for it');
  t.equal(
    agent.endpoints().find((e) => e.id === 'r2')?.status,
    'remote',
    'the endpoint is still known (shown, ready for a first local attach)',
  );
});

t.test(
  'stale overlays are looked for at periodic runs and when the kept set changes, not at every table change',
  async (t) => {
    const cluster = new FakeCluster('self');
    const driver = new FakeOverlay();
    cluster.remote('network', 'h2', BLUE);
    cluster.claim('h2', 'blue', '198.18.5.0/28');
    const agent = new Agent(
      agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
    );
    t.teardown(() => agent.stop());
    await agent.start();
    const looks = driver.staleRemovals.length;
    t.ok(looks >= 1, 'looked at the start');
    for (let k = 2; k < 6; k++) {
      cluster.remote('endpoint', 'h2', remoteEp(`r${k}`, `198.18.5.${k}`, '198.51.100.2'));
      await agent.reconcileAll('change');
    }
    t.equal(driver.staleRemovals.length, looks, 'four table changes with the same overlays kept: no look');
    await agent.reconcileAll('periodic');
    t.equal(driver.staleRemovals.length, looks + 1, 'the periodic run looks');
    driver.overlays.set(7777, { vni: 7777, subnet: '198.18.7.0/24' });
    await agent.reconcileAll('periodic');
    t.same(driver.staleRemovals.at(-1), [7777], 'and removes what no local endpoint uses');
  },
);

t.test(
  'a slow full compare (a large overlay) puts off the periodic ones: at most one per 20 times its duration',
  async (t) => {
    const cluster = new FakeCluster('self');
    const driver = new FakeOverlay();
    cluster.remote('network', 'h2', BLUE);
    const agent = new Agent(
      agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
    );
    t.teardown(() => agent.stop());
    driver.fullCompareMs = 30;
    await agent.start();
    const fulls = () => driver.reconciles.length;
    const atStart = fulls();
    await agent.reconcileAll('periodic');
    t.equal(fulls(), atStart, 'right after a 30 ms compare: put off');
    t.equal(agent.counters.periodicDeferred, 1);
    await agent.reconcileAll('kernel-event');
    const ended = performance.now();
    t.equal(fulls(), atStart + 1, "a kernel notification's compare is never put off");
    // Periodic runs every 50 ms: the next full compare comes no sooner than 20 × 30 ms after the last.
    const due = async () => {
      const before = fulls();
      for (let i = 0; i < 200 && fulls() === before; i++) {
        await new Promise((r) => setTimeout(r, 50));
        await agent.reconcileAll('periodic');
      }
      return fulls() > before;
    };
    t.ok(await due(), 'due again');
    t.ok(performance.now() - ended >= 20 * 30, 'not before 20 times its duration');
    t.ok(agent.counters.periodicDeferred > 1, 'put off meanwhile');
    driver.fullCompareMs = 0;
    t.ok(await due(), 'a quick compare after it');
    const quick = fulls();
    await agent.reconcileAll('periodic');
    // A compare quicker than 25 ms puts nothing off (the duration the loop saw decides).
    if (agent.counters.lastReconcileMs < 25) t.equal(fulls(), quick + 1, 'the next periodic run compares again');
    else t.pass(`the quick compare took ${agent.counters.lastReconcileMs} ms here`);
  },
);

t.test('a cluster already synced (no seeds) deletes from the first run', async (t) => {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  cluster.remote('network', 'h2', BLUE);
  driver.overlays.set(7777, { vni: 7777, subnet: '198.18.7.0/24' });
  const agent = new Agent(
    agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
  );
  t.teardown(() => agent.stop());
  await agent.start();
  t.match(driver.reconciles, [{ vni: 5000, allowDelete: true }]);
  t.same(driver.staleRemovals, [[7777]], 'an overlay no local endpoint uses is removed');
});

t.test(
  'the data plane gets the live remotes; a dead member with a silent VTEP is withdrawn, with an answering one held',
  async (t) => {
    const cluster = new FakeCluster('self');
    const driver = new FakeOverlay();
    const answers = true;
    cluster.remote('network', 'h2', BLUE);
    cluster.addMember({ peerId: 'h2', vtep: '198.51.100.2' });
    cluster.addMember({ peerId: 'h3', vtep: '198.51.100.3' });
    cluster.claim('h2', 'blue', '198.18.5.2/32');
    cluster.claim('h3', 'blue', '198.18.5.3/32');
    cluster.remote('endpoint', 'h2', remoteEp('r2', '198.18.5.2', '198.51.100.2'));
    cluster.remote('endpoint', 'h3', remoteEp('r3', '198.18.5.3', '198.51.100.3'));
    const agent = new Agent(
      agentParts({
        cluster,
        driver,
        probe: (vtep) => Promise.resolve(vtep === '198.51.100.2' ? answers : false),
        initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] },
      }),
    );
    t.teardown(() => agent.stop());
    await agent.start();
    const last = () => (driver.reconciles.at(-1)?.remotes ?? []).map((r) => r.ip).sort();
    t.same(last(), ['198.18.5.2', '198.18.5.3']);
    cluster.setState('h3', 'dead');
    await until(() => last().length === 1);
    t.same(last(), ['198.18.5.2'], 'h3 does not answer: withdrawn');
    cluster.setState('h2', 'dead');
    await new Promise((r) => setTimeout(r, 100));
    t.same(last(), ['198.18.5.2'], 'h2 answers: held');
    t.equal(agent.endpoints().find((e) => e.id === 'r2')?.status, 'held');
    t.equal(agent.endpoints().find((e) => e.id === 'r3')?.status, 'suspended');
    t.equal(agent.peers().find((p) => p.peerId === 'h2')?.dataplaneHeld, true);
  },
);

t.test('a member that left (clean agent stop) with an answering VTEP stays programmed', async (t) => {
  const { cluster, driver } = clusterWithRemote('198.18.5.0/28', remoteEp('r2', '198.18.5.2', '198.51.100.2'));
  const agent = new Agent(
    agentParts({
      cluster,
      driver,
      probe: () => Promise.resolve(true),
      initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] },
    }),
  );
  t.teardown(() => agent.stop());
  await agent.start();
  cluster.setState('h2', 'left');
  await new Promise((r) => setTimeout(r, 100));
  await agent.reconcileAll('test');
  t.same(
    (driver.reconciles.at(-1)?.remotes ?? []).map((r) => r.ip),
    ['198.18.5.2'],
    'held',
  );
  t.equal(agent.endpoints().find((e) => e.id === 'r2')?.status, 'held');
});

t.test("a remote endpoint with a local endpoint's IP is left out and reported once", async (t) => {
  const { cluster, driver } = clusterWithRemote('198.18.5.0/26', remoteEp('dup', localEp.ip as string, '198.51.100.2'));
  const agent = new Agent(
    agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
  );
  t.teardown(() => agent.stop());
  await agent.start();
  t.same(driver.reconciles.at(-1)?.remotes, []);
  t.equal(agent.endpoints().find((e) => e.id === 'dup')?.status, 'refused: local-conflict');
  await agent.reconcileAll('test');
  t.equal(agent.refusals.total, 1, 'counted once, not on every reconcile');
});

t.test("endpoint records bound to claims: only the claimant's endpoint at its own VTEP is programmed", async (t) => {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  cluster.remote('network', 'h2', BLUE);
  cluster.addMember({ peerId: 'h2', vtep: '198.51.100.2' });
  cluster.addMember({ peerId: 'h3', vtep: '198.51.100.3' });
  cluster.claim('h2', 'blue', '198.18.5.64/26');
  cluster.remote('endpoint', 'h2', remoteEp('victim', '198.18.5.70', '198.51.100.2'));
  const agent = new Agent(
    agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
  );
  t.teardown(() => agent.stop());
  await agent.start();
  const last = () => (driver.reconciles.at(-1)?.remotes ?? []).map((r) => `${r.ip}@${r.vtep}`).sort();
  t.same(last(), ['198.18.5.70@198.51.100.2']);
  // h3 announces the victim's IP (and so its derived MAC) with a smaller Lamport time: not its claim.
  cluster.remote('endpoint', 'h3', remoteEp('thief', '198.18.5.70', '198.51.100.3'), 0);
  await agent.reconcileAll('test');
  t.same(last(), ['198.18.5.70@198.51.100.2'], 'the claimant keeps its address');
  t.equal(agent.endpoints().find((e) => e.id === 'thief')?.status, 'refused: ip-not-claimed');
  // h3 announces an endpoint in its own claim but pointing at h2's VTEP.
  cluster.claim('h3', 'blue', '198.18.5.128/26');
  cluster.remote('endpoint', 'h3', remoteEp('redirect', '198.18.5.130', '198.51.100.2'));
  await agent.reconcileAll('test');
  t.equal(agent.endpoints().find((e) => e.id === 'redirect')?.status, 'refused: vtep-not-owner');
  t.same(last(), ['198.18.5.70@198.51.100.2']);
  t.same(Object.fromEntries(agent.refusals.counts()), { 'ip-not-claimed': 1, 'vtep-not-owner': 1 });
  // Its endpoint at its own VTEP is programmed.
  cluster.remote('endpoint', 'h3', remoteEp('redirect', '198.18.5.130', '198.51.100.3'));
  await agent.reconcileAll('test');
  t.same(last(), ['198.18.5.130@198.51.100.3', '198.18.5.70@198.51.100.2']);
});

t.test('attach and detach through the facade: kernel, table and state move together', async (t) => {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  const parts = agentParts({ cluster, driver });
  const agent = new Agent(parts);
  t.teardown(() => agent.stop());
  await agent.start();
  await agent.createNetwork({ name: 'blue', subnet: '198.18.5.0/24', vni: 5000 });
  const ep = await agent.attach({ network: 'blue', netns: 'ns1' });
  t.match(ep, { network: 'blue', vni: 5000, ifname: 'eth0', prefix: 24 });
  t.ok(driver.overlays.has(5000), 'overlay ensured');
  t.ok(driver.veths.has(`5000/${ep.mac}`), 'veth created');
  t.same(
    cluster.eps.map((r) => r.value),
    [{ network: 'blue', id: ep.id, mac: ep.mac, ip: ep.ip, vtep: '198.51.100.1', host: 'h1' }],
    'announced with our VTEP',
  );
  t.same(
    parts.saved.at(-1)?.endpoints.map((e) => e.id),
    [ep.id],
    'persisted',
  );
  t.equal(
    await agent.attach({ network: 'blue', netns: 'ns1' }).then((e) => e.id),
    ep.id,
    'the same attach again returns the same endpoint',
  );
  await t.rejects(agent.attach({ network: 'blue', netns: 'ns2', ip: ep.ip }), { name: 'ValidationError', field: 'ip' });
  await agent.detach({ network: 'blue', netns: 'ns1' });
  t.equal(driver.veths.size, 0);
  t.equal(driver.overlays.has(5000), false, 'the last endpoint gone: overlay removed');
  t.same(cluster.eps, []);
  t.same(parts.saved.at(-1)?.endpoints, []);
  await t.rejects(agent.detach({ network: 'blue', netns: 'ns1' }), { name: 'NotFoundError', field: 'netns' });
});

t.test('a failed attach leaves nothing behind and gives the address back', async (t) => {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  const agent = new Agent(agentParts({ cluster, driver }));
  t.teardown(() => agent.stop());
  await agent.start();
  await agent.createNetwork({ name: 'blue', subnet: '198.18.5.0/24', vni: 5000 });
  driver.failAttach = new Error('EEXIST');
  await t.rejects(agent.attach({ network: 'blue', netns: 'ns1', ip: '198.18.5.20' }), /EEXIST/);
  t.same(agent.localEndpoints(), []);
  t.same(cluster.eps, [], 'nothing announced');
  driver.failAttach = undefined;
  const ep = await agent.attach({ network: 'blue', netns: 'ns1', ip: '198.18.5.20' });
  t.equal(ep.ip, '198.18.5.20', 'the address is free again');
});

t.test(
  'kernel notifications start a reconcile counted as repair at the event; a deleted link rebuilds the overlay',
  async (t) => {
    const { cluster, driver } = clusterWithRemote('198.18.5.0/26', remoteEp('r1', '198.18.5.20', '198.51.100.2'));
    const agent = new Agent(
      agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
    );
    t.teardown(() => agent.stop());
    await agent.start();
    t.ok(driver.kernelWatch, 'the agent watches the kernel');
    const before = { reconciles: driver.reconciles.length, ensures: driver.ensureCalls };
    driver.kernelWatch?.onChange({ vni: 5000, events: 2, overrun: false, linkDeleted: false, entries: [] });
    await until(() => driver.reconciles.length > before.reconciles);
    t.equal(agent.counters.kernelEvents, 2, 'notifications counted');
    t.equal(driver.ensureCalls, before.ensures, 'an entry change does not rebuild the overlay');
    driver.kernelWatch?.onChange({ vni: 5000, events: 1, overrun: true, linkDeleted: true, entries: [] });
    await until(() => driver.ensureCalls > before.ensures).catch(() => undefined);
    t.equal(
      driver.ensureCalls,
      before.ensures + 1,
      'a deleted link (or lost notifications) makes the next run build the overlay again',
    );
    t.equal(agent.counters.kernelEventOverruns, 1, 'the overrun counted');
  },
);

t.test('with kernelEvents off the agent does not watch', async (t) => {
  const { cluster, driver } = clusterWithRemote('198.18.5.0/26', remoteEp('r1', '198.18.5.20', '198.51.100.2'));
  const parts = agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } });
  const agent = new Agent({ ...parts, settings: { ...parts.settings, kernelEvents: false } });
  t.teardown(() => agent.stop());
  await agent.start();
  t.equal(driver.kernelWatch, undefined);
});

t.test(
  "a table change that leaves an overlay's desired set as it was costs no kernel run; any other change, a notification or a rebuilt overlay does",
  async (t) => {
    const { cluster, driver } = clusterWithRemote('198.18.5.0/26', remoteEp('r1', '198.18.5.20', '198.51.100.2'));
    const agent = new Agent(
      agentParts({ cluster, driver, initialState: { version: 1, endpoints: [localEp], ipamBlocks: [] } }),
    );
    t.teardown(() => agent.stop());
    await agent.start();
    const settle = () => new Promise((r) => setTimeout(r, 60));
    await settle();
    const runs = driver.reconciles.length;
    // A record that changes nothing in blue's kernel: an endpoint outside every claim (refused), and a
    // record of another network this host has no endpoint on.
    cluster.remote('endpoint', 'h2', remoteEp('stray', '198.18.5.99', '198.51.100.2'));
    cluster.remote('endpoint', 'h2', { ...remoteEp('other', '198.18.6.20', '198.51.100.2'), network: 'green' });
    await until(() => agent.counters.reconcileSkipped >= 1);
    await settle();
    t.equal(driver.reconciles.length, runs, 'no kernel run for changes that leave the desired set alone');
    cluster.remote('endpoint', 'h2', remoteEp('r2', '198.18.5.21', '198.51.100.2'));
    await until(() => driver.reconciles.length > runs);
    t.same(
      driver.reconciles.at(-1)?.remotes.map((r) => r.ip),
      ['198.18.5.20', '198.18.5.21'],
      'a new remote endpoint: a run with it',
    );
    t.same(
      driver.reconciles.at(-1)?.delta?.upsert.map((r) => r.ip),
      ['198.18.5.21'],
      'by difference from what the last clean run wrote (no kernel dump)',
    );
    const echoed = driver.reconciles.length;
    const added = driver.reconciles.at(-1)?.delta?.upsert[0] as RemoteEndpoint;
    const echoEntry = { family: 'bridge' as const, mac: added.mac, dst: added.vtep, state: 0x80, multicast: false };
    driver.kernelWatch?.onChange({
      vni: 5000,
      events: 1,
      overrun: false,
      linkDeleted: false,
      entries: [{ deleted: false, entry: echoEntry }],
    });
    await settle();
    t.equal(driver.reconciles.length, echoed, "the kernel's notification of our own write: no run");
    t.equal(agent.counters.kernelEchoes, 1);
    const afterAdd = driver.reconciles.length;
    driver.kernelWatch?.onChange({ vni: 5000, events: 1, overrun: false, linkDeleted: false, entries: [] });
    await until(() => driver.reconciles.length > afterAdd);
    t.equal(
      driver.reconciles.at(-1)?.delta,
      undefined,
      'a kernel notification compares everything with the kernel although the desired set is unchanged',
    );
    const afterEvent = driver.reconciles.length;
    driver.kernelWatch?.onChange({ vni: 5000, events: 1, overrun: false, linkDeleted: true, entries: [] });
    await until(() => driver.reconciles.length > afterEvent);
    const afterRebuild = driver.reconciles.length;
    cluster.remote('endpoint', 'h2', remoteEp('stray2', '198.18.5.98', '198.51.100.2'));
    await until(() => agent.counters.reconcileSkipped >= 2);
    t.equal(
      driver.reconciles.length,
      afterRebuild,
      "after the rebuild's own run, an unrelated change is skipped again",
    );
    t.ok(driver.ensureCalls >= 2, 'the overlay was built again');
    // The last local endpoint leaves (overlay removed) and one comes back: the new overlay is empty, so
    // its first run writes the same desired set again.
    await agent.detach({ network: 'blue', netns: 'ns1' });
    t.equal(driver.overlays.has(5000), false, 'overlay removed with the last local endpoint');
    const beforeAttach = driver.reconciles.length;
    // An explicit address outside h2's /26 (the allocator's own blocks are /28s, and it does not see a
    // /26 claim as covering them: claims of one network all have one size outside this fixture).
    await agent.attach({ network: 'blue', netns: 'ns3', ip: '198.18.5.100' });
    await until(() => driver.reconciles.length > beforeAttach);
    t.same(
      driver.reconciles.at(-1)?.remotes.map((r) => r.ip),
      ['198.18.5.20', '198.18.5.21'],
      'the rebuilt overlay gets its entries although the desired set is unchanged',
    );
    t.equal(driver.reconciles.at(-1)?.delta, undefined, 'a new overlay: the full reconcile');
  },
);
