import t from 'tap';
import fc from 'fast-check';
import { planReconcile, planSize, type RemoteEndpoint } from '../../dataplane/reconcile-plan.js';
import type { FdbEntry, NeighEntry } from '../../dataplane/netlink/rtnl.js';
import { NUD_NOARP, NUD_PERMANENT, NUD_REACHABLE } from '../../dataplane/netlink/constants.js';

const fdb = (mac: string, dst: string): FdbEntry => ({
  mac,
  dst,
  self: true,
  master: false,
  state: NUD_PERMANENT,
  ifindex: 3,
});
const neigh = (ip: string, mac: string): NeighEntry => ({ ip, mac, state: NUD_PERMANENT, ifindex: 3 });

t.test('empty kernel: one replace per fdb and neighbour entry', async (t) => {
  const want: RemoteEndpoint[] = [{ mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.2' }];
  const p = planReconcile([], [], want);
  t.same(p.fdbReplace, [{ mac: '02:00:00:00:00:01', dst: '198.51.100.2' }]);
  t.same(p.neighReplace, [{ ip: '198.18.0.1', mac: '02:00:00:00:00:01' }]);
  t.equal(planSize(p), 2);
});

t.test('matching kernel: nothing to do; bridge-local permanent entry untouched', async (t) => {
  const want: RemoteEndpoint[] = [{ mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.2' }];
  const local: FdbEntry = { mac: '0a:0b:0c:0d:0e:0f', self: false, master: true, state: NUD_PERMANENT, ifindex: 3 };
  t.equal(
    planSize(
      planReconcile(
        [fdb('02:00:00:00:00:01', '198.51.100.2'), local],
        [neigh('198.18.0.1', '02:00:00:00:00:01')],
        want,
      ),
    ),
    0,
  );
});

t.test('wrong VTEP, stale and learned entries, extra remotes', async (t) => {
  const want: RemoteEndpoint[] = [{ mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.2' }];
  const learned: FdbEntry = { mac: '02:00:00:00:00:09', self: false, master: true, state: NUD_REACHABLE, ifindex: 3 };
  const staticWanted: FdbEntry = { mac: '02:00:00:00:00:01', self: false, master: true, state: NUD_NOARP, ifindex: 3 };
  const p = planReconcile(
    [
      fdb('02:00:00:00:00:01', '198.51.100.3'),
      fdb('02:00:00:00:00:01', '198.51.100.2'),
      fdb('02:00:00:00:00:05', '198.51.100.4'),
      learned,
      staticWanted,
    ],
    [
      neigh('198.18.0.1', '02:00:00:00:00:07'),
      { ip: '198.18.0.5', state: NUD_REACHABLE, ifindex: 3, mac: '02:00:00:00:00:05' },
    ],
    want,
  );
  t.same(p.fdbDelete, [{ mac: '02:00:00:00:00:01', dst: '198.51.100.3' }, { mac: '02:00:00:00:00:05' }]);
  t.same(p.fdbReplace, [{ mac: '02:00:00:00:00:01', dst: '198.51.100.2' }]);
  t.same(p.masterDelete, ['02:00:00:00:00:09'], 'learned entry goes; a static entry of a wanted MAC stays');
  t.same(p.neighReplace, [{ ip: '198.18.0.1', mac: '02:00:00:00:00:01' }]);
  t.same(p.neighDelete, ['198.18.0.5']);
});

/** Applies a plan to a model of the kernel tables, the way the kernel would. */
function apply(kFdb: Map<string, string>, kNeigh: Map<string, string>, want: RemoteEndpoint[]): void {
  const toFdb = (m: Map<string, string>) => [...m].map(([mac, dst]) => fdb(mac, dst));
  const toNeigh = (m: Map<string, string>) => [...m].map(([ip, mac]) => neigh(ip, mac));
  const p = planReconcile(toFdb(kFdb), toNeigh(kNeigh), want);
  for (const d of p.fdbDelete) kFdb.delete(d.mac);
  for (const r of p.fdbReplace) kFdb.set(r.mac, r.dst);
  for (const ip of p.neighDelete) kNeigh.delete(ip);
  for (const r of p.neighReplace) kNeigh.set(r.ip, r.mac);
}

t.test('property: any kernel state converges in one plan, and the next plan is empty', async (t) => {
  const mac = fc.integer({ min: 1, max: 30 }).map((n) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`);
  const vtep = fc.integer({ min: 1, max: 5 }).map((n) => `198.51.100.${n}`);
  const ip = fc.integer({ min: 1, max: 30 }).map((n) => `198.18.0.${n}`);
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(
          fc.array(fc.tuple(mac, vtep)),
          fc.array(fc.tuple(ip, mac)),
          fc.uniqueArray(fc.tuple(mac, ip, vtep), { selector: ([m]) => m }),
          (kf, kn, w) => {
            // Distinct IPs too (the validator guarantees it for real input).
            const seenIp = new Set<string>();
            const want = w
              .filter(([, i]) => !seenIp.has(i) && seenIp.add(i))
              .map(([m, i, v]) => ({ mac: m, ip: i, vtep: v }));
            const kFdb = new Map(kf);
            const kNeigh = new Map(kn);
            apply(kFdb, kNeigh, want);
            const sortedF = [...kFdb].sort();
            const sortedN = [...kNeigh].sort();
            const expF = want.map((e) => [e.mac, e.vtep]).sort();
            const expN = want.map((e) => [e.ip, e.mac]).sort();
            const p2 = planReconcile(
              [...kFdb].map(([m, d]) => fdb(m, d)),
              [...kNeigh].map(([i, m]) => neigh(i, m)),
              want,
            );
            return (
              JSON.stringify(sortedF) === JSON.stringify(expF) &&
              JSON.stringify(sortedN) === JSON.stringify(expN) &&
              planSize(p2) === 0
            );
          },
        ),
        { numRuns: 300 },
      ),
    '300 random kernel states converged',
  );
});

t.test('an endpoint with an IPv6 address: its static IPv6 neighbour beside the ARP entry, in one plan', async (t) => {
  const want: RemoteEndpoint[] = [
    { mac: '02:00:00:00:00:01', ip: '198.18.0.1', ip6: '2001:db8:40::1', vtep: '198.51.100.2' },
  ];
  t.same(planReconcile([], [], want).neighReplace, [
    { ip: '198.18.0.1', mac: '02:00:00:00:00:01' },
    { ip: '2001:db8:40::1', mac: '02:00:00:00:00:01' },
  ]);
  const programmed = [neigh('198.18.0.1', '02:00:00:00:00:01'), neigh('2001:db8:40::1', '02:00:00:00:00:01')];
  t.equal(
    planSize(planReconcile([fdb('02:00:00:00:00:01', '198.51.100.2')], programmed, want)),
    0,
    'in place: nothing',
  );
  const lost = planReconcile([fdb('02:00:00:00:00:01', '198.51.100.2')], programmed, [
    { mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.2' },
  ]);
  t.same(lost.neighDelete, ['2001:db8:40::1'], 'the address gone from the endpoint: its entry goes');
  const wrong = planReconcile(
    [fdb('02:00:00:00:00:01', '198.51.100.2')],
    [neigh('198.18.0.1', '02:00:00:00:00:01'), neigh('2001:db8:40::1', '02:00:00:00:00:99')],
    want,
  );
  t.same(wrong.neighReplace, [{ ip: '2001:db8:40::1', mac: '02:00:00:00:00:01' }], 'a wrong lladdr: replaced');
});
