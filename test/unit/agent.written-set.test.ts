/**
 * The difference taken by walking the new desired set beside the written one (written-set.ts): over
 * random sequences of sets made of shared objects (what desired.ts remembers), in changing orders,
 * each difference takes a kernel holding the previous set to the next one, as diffRemotes does.
 */
import fc from 'fast-check';
import { remoteOf, remoteSpec } from '../fixtures/remote-arbitraries.js';
import t from 'tap';
import { WrittenSet } from '../../agent/written-set.js';
import { diffRemotes, planDelta } from '../../dataplane/reconcile-delta.js';
import { planReconcile, type ReconcilePlan, type RemoteEndpoint } from '../../dataplane/reconcile-plan.js';

interface Tables {
  fdb: Map<string, string>;
  neigh: Map<string, string>;
}
function apply(k: Tables, plan: ReconcilePlan): Tables {
  for (const ip of plan.neighDelete) k.neigh.delete(ip);
  for (const d of plan.fdbDelete) k.fdb.delete(d.mac);
  for (const f of plan.fdbReplace) k.fdb.set(f.mac, f.dst);
  for (const n of plan.neighReplace) k.neigh.set(n.ip, n.mac);
  return k;
}
const tablesOf = (set: RemoteEndpoint[]): Tables =>
  apply({ fdb: new Map(), neigh: new Map() }, planReconcile([], [], set));
const sorted = <K, V>(m: Map<K, V>) => [...m].sort((a, b) => String(a[0]).localeCompare(String(b[0])));

const addresses = (e: RemoteEndpoint) => [e.ip, e.ip6].filter((x): x is string => x !== undefined);
/** Whether a set has a MAC or an address twice (what the kernel cannot hold). */
function repeats(set: RemoteEndpoint[]): boolean {
  const macs = new Set<string>();
  const ips = new Map<string, string>();
  for (const e of set) {
    if (macs.has(e.mac)) return true;
    macs.add(e.mac);
    for (const a of addresses(e)) {
      if (ips.has(a)) return true;
      ips.set(a, e.mac);
    }
  }
  return false;
}

/** A pool of entry objects (several per MAC: a record rewritten, a VTEP moved), and sets picked from it. */
const pool = fc.array(remoteSpec(8, 10), { minLength: 1, maxLength: 16 }).map((xs) => xs.map(remoteOf));
/** A set: some of the pool, in an order kept (desired order) or shuffled. */
const pick = (objects: RemoteEndpoint[]) =>
  fc
    .tuple(fc.subarray(objects.map((_, i) => i)), fc.boolean(), fc.array(fc.nat(), { maxLength: 16 }))
    .map(([idx, shuffle, keys]) => {
      const order = shuffle ? [...idx].sort((a, b) => (keys[a] ?? a) - (keys[b] ?? b)) : idx;
      return order.map((i) => objects[i] as RemoteEndpoint);
    });
/** A kernel-holdable set (unique MACs and addresses: what desired.ts makes), first of a sequence. */
const holdable = (set: RemoteEndpoint[]) => {
  const macs = new Set<string>();
  const ips = new Set<string>();
  return set.filter((e) => {
    if (macs.has(e.mac) || addresses(e).some((a) => ips.has(a))) return false;
    macs.add(e.mac);
    for (const a of addresses(e)) ips.add(a);
    return true;
  });
};

t.test('property: each difference of a sequence takes the kernel to the next set, as diffRemotes does', async (t) => {
  let walked = 0;
  let refused = 0;
  fc.assert(
    fc.property(
      pool.chain((objects) => fc.array(pick(objects), { minLength: 2, maxLength: 6 })),
      fc.boolean(),
      (sets, onlyHoldable) => {
        const seq = onlyHoldable ? sets.map(holdable) : [holdable(sets[0] as RemoteEndpoint[]), ...sets.slice(1)];
        let written = new WrittenSet(seq[0] as RemoteEndpoint[]);
        let kernel = tablesOf(written.want);
        for (const after of seq.slice(1)) {
          const d = written.diffTo(after);
          if (!d) {
            // Refused only for a set the kernel cannot hold; the caller then compares in full.
            if (!repeats(after)) return false;
            refused++;
            written = new WrittenSet(after.filter(() => !repeats(after)));
            kernel = tablesOf(written.want);
            continue;
          }
          walked++;
          if (repeats(after)) return false;
          const plain = diffRemotes(written.want, after);
          // Every entry diffRemotes writes is written; nothing else but new objects of unchanged content.
          for (const e of plain.upsert) if (!d.delta.upsert.includes(e)) return false;
          for (const [k, e] of d.delta.upsert.entries()) if (after[d.delta.upsertAt[k] as number] !== e) return false;
          if ([...d.delta.removeMacs].sort().join() !== [...plain.removeMacs].sort().join()) return false;
          if ([...d.delta.removeIps].sort().join() !== [...plain.removeIps].sort().join()) return false;
          kernel = apply(kernel, planDelta(d.delta, d.delta.upsert, true));
          const want = tablesOf(after);
          if (
            JSON.stringify([sorted(kernel.fdb), sorted(kernel.neigh)]) !==
            JSON.stringify([sorted(want.fdb), sorted(want.neigh)])
          )
            return false;
          written = d.next;
        }
        return true;
      },
    ),
    { numRuns: 800 },
  );
  t.ok(walked > 500, `differences walked: ${walked}`);
  t.ok(refused > 10, `sets refused for a repeated MAC or address: ${refused}`);
});

t.test('one entry changed in a large set: only it is written, the old object removed by its address', async (t) => {
  const set = Array.from({ length: 5000 }, (_, i): RemoteEndpoint => ({
    mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    ip: `198.18.${i >> 8}.${i & 255}`,
    vtep: '198.51.100.2',
  }));
  const moved: RemoteEndpoint = { ...(set[10] as RemoteEndpoint), ip: '198.19.0.1' };
  // A rewritten record sorts last (a new Lamport time); the rest are the same objects.
  const after = [...set.slice(0, 10), ...set.slice(11), moved];
  const d = new WrittenSet(set).diffTo(after);
  t.ok(d);
  t.same(d?.delta.upsert, [moved]);
  t.same(d?.delta.upsertAt, [after.length - 1]);
  t.same(d?.delta.removeMacs, []);
  t.same(d?.delta.removeIps, ['198.18.0.10']);
  // The next difference starts from the index the first one left.
  const again = d?.next.diffTo(after.slice(1));
  t.same(again?.delta.removeMacs, [(set[0] as RemoteEndpoint).mac]);
  t.same(again?.delta.upsert, []);
});

t.test('a new object for a MAC whose old object stays is a MAC twice: refused, not written', async (t) => {
  const a: RemoteEndpoint = { mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.2' };
  const b: RemoteEndpoint = { mac: '02:00:00:00:00:02', ip: '198.18.0.2', vtep: '198.51.100.2' };
  t.equal(new WrittenSet([a, b]).diffTo([a, b, { ...a, vtep: '198.51.100.3' }]), undefined);
  t.equal(new WrittenSet([a]).diffTo([a, { ...b, ip: a.ip }]), undefined, 'one address for two MACs');
});
