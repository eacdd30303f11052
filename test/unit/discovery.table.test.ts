/** The replicated table: last-writer-wins under any delivery order, duplicates, tombstones. */
import t from 'tap';
import fc from 'fast-check';
import { ReplicatedTable, toWire } from '../../discovery/table.js';
import type { WireRecord } from '../../discovery/wire.js';
import type { EndpointValue, NetworkValue } from '../../core/records.js';

const OWNERS = [
  '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
  '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
  '12D3KooWCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC',
];
const READER = '12D3KooWZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ';
const ep = (id: string, ip: number): EndpointValue => ({
  network: 'n',
  id,
  mac: `02:00:00:00:00:${ip.toString(16).padStart(2, '0')}`,
  ip: `198.18.0.${ip}`,
  vtep: '198.51.100.1',
  host: 'h',
});
const net = (vni: number): NetworkValue => ({ name: 'shared', vni, subnet: '198.18.0.0/24' });

type Op = { owner: number; kind: 'put' | 'del' | 'net'; key: number; val: number };

/** Runs each owner's operations on its own table (as the owner would) and returns every record written. */
function writeAll(ops: Op[]): WireRecord[] {
  const tables = OWNERS.map((o) => new ReplicatedTable(o));
  const out: WireRecord[] = [];
  for (const op of ops) {
    const tbl = tables[op.owner] as ReplicatedTable;
    // Owners also hear each other now and then, so their clocks interleave.
    for (const r of out.slice(-2)) if (r.owner !== tbl.self) tbl.merge(r);
    const rec =
      op.kind === 'net'
        ? tbl.write('network', 'shared', net(op.val + 1))
        : tbl.write('endpoint', `n/e${op.key}`, op.kind === 'put' ? ep(`e${op.key}`, op.val + 1) : null);
    out.push(toWire(rec));
  }
  return out;
}

const view = (tbl: ReplicatedTable) =>
  JSON.stringify(
    [...tbl.all()]
      .map((r) => [r.kind, r.owner, r.key, r.lamport, !!r.deleted, r.value ?? null])
      .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  );

t.test('property: any delivery order with duplicates converges to the same table', async (t) => {
  const op = fc.record({
    owner: fc.integer({ min: 0, max: 2 }),
    kind: fc.constantFrom<'put' | 'del' | 'net'>('put', 'put', 'del', 'net'),
    key: fc.integer({ min: 0, max: 3 }),
    val: fc.integer({ min: 0, max: 200 }),
  });
  t.doesNotThrow(
    () =>
      fc.assert(
        fc.property(
          fc.array(op, { minLength: 1, maxLength: 40 }),
          fc.array(fc.nat(), { minLength: 1, maxLength: 120 }),
          fc.integer({ min: 0, max: 1000 }),
          (ops, picks, seed) => {
            const records = writeAll(ops);
            const inOrder = new ReplicatedTable(READER);
            for (const r of records) inOrder.merge(r);
            // A second replica gets a shuffled delivery with duplicates (each record at least once).
            const shuffled = [...records, ...picks.map((p) => records[p % records.length] as WireRecord)];
            let s = seed;
            for (let i = shuffled.length - 1; i > 0; i--) {
              s = (s * 1103515245 + 12345) & 0x7fffffff;
              const j = s % (i + 1);
              [shuffled[i], shuffled[j]] = [shuffled[j] as WireRecord, shuffled[i] as WireRecord];
            }
            const other = new ReplicatedTable(READER);
            for (const r of shuffled) other.merge(r);
            return view(inOrder) === view(other);
          },
        ),
        { numRuns: 500 },
      ),
    '500 random histories converged',
  );
});

t.test('add, delete, re-add by the owner: the re-add wins everywhere', async (t) => {
  const owner = new ReplicatedTable(OWNERS[0] as string);
  const a = toWire(owner.write('endpoint', 'n/e1', ep('e1', 1)));
  const d = toWire(owner.write('endpoint', 'n/e1', null));
  const r = toWire(owner.write('endpoint', 'n/e1', ep('e1', 2)));
  for (const order of [
    [a, d, r],
    [r, d, a],
    [d, r, a],
    [r, a, d],
  ]) {
    const x = new ReplicatedTable(READER);
    for (const rec of order) x.merge(rec);
    t.equal(
      (x.get('endpoint', 'n/e1', OWNERS[0] as string)?.value as EndpointValue | undefined)?.ip,
      '198.18.0.2',
      `order ${order.map((o) => o.lamport).join(',')}`,
    );
  }
});

t.test('a restarted owner is not blocked by its old tombstone', async (t) => {
  const before = new ReplicatedTable(OWNERS[0] as string);
  for (let i = 0; i < 50; i++) before.write('endpoint', 'n/e1', ep('e1', 1));
  const tomb = toWire(before.write('endpoint', 'n/e1', null)); // lamport 51
  const peer = new ReplicatedTable(READER);
  peer.merge(tomb);
  // The owner restarts with a fresh clock and re-adds the endpoint: lamport 1 loses to 51 at the peer...
  const after = new ReplicatedTable(OWNERS[0] as string);
  const readd = toWire(after.write('endpoint', 'n/e1', ep('e1', 3)));
  t.equal(peer.merge(readd), 'stale');
  // ...until the owner hears its old tombstone (sync): it re-asserts above it.
  t.equal(after.merge(tomb), 'reassert');
  const again = toWire(after.write('endpoint', 'n/e1', ep('e1', 3)));
  t.ok(again.lamport > tomb.lamport, 'clock jumped past the tombstone');
  t.equal(peer.merge(again), 'updated');
  t.equal((peer.get('endpoint', 'n/e1', OWNERS[0] as string)?.value as EndpointValue).ip, '198.18.0.3');
});

t.test('tombstones expire after their TTL; summaries detect differences', async (t) => {
  const x = new ReplicatedTable(OWNERS[0] as string);
  x.write('endpoint', 'n/e1', ep('e1', 1), 1000);
  x.write('endpoint', 'n/e2', null, 1000);
  const y = new ReplicatedTable(READER);
  for (const r of x.all()) y.merge(toWire(r), 1000);
  t.same(y.summaries(), x.summaries(), 'equal tables, equal summaries');
  t.equal(y.expireTombstones(60_000, 30_000), 0, 'not yet');
  t.equal(y.expireTombstones(60_000, 61_000), 1, 'expired');
  t.not(JSON.stringify(y.summaries()), JSON.stringify(x.summaries()), 'summaries now differ');
});

t.test("dropOwner forgets a gone member's owned records, not shared ones", async (t) => {
  const owner = new ReplicatedTable(OWNERS[0] as string);
  const peer = new ReplicatedTable(READER);
  for (const r of [
    owner.write('endpoint', 'n/e1', ep('e1', 1)),
    owner.write('ipam-block', 'n/198.18.0.0/28', { network: 'n', block: '198.18.0.0/28' }),
    owner.write('network', 'shared', net(5)),
  ])
    peer.merge(toWire(r));
  t.equal(peer.dropOwner(OWNERS[0] as string), 2, 'endpoint and IPAM block forgotten');
  t.equal([...peer.live('network')].length, 1, 'the network definition stays');
  t.equal(peer.merge(toWire(owner.write('endpoint', 'n/e1', ep('e1', 1)))), 'new', 'a returning owner re-announces');
});

t.test('isNewer says whether a merge would change the table (shared records compare across writers)', async (t) => {
  const reader = new ReplicatedTable(READER);
  const rec = (owner: string, lamport: number): WireRecord => ({
    kind: 'network',
    key: 'shared',
    owner,
    lamport,
    value: net(lamport),
  });
  t.equal(reader.isNewer(rec(OWNERS[0] as string, 5)), true, 'nothing held yet');
  reader.merge(rec(OWNERS[0] as string, 5));
  t.equal(reader.isNewer(rec(OWNERS[1] as string, 4)), false, 'an older write by another member');
  t.equal(reader.isNewer(rec(OWNERS[0] as string, 5)), false, 'the same write again');
  t.equal(reader.isNewer(rec(OWNERS[1] as string, 6)), true, 'a later write');
});

t.test(
  'property: live(kind) and liveList(kind) list what live() lists of that kind, in the same order, through merges and drops',
  async (t) => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            owner: fc.integer({ min: 0, max: 2 }),
            kind: fc.constantFrom('put', 'del', 'net') as fc.Arbitrary<Op['kind']>,
            key: fc.integer({ min: 0, max: 5 }),
            val: fc.integer({ min: 0, max: 9 }),
          }),
          { maxLength: 40 },
        ),
        fc.integer({ min: 0, max: 3 }),
        (ops, dropped) => {
          const tbl = new ReplicatedTable(READER);
          for (const r of writeAll(ops)) tbl.merge(r, 0);
          if (dropped < OWNERS.length) tbl.dropOwner(OWNERS[dropped] as string);
          tbl.expireTombstones(1, 10);
          for (const kind of ['endpoint', 'network'] as const) {
            const filtered = [...tbl.live()].filter((r) => r.kind === kind);
            for (const byKind of [[...tbl.live(kind)], tbl.liveList(kind)])
              if (byKind.length !== filtered.length || byKind.some((r, i) => r !== filtered[i])) return false;
          }
          return true;
        },
      ),
    );
    t.pass('live(kind) agrees with live() over random operations');
  },
);
