/** The claim rule (agent/claims.ts): which endpoint records may be programmed, and why the others are not. */
import t from 'tap';
import fc from 'fast-check';
import { Admissions } from '../../agent/admissions.js';
import { admitEndpoints, type ClaimInput } from '../../agent/claims.js';
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
  t.same(run([ep('h2', 'b', '198.18.5.9')], claims), { admitted: ['b'], refused: {} });
  t.same(
    run([ep('h2', 'b', '198.18.5.9'), ep('h1', 'a', '198.18.5.9', 0)], claims),
    { admitted: ['b'], refused: { a: 'ip-in-use' } },
    'announced by the block owner too, after it: the borrower holds it',
  );
});

t.test("taking a live endpoint's address with a /32 (or its block at Lamport 0): the taker is refused", async (t) => {
  const victim = ep('h1', 'victim', '198.18.5.9', 40);
  const mine = [claim('h1', '198.18.5.0/26', 10)];
  for (const [what, stolen] of [
    ['a /32 inside the block', claim('h2', '198.18.5.9/32', 0)],
    ['a /28 inside the block', claim('h2', '198.18.5.0/28', 0)],
    ['the same block at a smaller Lamport time', claim('h2', '198.18.5.0/26', 0)],
  ] as const) {
    t.same(
      run([victim], [...mine, stolen]),
      { admitted: ['victim'], refused: {} },
      `${what}, claimed alone: the victim keeps its address`,
    );
    t.same(
      run([victim, ep('h2', 'thief', '198.18.5.9', 0)], [...mine, stolen]),
      { admitted: ['victim'], refused: { thief: 'ip-in-use' } },
      `${what}, then the address announced: the newcomer is refused`,
    );
  }
  t.same(
    run([ep('h2', 'c', '198.18.5.60', 0)], [...mine, claim('h2', '198.18.5.0/26', 0)]),
    { admitted: ['c'], refused: {} },
    'an address nobody else announces stays usable by any claimant of it (the claims rule still settles new claims)',
  );
});

t.test('a MAC two owners announce (neither derived): the one the table holds first keeps it', async (t) => {
  const claims = [claim('h1', '198.18.5.0/26'), claim('h2', '198.18.5.64/26')];
  const mac = '02:aa:bb:cc:dd:ee';
  t.same(run([ep('h1', 'a', '198.18.5.10', 9, { mac }), ep('h2', 'b', '198.18.5.70', 0, { mac })], claims), {
    admitted: ['a'],
    refused: { b: 'mac-in-use' },
  });
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

t.test('one MAC per network: the one derived from its own IP first, then the one the table holds first', async (t) => {
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
    { admitted: ['a'], refused: { b: 'mac-in-use' } },
    'neither derived: the one the table holds first, whatever its Lamport time',
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
  'property: every host admits the same set whatever order it read the records in (unless two owners announce one IP or MAC), and never one IP or MAC twice across owners',
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
          // Only an address or MAC several owners announce depends on the order the host read them in.
          const contested = (key: 'ip' | 'mac') => {
            const owners = new Map<string, Set<string>>();
            for (const e of endpoints) owners.set(e.value[key], (owners.get(e.value[key]) ?? new Set()).add(e.owner));
            return [...owners.values()].some((o) => o.size > 1);
          };
          if (!contested('ip') && !contested('mac') && JSON.stringify(a) !== JSON.stringify(b))
            throw new Error('order changed the outcome');
          for (const [outcome, list] of [
            [a, endpoints],
            [b, shuffled],
          ] as const) {
            const admitted = list.filter((e) => outcome.admitted.includes(e.value.id));
            for (const key of ['ip', 'mac'] as const) {
              const by = new Map<string, string>();
              for (const e of admitted) {
                const holder = by.get(e.value[key]);
                if (holder !== undefined && holder !== e.owner)
                  throw new Error(`${key} ${e.value[key]} admitted for ${holder} and ${e.owner}`);
                by.set(e.value[key], e.owner);
              }
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

t.test('property: facts remembered per entry across tables change no admission', async () => {
  const owners = ['h1', 'h2', 'h3'];
  const arbEp = fc.record({
    owner: fc.constantFrom(...owners),
    last: fc.integer({ min: 2, max: 20 }),
    derivedMac: fc.boolean(),
    network: fc.constantFrom('blue', 'red'),
  });
  const claims = owners.flatMap((o) => [claim(o, '198.18.5.0/27'), claim(o, '198.18.5.0/27', 1, 'red')]);
  fc.assert(
    fc.property(
      fc.array(arbEp, { minLength: 1, maxLength: 10 }),
      fc.array(fc.array(fc.nat(), { maxLength: 12 }), { minLength: 1, maxLength: 5 }),
      (eps, tables) => {
        // One pool of entry objects (the table keeps an entry's object while its record stays); each
        // table a choice of them, in some order.
        const pool = eps.map((e, i) =>
          ep(e.owner, `e${i}`, `198.18.5.${e.last}`, 1, {
            network: e.network,
            mac: e.derivedMac ? macFromIp(`198.18.5.${e.last}`) : '02:aa:00:00:00:01',
          }),
        );
        const facts = new WeakMap();
        for (const picks of tables) {
          const endpoints = [...new Set(picks.map((k) => pool[k % pool.length]!))];
          const plain = run(endpoints, claims);
          const remembered = run(endpoints, claims, { facts });
          if (JSON.stringify(plain) !== JSON.stringify(remembered))
            throw new Error(`${JSON.stringify(plain)} != ${JSON.stringify(remembered)}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
