/** Reconcile by difference: the writes it plans take a kernel holding `before` to what the full reconcile would. */
import fc from 'fast-check';
import { remoteOf, remoteSpec } from '../fixtures/remote-arbitraries.js';
import t from 'tap';
import { KernelEcho } from '../../dataplane/kernel-echo.js';
import { diffRemotes, planDelta } from '../../dataplane/reconcile-delta.js';
import { planReconcile, planSize, type ReconcilePlan, type RemoteEndpoint } from '../../dataplane/reconcile-plan.js';
import { NUD_NOARP, NUD_PERMANENT } from '../../dataplane/netlink/constants.js';
import type { FdbEntry, NeighEntry } from '../../dataplane/netlink/rtnl.js';

/** A kernel's tables as two maps (MAC → VTEP, IP → MAC), written by a plan in the order applyPlan uses. */
interface Tables {
  fdb: Map<string, string>;
  neigh: Map<string, string>;
}
const tablesOf = (set: RemoteEndpoint[]): Tables => {
  const k: Tables = { fdb: new Map(), neigh: new Map() };
  apply(k, planReconcile([], [], set));
  return k;
};
function apply(k: Tables, plan: ReconcilePlan): void {
  for (const ip of plan.neighDelete) k.neigh.delete(ip);
  for (const d of plan.fdbDelete) k.fdb.delete(d.mac);
  for (const f of plan.fdbReplace) k.fdb.set(f.mac, f.dst);
  for (const n of plan.neighReplace) k.neigh.set(n.ip, n.mac);
}
const asKernel = (k: Tables): { fdb: FdbEntry[]; neigh: NeighEntry[] } => ({
  fdb: [...k.fdb].map(
    ([mac, dst]) => ({ mac, dst, self: true, master: false, state: NUD_PERMANENT | NUD_NOARP }) as FdbEntry,
  ),
  neigh: [...k.neigh].map(([ip, mac]) => ({ ip, mac, state: NUD_PERMANENT }) as NeighEntry),
});

/** Sets of remote endpoints with unique MACs and addresses (what the agent's desired state is). */
const remoteSet = fc.uniqueArray(remoteSpec(12, 12), { selector: (x) => x.m, maxLength: 10 }).map((xs) => {
  const seen = new Set<number>();
  return xs.filter((x) => !seen.has(x.a) && seen.add(x.a)).map(remoteOf);
});

t.test(
  'property: a kernel holding `before` ends as the full reconcile leaves it, writing only entries that changed',
  async (t) => {
    fc.assert(
      fc.property(remoteSet, remoteSet, (before, after) => {
        const kernel = tablesOf(before);
        const delta = diffRemotes(before, after);
        apply(kernel, planDelta(delta, delta.upsert, true));
        const want = tablesOf(after);
        if (JSON.stringify([...kernel.fdb].sort()) !== JSON.stringify([...want.fdb].sort())) return false;
        if (JSON.stringify([...kernel.neigh].sort()) !== JSON.stringify([...want.neigh].sort())) return false;
        // Only entries that changed are written; a kernel already right gets no write from the full reconcile.
        const k1 = asKernel(kernel);
        if (planSize(planReconcile(k1.fdb, k1.neigh, after)) !== 0) return false;
        return delta.upsert.every(
          (e) => !before.some((x) => x.mac === e.mac && x.ip === e.ip && x.ip6 === e.ip6 && x.vtep === e.vtep),
        );
      }),
      { numRuns: 500 },
    );
    t.pass('500 random pairs of desired sets');
  },
);

t.test('the difference of one added, one moved, one removed entry; nothing when nothing changed', async (t) => {
  const a = { mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.1' };
  const b = { mac: '02:00:00:00:00:02', ip: '198.18.0.2', vtep: '198.51.100.1' };
  const c = { mac: '02:00:00:00:00:03', ip: '198.18.0.3', vtep: '198.51.100.2' };
  t.same(diffRemotes([a, b], [{ ...a }, { ...b }]), { upsert: [], upsertAt: [], removeMacs: [], removeIps: [] });
  const moved = { ...b, vtep: '198.51.100.3' };
  t.same(diffRemotes([a, b], [moved, c]), {
    upsert: [moved, c],
    upsertAt: [0, 1],
    removeMacs: ['02:00:00:00:00:01'],
    removeIps: ['198.18.0.1'],
  });
  // An address that went from one MAC to another: its neighbour entry is replaced, not deleted.
  const taken = { ...c, ip: '198.18.0.1' };
  const d = diffRemotes([a], [taken]);
  t.same(d.removeIps, [], 'the address is still wanted');
  t.same(planDelta(d, d.upsert, false).fdbDelete, [], 'add-only: nothing removed');
});

t.test('a set the full reconcile refuses is refused naming the entry', async (t) => {
  const a = { mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.1' };
  t.throws(() => diffRemotes([], [a, { ...a, vtep: '198.51.100.2' }]), {
    name: 'ValidationError',
    field: 'endpoints[1].mac',
  });
  t.throws(() => diffRemotes([], [a, { ...a, mac: '02:00:00:00:00:09' }]), {
    name: 'ValidationError',
    field: 'endpoints[1].ip',
  });
  t.throws(() => diffRemotes([], [a, null as unknown as RemoteEndpoint]), {
    name: 'ValidationError',
    field: 'endpoints[1]',
  });
});

t.test("the kernel's notifications of a difference's writes are told apart from anything else", async (t) => {
  const a = { mac: '02:00:00:00:00:01', ip: '198.18.0.1', ip6: '2001:db8::1', vtep: '198.51.100.1' };
  const b = { mac: '02:00:00:00:00:02', ip: '198.18.0.2', vtep: '198.51.100.1' };
  const delta = diffRemotes([b], [a]);
  const fdb = (mac: string, dst: string, state = NUD_PERMANENT | NUD_NOARP, deleted = false) => ({
    deleted,
    entry: { family: 'bridge' as const, mac, dst, state, multicast: false },
  });
  const neigh = (dst: string, mac: string, family: 'inet' | 'inet6' = 'inet', deleted = false) => ({
    deleted,
    entry: { family, mac, dst, state: NUD_PERMANENT, multicast: false },
  });
  const echo = () => new KernelEcho().expect(delta, delta.upsert, true);
  t.ok(
    echo().explains([
      fdb(a.mac, a.vtep),
      neigh('198.18.0.1', a.mac),
      neigh('2001:db8:0:0:0:0:0:1', a.mac, 'inet6'),
      fdb(b.mac, b.vtep, NUD_PERMANENT, true),
      neigh('198.18.0.2', b.mac, 'inet', true),
    ]),
    'our writes and deletions, IPv6 in the kernel text',
  );
  t.notOk(echo().explains([fdb(a.mac, '198.51.100.9')]), 'an entry pointing elsewhere');
  t.notOk(echo().explains([fdb(a.mac, a.vtep, 0x02)]), 'an entry that is not static');
  t.notOk(echo().explains([neigh('198.18.0.1', '02:00:00:00:00:09')]), 'an address on another MAC');
  t.notOk(echo().explains([fdb('02:00:00:00:00:05', a.vtep, NUD_PERMANENT, true)]), 'a deletion we did not make');
  const once = echo();
  t.ok(once.explains([fdb(a.mac, a.vtep)]));
  t.notOk(once.explains([fdb(a.mac, a.vtep)]), 'each echo is consumed once');
  const addOnly = new KernelEcho().expect(delta, delta.upsert, false);
  const two = new KernelEcho().expect(delta, delta.upsert, true).expect(diffRemotes([a], [a, b]), [b], true);
  t.ok(two.explains([fdb(b.mac, b.vtep), fdb(a.mac, a.vtep)]), 'two differences written before the watch read either');
  t.notOk(addOnly.explains([fdb(b.mac, b.vtep, NUD_PERMANENT, true)]), 'add-only: a deletion is not ours');
});
