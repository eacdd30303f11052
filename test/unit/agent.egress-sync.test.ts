/** The agent's egress with fakes: gateway links per network, published ports checked and handed to the packet filter. */
import t from 'tap';
import { Agent } from '../../agent/agent.js';
import { decodeAttach } from '../../agent/requests.js';
import type { EgressPort } from '../../agent/ports.js';
import type { EgressNetwork, GuardedNetwork } from '../../egress/rules.js';
import { agentParts, FakeCluster, FakeOverlay } from '../fixtures/agent-fakes.js';
import { silentLogger } from '../../core/logger.js';
import { EGRESS_EVERY, EGRESS_EVERY_WATCHED, EgressSync, FILTER_CHANGE_DELAY_MS } from '../../agent/egress-sync.js';
import { Overlays } from '../../agent/overlays.js';

function fakeEgress(busy: string[] = []) {
  const runs: EgressNetwork[][] = [];
  const guardedRuns: GuardedNetwork[][] = [];
  const port: EgressPort = {
    reconcile: (nets, guarded) => {
      runs.push(nets);
      guardedRuns.push(guarded);
      return Promise.resolve({ changes: [], errors: [] });
    },
    drift: () => Promise.resolve([]),
    counters: { runs: 0, changes: 0, errors: 0 },
    hostPortFree: (protocol, p) => Promise.resolve(!busy.includes(`${p}/${protocol}`)),
  };
  return { port, runs, guardedRuns };
}

/** An egress sync with no network and no endpoint, over `port`. */
function emptySync(port: Pick<EgressPort, 'reconcile' | 'drift' | 'watchChanges' | 'stopWatching'>): EgressSync {
  const driver = new FakeOverlay();
  return new EgressSync(
    { networks: () => new Map(), endpoints: () => [] },
    driver,
    new Overlays(driver, true),
    port,
    silentLogger,
  );
}

async function setup(egress?: EgressPort) {
  const cluster = new FakeCluster('self');
  const driver = new FakeOverlay();
  const agent = new Agent(agentParts({ cluster, driver, egress }));
  await agent.start();
  await agent.createNetwork({ name: 'web', subnet: '198.18.9.0/24' });
  await agent.createNetwork({ name: 'sealed', subnet: '198.18.10.0/24', internal: true });
  return { cluster, driver, agent };
}

t.test(
  "attach with --publish: the packet filter gets the network's link and the port; detach takes it away",
  async (t) => {
    const e = fakeEgress();
    const { agent, driver } = await setup(e.port);
    t.teardown(() => agent.stop());
    const ep = await agent.attach(decodeAttach({ network: 'web', netns: 'ct1', publish: ['8080:80'] }));
    t.same(ep.publish, [{ protocol: 'tcp', hostPort: 8080, port: 80 }]);
    const vni = agent.network('web').vni;
    t.equal(driver.overlays.get(vni)?.egress, true, 'the overlay is built with egress');
    const last = e.runs.at(-1) ?? [];
    t.same(
      last.map((n) => [n.name, n.hostIfname, n.publish]),
      [['web', `vxg${vni}`, [{ protocol: 'tcp', hostPort: 8080, port: 80, ip: ep.ip }]]],
    );
    await agent.detach({ network: 'web', netns: 'ct1' });
    t.same(e.runs.at(-1), [], 'no network with a local endpoint: nothing for the packet filter');
  },
);

t.test('publish refusals name publish: taken here, in use by a process, internal network, egress off', async (t) => {
  const e = fakeEgress(['9090/tcp']);
  const { agent, driver } = await setup(e.port);
  t.teardown(() => agent.stop());
  await agent.attach(decodeAttach({ network: 'web', netns: 'ct1', publish: ['8080:80'] }));
  await t.rejects(
    agent.attach(decodeAttach({ network: 'web', netns: 'ct2', publish: ['8080:81'] })),
    /publish: host port 8080\/tcp is already published/,
  );
  await t.rejects(
    agent.attach(decodeAttach({ network: 'web', netns: 'ct3', publish: ['9090:80'] })),
    /publish: host port 9090\/tcp is in use on this host/,
  );
  await t.rejects(
    agent.attach(decodeAttach({ network: 'sealed', netns: 'ct4', publish: ['8081:80'] })),
    /publish: network sealed is internal/,
  );
  t.throws(() => decodeAttach({ network: 'web', netns: 'ct5', publish: 'nonsense' }), /publish/);
  t.equal(agent.localEndpoints().length, 1, 'no refused attach left an endpoint');
  const internal = await agent.attach(decodeAttach({ network: 'sealed', netns: 'ct6' }));
  t.equal(driver.overlays.get(internal.vni)?.egress, false, "an internal network's overlay has no gateway link");
  t.notOk(
    (e.runs.at(-1) ?? []).some((n) => n.name === 'sealed'),
    'and no rules',
  );
  const off = await setup(undefined);
  t.teardown(() => off.agent.stop());
  await t.rejects(
    off.agent.attach(decodeAttach({ network: 'web', netns: 'ct1', publish: ['8080:80'] })),
    /publish: egress is off on this agent/,
  );
  const plain = await off.agent.attach(decodeAttach({ network: 'web', netns: 'ct1' }));
  t.equal(off.driver.overlays.get(plain.vni)?.egress, false, 'egress off: no gateway link');
});

t.test('the periodic egress check runs every EGRESS_EVERY ticks, not every tick', async (t) => {
  const e = fakeEgress();
  const sync = emptySync(e.port);
  for (let i = 1; i <= 2 * EGRESS_EVERY; i++) await sync.periodic();
  t.equal(e.runs.length, 2, `2 runs in ${2 * EGRESS_EVERY} ticks`);
  await sync.run();
  t.equal(e.runs.length, 3, 'run() is immediate');
});

t.test("every network with a local endpoint gets its DNS server's kernel guard, internal ones too", async (t) => {
  const e = fakeEgress();
  const { agent, driver } = await setup(e.port);
  t.teardown(() => agent.stop());
  const web = await agent.attach(decodeAttach({ network: 'web', netns: 'ct1' }));
  const sealed = await agent.attach(decodeAttach({ network: 'sealed', netns: 'ct2' }));
  const last = (e.guardedRuns.at(-1) ?? []).map((g) => [g.name, g.vni, g.netns]).sort();
  t.same(
    last,
    [
      ['sealed', sealed.vni, driver.overlayNetnsPath(sealed.vni)],
      ['web', web.vni, driver.overlayNetnsPath(web.vni)],
    ],
    'both overlay namespaces',
  );
  t.same(
    (e.runs.at(-1) ?? []).map((n) => n.name),
    ['web'],
    'egress only for the one that is not internal',
  );
  await agent.detach({ network: 'sealed', netns: 'ct2' });
  t.same(
    (e.guardedRuns.at(-1) ?? []).map((g) => g.name),
    ['web'],
    'a network without local endpoints leaves the list',
  );
});

t.test('a run asked for while one is in progress waits for a run that starts after it', async (t) => {
  const calls: string[][] = [];
  let release: () => void = () => undefined;
  let eps = ['before'];
  const port: Pick<EgressPort, 'reconcile' | 'drift'> = {
    reconcile: async () => {
      const seen = [...eps];
      await new Promise((r) => setImmediate(r)); // the packet filter takes its time
      calls.push(seen);
      if (calls.length === 1) await new Promise<void>((r) => (release = r));
      return { changes: [], errors: [] };
    },
    drift: () => Promise.resolve([]),
  };
  const sync = new EgressSync(
    { networks: () => new Map(), endpoints: () => [] },
    { ensureGatewayLink: () => Promise.resolve(undefined), overlayNetnsPath: (v: number) => `/run/netns/x${v}` },
    new Overlays(new FakeOverlay()),
    port,
    silentLogger,
  );
  const first = sync.run();
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  eps = ['after']; // a detach, say: its change is not in the run in progress
  const second = sync.run();
  const third = sync.run();
  t.equal(second, third, 'one queued run for every caller meanwhile');
  const runsWhenSecondReturned = second.then(() => calls.length);
  release();
  await first;
  t.equal(await runsWhenSecondReturned, 2, 'the second caller returned only after the run after the first');
  t.same(calls, [['before'], ['after']], 'and that run saw its change');
});

t.test('an attach or detach that changes nothing egress is made of runs no packet-filter reconcile', async (t) => {
  const e = fakeEgress();
  const { agent } = await setup(e.port);
  t.teardown(() => agent.stop());
  await agent.attach(decodeAttach({ network: 'web', netns: 'ct1' }));
  const runs = e.runs.length;
  await agent.attach(decodeAttach({ network: 'web', netns: 'ct2' }));
  t.equal(e.runs.length, runs, 'a second endpoint of the network: no run');
  await agent.attach(decodeAttach({ network: 'web', netns: 'ct3', publish: ['8080:80'] }));
  t.equal(e.runs.length, runs + 1, 'a published port: a run');
  await agent.detach({ network: 'web', netns: 'ct2' });
  t.equal(e.runs.length, runs + 1, 'a detach that leaves the same: no run');
  await agent.detach({ network: 'web', netns: 'ct3' });
  t.equal(e.runs.length, runs + 2, 'its published port goes: a run');
  await agent.attach(decodeAttach({ network: 'sealed', netns: 'ct4' }));
  t.equal(e.runs.length, runs + 3, 'another network: a run');
});

t.test('with packet-filter changes reported, a report starts a run; the periodic run is a safety net', async (t) => {
  const e = fakeEgress();
  let report: () => void = () => undefined;
  let stopped = 0;
  e.port.watchChanges = (onChange) => {
    report = onChange;
    return Promise.resolve(true);
  };
  e.port.stopWatching = () => void stopped++;
  const sync = emptySync(e.port);
  await sync.watch();
  t.ok(sync.watched, 'watched');
  for (let i = 1; i <= EGRESS_EVERY_WATCHED - 1; i++) await sync.periodic();
  t.equal(e.runs.length, 0, `no periodic run in ${EGRESS_EVERY_WATCHED - 1} ticks`);
  await sync.periodic();
  t.equal(e.runs.length, 1, `one at tick ${EGRESS_EVERY_WATCHED}`);
  report();
  report();
  report();
  await new Promise((r) => setTimeout(r, FILTER_CHANGE_DELAY_MS + 100));
  t.equal(e.runs.length, 2, 'three reports close together: one run');
  sync.stopWatching();
  t.equal(stopped, 1, 'stopWatching stops the listeners');
  t.notOk(sync.watched);

  const legacy = fakeEgress();
  legacy.port.watchChanges = () => Promise.resolve(false);
  const plain = emptySync(legacy.port);
  await plain.watch();
  for (let i = 1; i <= EGRESS_EVERY; i++) await plain.periodic();
  t.equal(legacy.runs.length, 1, `no reports (legacy iptables): a run every ${EGRESS_EVERY} ticks as before`);
});
