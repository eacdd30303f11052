/**
 * A member writing records as fast as it can: every other member takes at most its budget of that
 * owner's records (burst + rate × time), whether they come by gossip or by anti-entropy, counts the
 * rest by path, and still gets every record once the flood stops (sync offers them again).
 */
import t from 'tap';
import { DiscoveryCluster, endpointOf } from '../fixtures/discovery-cluster.js';
import { eventually } from '../fixtures/members.js';

const RATE = 100;
const BURST = 100;
const RECORDS = 1500;
const c = await DiscoveryCluster.create(
  3,
  { floodRecordsPerSecond: RATE, floodBurst: BURST, pushPullIntervalMs: 1000 },
  'fl',
);
t.teardown(() => c.teardown());

t.test('a flooding member is held to its record budget on both paths, and converges afterwards', async (t) => {
  // The flooder's own syncs push everything the peer lacks (its sync cap is its own budget setting):
  // the honest members' budget, not the flooder's restraint, must hold on the anti-entropy path too.
  const [h1, h2, flooder] = [c.start(1, { seeds: [] }), c.start(2), c.start(3, { timers: { floodBurst: 100_000 } })];
  await Promise.all([h1.ready, h2.ready, flooder.ready]);
  t.ok(
    await eventually(
      async () =>
        (await Promise.all([h1, h2].map((p) => p.snapshot()))).every(
          (s) => s.members.filter((m) => m.state === 'alive').length === 3 && s.stats.syncRuns > 0,
        ),
      20_000,
    ),
    'three members alive, first syncs done',
  );
  // The honest members hold the network's records: each has an endpoint in it (records are scoped by interest).
  await h1.call('putEndpoint', { ...endpointOf(c.tb, 1, 1), network: 'fl' });
  await h2.call('putEndpoint', { ...endpointOf(c.tb, 2, 1), network: 'fl' });
  const floods = (s: { endpoints: string[] }) => s.endpoints.filter((e) => e.startsWith('fl/flood-')).length;
  const t0 = performance.now();
  let floodMs = 0;
  const flood = flooder.call<{ records: number }>('flood', { ms: 60_000, count: RECORDS, network: 'fl' }).then((r) => {
    floodMs = performance.now() - t0;
    return r;
  });
  // While the flood lasts, and for 3 s after it (anti-entropy keeps offering its records).
  let over = '';
  let samples = 0;
  for (let done = false; !done;) {
    done = floodMs > 0 && performance.now() - t0 > floodMs + 3000;
    const s = await h2.snapshot();
    const bound = BURST + RATE * ((performance.now() - t0) / 1000 + 0.5);
    samples++;
    if (floods(s) > bound && !over)
      over = `${floods(s)} records after ${Math.round(performance.now() - t0)} ms (bound ${Math.round(bound)})`;
    await new Promise((r) => setTimeout(r, 250));
  }
  const { records } = await flood;
  t.equal(records, RECORDS, `the flooder wrote ${RECORDS} records in ${(floodMs / 1000).toFixed(1)} s`);
  t.ok(
    records / (floodMs / 1000) > 2 * RATE,
    `faster than the budget (${Math.round(records / (floodMs / 1000))}/s against ${RATE}/s)`,
  );
  t.equal(over, '', `h2 never held more of the flooder's records than burst + rate × time (${samples} samples)`);
  t.ok((await h2.snapshot()).stats.rateLimitedByPath.gossip > 0, 'gossiped records over the budget ignored');
  t.ok(
    await eventually(
      async () => (await Promise.all([h1, h2].map((p) => p.snapshot()))).every((s) => floods(s) === records),
      120_000,
      500,
    ),
    `after the flood, both honest members hold all ${records} records (anti-entropy at the budget's pace)`,
  );
  const late = performance.now() - t0;
  // Counted over the whole run on both honest members: which syncs met a full budget is timing.
  const limited = (await Promise.all([h1, h2].map((p) => p.snapshot()))).map((s) => s.stats.rateLimitedByPath);
  t.ok(
    limited.every((l) => l.gossip > 0),
    `gossip: records over the budget ignored on both (${limited.map((l) => l.gossip).join(', ')})`,
  );
  t.ok(
    limited.some((l) => l.sync > 0),
    `anti-entropy: records offered over the budget not merged (${limited.map((l) => l.sync).join(', ')})`,
  );
  t.comment(`all records everywhere ${(late / 1000).toFixed(1)} s after the flood started`);
});
