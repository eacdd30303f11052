/**
 * Faults together, shortened (the full run: `npm run chaos`, ten hosts for 10 minutes): on 4 hosts,
 * host 4 on the previous release, underlay cuts, kill -9 loops, a reboot and churn at the same time
 * under pings between every pair of hosts; then host 4's upgrade under the same pings and churn. After
 * each: every kernel right, and every host's endpoints, claims and names the same.
 */
import t, { type Test } from 'tap';
import { COMBINED_SHORT, CombinedRun, type PhaseReport } from '../chaos/combined.js';
import { buildPreviousAgent } from '../fixtures/previous-release.js';

const previous = buildPreviousAgent();
t.teardown(() => previous.remove());
const run = await CombinedRun.create(COMBINED_SHORT, { previous, previousHosts: [4] });
t.teardown(() => run.teardown());

const sameEverywhere = (t: Test, r: PhaseReport) => {
  t.same(r.errors, [], 'no errors (restarts, churn, convergence, views)');
  t.ok(r.convergenceMs !== undefined, `every kernel right ${r.convergenceMs} ms after the last fault`);
  t.same(r.views?.endpointDiffs, [], 'every host lists the same endpoints');
  t.same(r.views?.ipamDiffs, [], 'every host holds the same address claims');
  t.same(r.views?.heldTwice, [], 'no address held by two endpoints');
  t.same(r.views?.dnsDiffs, [], "every host's DNS answers every container's name with its address");
  t.equal(r.views?.names, 4, 'one named container per host asked for');
};

t.test('cuts, kill loops, a reboot and churn together, one host on the previous release', async (t) => {
  const r = await run.combinedFaults();
  t.comment(JSON.stringify(r.windows));
  t.ok((r.kills as number) > 0 && (r.cuts as number) > 0 && (r.reboots as number) > 0, 'every fault happened');
  t.ok((r.churnCycles as number) > 0, `churn went on (${String(r.churnCycles)} cycles)`);
  t.ok(r.pingsSent > 0, `pings between hosts under no cut or reboot were counted (${r.pingsSent})`);
  t.equal(r.pingsLost, 0, 'none lost between hosts the faults do not cut off');
  t.same(r.lostByPair, {});
  sameEverywhere(t, r);
});

t.test('the previous-release host upgraded under pings and churn: nothing lost', async (t) => {
  t.equal(run.buildOf(4), 'previous');
  const r = await run.rollingUpgrade([4]);
  t.equal(run.buildOf(4), 'current', 'host 4 runs this build');
  t.ok(r.pingsSent > 0);
  t.equal(r.pingsLost + r.warmupLost + r.excusedLost, 0, `no ping lost (${r.pingsSent} sent)`);
  sameEverywhere(t, r);
});
