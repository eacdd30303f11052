/** The claim rule (agent/claims.ts): which endpoint records may be programmed, and why the others are not. */
import t from 'tap';
import fc from 'fast-check';
import { Admissions, admitEndpoints, type ClaimInput } from '../../agent/claims.js';
import { macFromIp } from '../../core/addresses.js';
import type { EndpointValue } from '../../core/records.js';
import type { BlockClaim } from '../../ipam/claim-rule.js';

const VTEP: Record<string, string> = { h1: '198.51.100.1', h2: '198.51.100.2', h3: '198.51.100.3' };
const ep = (owner: string, id: string, ip: string, lamport = 1, over: Partial<EndpointValue> = {}) => ({
  owner,
  lamport,
  value: { network: 'blue', id, ip, mac: macFromIp(ip), vtep: VTEP[owner] ?? '198.51.100.99', host: owner, ...over },
});
const claim = (owner: string, block: string, lamport = 1, network = 'blue'): BlockClaim => ({
  owner,
  block,
  lamport,
  network,
});
const run = (endpoints: ClaimInput['endpoints'], claims: BlockClaim[], extra: Partial<ClaimInput> = {}) => {
  const a = admitEndpoints({ endpoints, claims, vtepOf: (p) => VTEP[p], ...extra });
  return {
    admitted: a.admitted.map((r) => r.value.id).sort(),
    refused: Object.fromEntries(a.refused.map((r) => [r.id, r.reason]).sort(([x], [y]) => x.localeCompare(y))),
  };
};

t.test("an endpoint is admitted only inside its owner's claim", async (t) => {
  const claims = [claim('h1', '198.18.5.0/26'), claim('h2', '198.18.5.64/26')];
  t.same(run([ep('h1', 'a', '198.18.5.10'), ep('h2', 'b', '198.18.5.70')], claims), {
    admitted: ['a', 'b'],
    refused: {},
  });
  t.same(
    run([ep('h2', 'x', '198.18.5.10', 0)], claims).refused,
    { x: 'ip-not-claimed' },
    "in another host's block, whatever its Lamport time",
  );
  t.same(run([ep('h2', 'x', '198.18.5.200')], claims).refused, { x: 'ip-not-claimed' }, 'in no claim at all');
  t.same(
    run([ep('h2', 'x', '198.18.5.10')], [claim('h2', '198.18.5.0/26', 1, 'red')]).refused,
    { x: 'ip-not-claimed' },
    'a claim of another network does not count',
  );
});

t.test("a /32 inside another host's block (borrowed or explicit) belongs to its claimant", async (t) => {
  const claims = [claim('h1', '198.18.5.0/26'), claim('h2', '198.18.5.9/32')];
  t.same(run([ep('h2', 'b', '198.18.5.9'), ep('h1', 'a', '198.18.5.9', 0)], claims), {
    admitted: ['b'],
    refused: { a: 'ip-not-claimed' },
  });
});

t.test('two claims of one block: the smaller (Lamport, owner) wins, on every host alike', async (t) => {
  const claims = [claim('h2', '198.18.5.50/32', 7), claim('h1', '198.18.5.50/32', 7), claim('h3', '198.18.5.50/32', 3)];
  t.same(run([ep('h1', 'a', '198.18.5.50'), ep('h2', 'b', '198.18.5.50'), ep('h3', 'c', '198.18.5.50')], claims), {
    admitted: ['c'],
    refused: { a: 'ip-not-claimed', b: 'ip-not-claimed' },
  });
  t.same(
    run([ep('h1', 'a', '198.18.5.50'), ep('h2', 'b', '198.18.5.50')], claims.slice(0, 2)).admitted,
    ['a'],
    'equal Lamport: the smaller owner',
  );
});

t.test("the VTEP must be the owner's member VTEP", async (t) => {
  const claims = [claim('h2', '198.18.5.64/26')];
  t.same(run([ep('h2', 'x', '198.18.5.70', 1, { vtep: VTEP.h1 })], claims).refused, { x: 'vtep-not-owner' });
  t.same(
    run([ep('h4', 'x', '198.18.5.70')], [claim('h4', '198.18.5.64/26')]).refused,
    { x: 'vtep-not-owner' },
    'an owner that is no member admits nothing',
  );
});

t.test('one MAC per network: the one derived from its own IP first, then the earlier write', async (t) => {
  const claims = [claim('h1', '198.18.5.0/26'), claim('h2', '198.18.5.64/26')];
  const mac = macFromIp('198.18.5.10');
  t.same(
    run([ep('h1', 'a', '198.18.5.10', 9), ep('h2', 'b', '198.18.5.70', 1, { mac })], claims),
    { admitted: ['a'], refused: { b: 'mac-in-use' } },
    'the derived MAC wins over an earlier Lamport time',
  );
  const other = '02:aa:00:00:00:01';
  t.same(
    run([ep('h1', 'a', '198.18.5.10', 5, { mac: other }), ep('h2', 'b', '198.18.5.70', 4, { mac: other })], claims),
    { admitted: ['b'], refused: { a: 'mac-in-use' } },
    'neither derived: the earlier write',
  );
  t.same(
    run([ep('h1', 'a', '198.18.5.10', 5, { mac: other }), ep('h1', 'c', '198.18.5.11', 4, { mac: other })], claims)
      .admitted,
    ['a', 'c'],
    "one owner's own duplicates are its local rule's business",
  );
  t.same(
    run(
      [
        ep('h1', 'a', '198.18.5.10', 5, { mac: other }),
        ep('h2', 'b', '198.18.5.70', 4, { mac: other, network: 'red' }),
      ],
      [...claims, claim('h2', '198.18.5.64/26', 1, 'red')],
    ).admitted,
    ['a', 'b'],
    'another network may reuse a MAC',
  );
});

t.test("store mode: the store's holder decides, not gossip claims", async (t) => {
  const holders = new Map([['198.18.5.10', 'h1']]);
  const storeHolds = (_n: string, ip: string, owner: string) => (holders.get(ip) ?? owner) === owner;
  t.same(
    run([ep('h1', 'a', '198.18.5.10'), ep('h2', 'b', '198.18.5.10', 0), ep('h2', 'c', '198.18.5.20')], [], {
      storeHolds,
    }),
    { admitted: ['a', 'c'], refused: { b: 'ip-not-claimed' } },
  );
});

t.test(
  'property: every host admits the same set whatever order it read the records in, and no IP or MAC twice across owners',
  async () => {
    const owners = ['h1', 'h2', 'h3'];
    const arbEp = fc.record({
      owner: fc.constantFrom(...owners),
      last: fc.integer({ min: 2, max: 40 }),
      lamport: fc.integer({ min: 0, max: 5 }),
      rogueVtep: fc.boolean(),
      derivedMac: fc.boolean(),
    });
    const arbClaim = fc.record({
      owner: fc.constantFrom(...owners),
      block: fc.constantFrom('198.18.5.0/27', '198.18.5.32/27', '198.18.5.7/32', '198.18.5.33/32'),
      lamport: fc.integer({ min: 0, max: 5 }),
    });
    fc.assert(
      fc.property(
        fc.array(arbEp, { maxLength: 12 }),
        fc.array(arbClaim, { maxLength: 6 }),
        fc.infiniteStream(fc.integer()),
        (eps, cls, seeds) => {
          const endpoints = eps.map((e, i) =>
            ep(e.owner, `e${i}`, `198.18.5.${e.last}`, e.lamport, {
              vtep: e.rogueVtep ? '198.51.100.77' : VTEP[e.owner],
              mac: e.derivedMac ? macFromIp(`198.18.5.${e.last}`) : '02:aa:00:00:00:01',
            }),
          );
          const claims = cls.map((c) => claim(c.owner, c.block, c.lamport));
          const a = run(endpoints, claims);
          const shuffled = [...endpoints].sort(() => ((seeds.next().value as number) % 3) - 1);
          const b = run(shuffled, [...claims].reverse());
          if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error('order changed the outcome');
          const admitted = endpoints.filter((e) => a.admitted.includes(e.value.id));
          for (const key of ['ip', 'mac'] as const) {
            const by = new Map<string, string>();
            for (const e of admitted) {
              const holder = by.get(e.value[key]);
              if (holder !== undefined && holder !== e.owner)
                throw new Error(`${key} ${e.value[key]} admitted for ${holder} and ${e.owner}`);
              by.set(e.value[key], e.owner);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  },
);

t.test(
  'Admissions: a record is checked once per context; a new context checks again; the result is the same as without',
  async (t) => {
    const claims = [claim('h1', '198.18.5.0/26'), claim('h2', '198.18.5.64/26')];
    let checks = 0;
    const rest = (c: BlockClaim[]) => () => ({ claims: c, vtepOf: (p: string) => (checks++, VTEP[p]) });
    const flood = Array.from({ length: 200 }, (_, i) => ep('h3', `f${i}`, `198.18.6.${i}`));
    const honest = [ep('h1', 'a', '198.18.5.10'), ep('h2', 'b', '198.18.5.70')];
    const adm = new Admissions();
    const first = adm.admit([...flood, ...honest], 'ctx1', rest(claims));
    t.equal(checks, 202, 'every record checked once');
    t.equal(adm.admit([...flood, ...honest], 'ctx1', rest(claims)).refused.length, 200);
    t.equal(checks, 202, 'a new list of the same records: none checked again');
    const more = ep('h3', 'f200', '198.18.6.200');
    const second = adm.admit([...flood, more, ...honest], 'ctx1', rest(claims));
    t.equal(checks, 203, 'one new record: one check');
    t.equal(second.refused[0], first.refused[0], 'the same refusal object for an unchanged record');
    // h3 claims 198.18.6.0/24: a new context, everything is checked again and the flood is admitted.
    const claimed = [...claims, claim('h3', '198.18.6.0/24')];
    const third = adm.admit([...flood, more, ...honest], 'ctx2', rest(claimed));
    t.equal(checks, 203 + 203, 'a new context checks every record');
    t.equal(third.refused.length, 0);
    t.equal(third.admitted.length, 203);
    const plain = admitEndpoints({ endpoints: [...flood, more, ...honest], claims: claimed, vtepOf: (p) => VTEP[p] });
    t.same(
      third.admitted.map((r) => r.value.id).sort(),
      plain.admitted.map((r) => r.value.id).sort(),
      'as admitEndpoints without a memo',
    );
  },
);
