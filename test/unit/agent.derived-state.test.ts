/**
 * The derived state (agent/derived-state.ts) over fakes: owners, admission, desired sets, names and
 * endpoint rows from one cluster view; reads have no side effects; what is remembered follows the
 * change counters. And the change report (agent/change-report.ts): conflicts logged once, where the
 * reconcile loop hands a desired state over.
 */
import t from 'tap';
import { blueEndpoint } from '../fixtures/endpoints.js';
import { ChangeReport } from '../../agent/change-report.js';
import { DerivedState, type DerivedStateInputs } from '../../agent/derived-state.js';
import { FakeCluster, recordingLog } from '../fixtures/agent-fakes.js';

const H2 = '198.51.100.2';
const H3 = '198.51.100.3';

const ep = blueEndpoint;

/** h2 and h3 alive, each with a /28 claim of blue; the local endpoints given. */
function setup(
  over: Partial<DerivedStateInputs> = {},
  local: Array<{ network: string; mac: string; ip: string }> = [],
) {
  const cluster = new FakeCluster('self');
  cluster.addMember({ peerId: 'h2', name: 'h2', vtep: H2 });
  cluster.addMember({ peerId: 'h3', name: 'h3', vtep: H3 });
  cluster.claim('h2', 'blue', '198.18.5.16/28');
  cluster.claim('h3', 'blue', '198.18.5.32/28');
  const hold = { held: new Set<string>(), silent: new Set<string>() };
  const derived = new DerivedState({
    cluster,
    vtep: '198.51.100.1',
    hold: { isHeld: (p) => hold.held.has(p), isSilent: (p) => hold.silent.has(p) },
    localEndpoints: () => local,
    ...over,
  });
  return { cluster, hold, derived };
}

t.test('desired sets: admitted records of live owners; refused, dead and own ones left out', async (t) => {
  const { cluster, derived } = setup();
  cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2));
  cluster.remote('endpoint', 'h3', ep('b', '198.18.5.33', H3));
  cluster.remote('endpoint', 'h3', ep('stolen', '198.18.5.18', H3)); // inside h2's claim
  cluster.remote('endpoint', 'h3', ep('wrong-vtep', '198.18.5.34', H2)); // h2's VTEP
  const d = derived.desired();
  t.same(
    d.byNetwork.get('blue')?.map((r) => r.ip),
    ['198.18.5.17', '198.18.5.33'],
    'only records bound to a claim of their owner and pointing at its VTEP',
  );
  t.same(
    derived
      .admission()
      .refused.map((r) => `${r.id}:${r.reason}`)
      .sort(),
    ['stolen:ip-not-claimed', 'wrong-vtep:vtep-not-owner'],
  );
  cluster.setState('h3', 'dead');
  t.same(
    derived
      .desired()
      .byNetwork.get('blue')
      ?.map((r) => r.ip),
    ['198.18.5.17'],
    "a dead owner's records leave (not held)",
  );
  t.equal(derived.owners().get('h3'), 'suspended');
});

t.test('held owners stay programmed; a silent suspect is withdrawn', async (t) => {
  const { cluster, hold, derived } = setup();
  cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2));
  cluster.setState('h2', 'dead');
  hold.held.add('h2');
  t.equal(derived.owners().get('h2'), 'held');
  t.equal(derived.desired().byNetwork.get('blue')?.length, 1, 'a held owner keeps its entries');
  cluster.setState('h2', 'suspect');
  hold.silent.add('h2');
  t.equal(derived.owners().get('h2'), 'withdrawn');
  t.equal(derived.desired().byNetwork.get('blue')?.length ?? 0, 0, 'a silent suspect loses them');
});

t.test('a local endpoint keeps its address: the remote record is a local conflict, shown in the rows', async (t) => {
  const local = [{ network: 'blue', mac: '02:00:00:00:00:01', ip: '198.18.5.17' }];
  const { cluster, derived } = setup({}, local);
  cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2));
  const d = derived.desired();
  t.same(d.byNetwork.get('blue'), []);
  t.same(
    derived.refusals(d).local.map((r) => `${r.id}:${r.reason}`),
    ['a:local-conflict'],
  );
  t.same(
    derived.endpointRows('blue').map((r) => `${r.id} ${r.status}`),
    ['a refused: local-conflict'],
  );
});

t.test('reads have no side effects: nothing logged, the same result for the same table', async (t) => {
  const log = recordingLog();
  const { cluster, derived } = setup();
  cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2, { name: 'web' }));
  cluster.remote('endpoint', 'h3', ep('b', '198.18.5.33', H3, { name: 'web' }));
  cluster.remote('endpoint', 'h3', ep('stolen', '198.18.5.18', H3));
  const first = derived.admission();
  t.equal(derived.admission(), first, 'the same table and context: the same admission object');
  t.equal(derived.nameConflicts(), derived.nameConflicts(), 'name conflicts remembered per table version');
  t.same(
    derived.nameConflicts().map((c) => `${c.name}:${c.id}→${c.holderId}`),
    ['web:b→a'],
  );
  derived.desired();
  derived.endpointRows();
  derived.owners();
  t.same(log.lines, [], 'nothing logged by any read');
  cluster.claim('h3', 'blue', '198.18.5.18/32', 0);
  t.not(derived.admission(), first, 'a new claim (the claims counter moved): admitted anew');
  t.same(derived.admission().refused, [], 'the /32 claim of h3 (earlier than h2 block) binds the record');
});

t.test(
  'a new record re-checks only itself: unchanged verdicts are the same objects; a new member resets',
  async (t) => {
    const { cluster, derived } = setup();
    cluster.remote('endpoint', 'h3', ep('stolen', '198.18.5.18', H3));
    const before = derived.admission().refused[0];
    cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2));
    const after = derived.admission();
    t.equal(after.admitted.length, 1);
    t.equal(after.refused[0], before, 'the refusal of the unchanged record is the same object (remembered verdict)');
    cluster.addMember({ peerId: 'h5', name: 'h5', vtep: '198.51.100.5' });
    t.not(derived.admission().refused[0], before, 'the members changed (their counter moved): checked anew');
    t.same(derived.admission().refused[0], before, 'with the same verdict');
  },
);

t.test('change report: VTEP conflicts, name conflicts and refusals logged once, when they appear', async (t) => {
  const log = recordingLog();
  const { cluster, derived } = setup();
  const report = new ChangeReport(derived, cluster, log);
  cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2, { name: 'web' }));
  cluster.remote('endpoint', 'h3', ep('b', '198.18.5.33', H3, { name: 'web' }));
  cluster.remote('endpoint', 'h3', ep('stolen', '198.18.5.18', H3));
  cluster.addMember({ peerId: 'h4', name: 'h4', vtep: H2, incarnation: 5 });
  report.report(derived.desired());
  report.report(derived.desired());
  const warned = (re: RegExp) => log.lines.filter((l) => l.level === 'warn' && re.test(l.msg)).length;
  t.equal(warned(/announces the VTEP of another live member/), 1, 'the VTEP conflict of h4, once');
  t.equal(warned(/endpoint name web of network blue is held by a/), 1, 'the name conflict, once');
  t.equal(warned(/endpoint refused/), 1, 'the refused record, once');
  t.equal(report.refusals.total, 1, 'counted once');
  t.equal(report.refusals.counts().get('ip-not-claimed'), 1);
  cluster.setState('h4', 'dead');
  report.report(derived.desired());
  cluster.setState('h4', 'alive');
  report.report(derived.desired());
  t.equal(
    warned(/announces the VTEP of another live member/),
    2,
    'a conflict that ends and comes back is logged again',
  );
});

t.test('names: a record the claims rule refused takes no name, even with an earlier Lamport time', async (t) => {
  const { cluster, derived } = setup();
  // h3 squats "web" first (earlier Lamport) with an address inside h2's claim: refused.
  cluster.remote('endpoint', 'h3', ep('squat', '198.18.5.20', H3, { name: 'web' }), 1);
  cluster.remote('endpoint', 'h2', ep('real', '198.18.5.17', H2, { name: 'web' }), 2);
  t.same(
    derived.admission().refused.map((r) => `${r.id}:${r.reason}`),
    ['squat:ip-not-claimed'],
  );
  t.same(derived.nameConflicts(), [], 'no conflict: the refused record holds nothing');
  const real = derived.endpointRows('blue').find((r) => r.id === 'real');
  t.equal(real?.nameHeldBy, undefined, 'the real holder keeps its name');
  t.equal(real?.status, 'remote');
});

t.test(
  'the desired state is remembered: the same inputs give the same object; every input of it gives a new one',
  async (t) => {
    const local: Array<{ network: string; mac: string; ip: string }> = [];
    const { cluster, hold, derived } = setup({}, local);
    cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2));
    cluster.remote('endpoint', 'h3', ep('b', '198.18.5.33', H3));
    const first = derived.desired();
    t.equal(derived.desired(), first, 'nothing changed: the same object (DNS and rows read it again)');
    t.same(derived.refusals().local, [], 'no local conflicts');
    const ips = () =>
      derived
        .desired()
        .byNetwork.get('blue')
        ?.map((r) => r.ip);
    t.same(ips(), ['198.18.5.17', '198.18.5.33']);
    local.push({ network: 'blue', mac: '02:00:00:00:00:09', ip: '198.18.5.17' });
    t.same(ips(), ['198.18.5.33'], 'a local endpoint added (same table): recomputed, its address kept out');
    local.pop();
    t.same(ips(), ['198.18.5.17', '198.18.5.33'], 'and removed');
    cluster.setState('h3', 'dead');
    hold.held.add('h3');
    t.same(ips(), ['198.18.5.17', '198.18.5.33'], 'h3 held (the watch, no counter of its own)');
    hold.held.delete('h3');
    t.same(ips(), ['198.18.5.17'], "h3's hold over: its entry leaves");
    cluster.setState('h3', 'alive');
    const before = derived
      .desired()
      .byNetwork.get('blue')
      ?.find((r) => r.ip === '198.18.5.17');
    cluster.putNetwork({ name: 'blue', subnet: '198.18.5.0/24', vni: 4100, encrypted: true });
    cluster.addMember({ peerId: 'h2', name: 'h2', vtep: H2, tunnel: '198.19.255.2' });
    t.same(
      derived
        .desired()
        .byNetwork.get('blue')
        ?.map((r) => `${r.ip}>${r.vtep}`),
      ['198.18.5.17>198.19.255.2'],
      'the network encrypted: only h2 announced a tunnel address, and its entry points there',
    );
    t.not(
      derived.desired().byNetwork.get('blue')?.[0],
      before,
      'a remembered kernel entry is not reused for another VTEP',
    );
  },
);

t.test("a member's state changing checks no record again; its VTEP changing checks them all", async (t) => {
  const { cluster, derived } = setup();
  cluster.remote('endpoint', 'h2', ep('a', '198.18.5.17', H2));
  cluster.remote('endpoint', 'h3', ep('b', '198.18.5.33', H3));
  cluster.remote('endpoint', 'h3', ep('stolen', '198.18.5.18', H3)); // inside h2's claim
  const refusal = derived.admission().refused[0];
  t.equal(refusal?.id, 'stolen');
  cluster.setState('h3', 'suspect');
  cluster.setState('h2', 'dead');
  // A record checked again gets a new refusal object; one remembered keeps its own.
  t.equal(derived.admission().refused[0], refusal, "suspect and dead members: the records' checks remembered");
  t.same(
    derived
      .desired()
      .byNetwork.get('blue')
      ?.map((r) => r.ip),
    ['198.18.5.33'],
    "the desired state still follows the states (h2's record left out)",
  );
  cluster.addMember({ peerId: 'h3', name: 'h3', vtep: '198.51.100.33' });
  t.not(derived.admission().refused[0], refusal, 'a new VTEP: every record checked again');
  t.same(
    derived
      .admission()
      .refused.map((r) => `${r.id}:${r.reason}`)
      .sort(),
    ['b:vtep-not-owner', 'stolen:vtep-not-owner'],
    "h3's records point at its old VTEP",
  );
});

t.test(
  'one record more, rewritten or gone: admission and desired state stepped; a local endpoint: in full',
  async (t) => {
    const local: Array<{ network: string; mac: string; ip: string }> = [];
    const { cluster, derived } = setup({}, local);
    for (let i = 17; i < 30; i++) cluster.remote('endpoint', 'h2', ep(`a${i}`, `198.18.5.${i}`, H2));
    const first = derived.desired();
    t.same(derived.counts, { stepped: 0, full: 1 });
    cluster.remote('endpoint', 'h3', ep('b', '198.18.5.33', H3));
    cluster.remote('endpoint', 'h2', ep('a20', '198.18.5.30', H2)); // rewritten: a new address
    const second = derived.desired();
    cluster.dropEndpoint('h2', 'blue', 'a20');
    const third = derived.desired();
    t.same(derived.counts, { stepped: 2, full: 1 }, 'two changes, each a step');
    t.equal(first.byNetwork.get('blue')?.length, 13, 'the list written before is left as it was');
    t.same(
      second.byNetwork.get('blue')?.map((r) => r.ip),
      [17, 18, 19, 21, 22, 23, 24, 25, 26, 27, 28, 29, 33, 30].map((n) => `198.18.5.${n}`),
    );
    t.notOk(
      third.byNetwork.get('blue')?.some((r) => r.ip === '198.18.5.30'),
      'the deleted record left',
    );
    local.push({ network: 'blue', mac: '02:00:00:00:00:01', ip: '198.18.5.99' });
    derived.desired();
    t.same(derived.counts, { stepped: 2, full: 2 }, 'local endpoints changed: computed in full');
  },
);
