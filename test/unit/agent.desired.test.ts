/** The desired state as a pure function: live or held owners only, never self, conflicts resolved. */
import t from 'tap';
import fc from 'fast-check';
import { desiredRemotes, RemoteMemo, type DesiredInput } from '../../agent/desired.js';
import type { EndpointValue } from '../../core/records.js';

const ep = (
  network: string,
  id: string,
  ip: string,
  vtep: string,
  mac = `02:42:${ip
    .split('.')
    .map((o) => Number(o).toString(16).padStart(2, '0'))
    .join(':')}`,
): EndpointValue => ({ network, id, mac, ip, vtep, host: id });

function input(over: Partial<DesiredInput>): DesiredInput {
  return { self: 'me', selfVtep: '198.51.100.1', endpoints: [], local: [], programmed: () => true, ...over };
}

t.test('remote endpoints of live owners, per network; own records and own VTEP left out', async (t) => {
  const d = desiredRemotes(
    input({
      endpoints: [
        { value: ep('a', 'x', '198.18.1.2', '198.51.100.2'), owner: 'h2', lamport: 1 },
        { value: ep('b', 'y', '198.18.2.2', '198.51.100.3'), owner: 'h3', lamport: 2 },
        { value: ep('a', 'mine', '198.18.1.3', '198.51.100.1'), owner: 'me', lamport: 3 },
        { value: ep('a', 'old-life', '198.18.1.4', '198.51.100.1'), owner: 'previous-me', lamport: 4 },
      ],
    }),
  );
  t.same([...d.byNetwork.keys()].sort(), ['a', 'b']);
  t.same(d.byNetwork.get('a'), [{ mac: '02:42:c6:12:01:02', ip: '198.18.1.2', vtep: '198.51.100.2' }]);
  t.same(
    d.byNetwork.get('b')?.map((r) => r.ip),
    ['198.18.2.2'],
  );
  t.same(d.conflicts, []);
});

t.test('owners whose endpoints are not programmed are left out', async (t) => {
  const endpoints = [
    { value: ep('a', 'x', '198.18.1.2', '198.51.100.2'), owner: 'dead-held', lamport: 1 },
    { value: ep('a', 'y', '198.18.1.3', '198.51.100.3'), owner: 'dead', lamport: 2 },
  ];
  const d = desiredRemotes(input({ endpoints, programmed: (o) => o === 'dead-held' }));
  t.same(
    d.byNetwork.get('a')?.map((r) => r.ip),
    ['198.18.1.2'],
  );
  t.same(desiredRemotes(input({ endpoints, programmed: () => false })).byNetwork.size, 0);
});

t.test('the same IP or MAC twice: the earlier write keeps it, a local endpoint beats any remote', async (t) => {
  const d = desiredRemotes(
    input({
      endpoints: [
        { value: ep('a', 'late', '198.18.1.2', '198.51.100.3'), owner: 'h3', lamport: 9 },
        { value: ep('a', 'early', '198.18.1.2', '198.51.100.2'), owner: 'h2', lamport: 5 },
        { value: ep('a', 'tie-z', '198.18.1.7', '198.51.100.4', '02:42:00:00:00:07'), owner: 'z', lamport: 6 },
        { value: ep('a', 'tie-y', '198.18.1.8', '198.51.100.5', '02:42:00:00:00:07'), owner: 'y', lamport: 6 },
        { value: ep('a', 'vs-local', '198.18.1.9', '198.51.100.6'), owner: 'h6', lamport: 1 },
      ],
      local: [{ network: 'a', mac: '02:42:aa:aa:aa:aa', ip: '198.18.1.9' }],
    }),
  );
  t.same(
    d.byNetwork
      .get('a')
      ?.map((r) => r.vtep)
      .sort(),
    ['198.51.100.2', '198.51.100.5'],
  );
  t.same(d.conflicts.map((c) => c.id).sort(), ['late', 'tie-z', 'vs-local']);
  t.match(
    d.conflicts.find((c) => c.id === 'late'),
    { network: 'a', owner: 'h3', ip: '198.18.1.2' },
  );
});

t.test('property: kernel entries remembered per entry across calls change no desired state', async () => {
  const arbEp = fc.record({
    owner: fc.constantFrom('h2', 'h3', 'me'),
    last: fc.integer({ min: 2, max: 12 }),
    lamport: fc.integer({ min: 0, max: 4 }),
    network: fc.constantFrom('a', 'b'),
  });
  fc.assert(
    fc.property(
      fc.array(arbEp, { minLength: 1, maxLength: 10 }),
      fc.array(
        fc.record({ picks: fc.array(fc.nat(), { maxLength: 12 }), encrypted: fc.boolean(), tunnel: fc.nat(3) }),
        { minLength: 1, maxLength: 5 },
      ),
      (eps, calls) => {
        const pool = eps.map((e, i) => ({
          value: ep(e.network, `e${i}`, `198.18.1.${e.last}`, `198.51.100.${e.owner === 'h2' ? 2 : 3}`),
          owner: e.owner,
          lamport: e.lamport,
        }));
        const remotes = new RemoteMemo();
        for (const c of calls) {
          const endpoints = [...new Set(c.picks.map((k) => pool[k % pool.length]!))];
          const over = {
            endpoints,
            encrypted: (n: string) => c.encrypted && n === 'a',
            // A tunnel address that moves between calls (a member's new statement).
            tunnelOf: (o: string) => (o === 'h2' ? `198.19.0.${c.tunnel}` : undefined),
          };
          const plain = desiredRemotes(input(over));
          const remembered = desiredRemotes(input({ ...over, remotes }));
          const text = (d: typeof plain) => JSON.stringify([[...d.byNetwork], d.conflicts]);
          if (text(plain) !== text(remembered)) throw new Error(`${text(plain)} != ${text(remembered)}`);
        }
      },
    ),
    { numRuns: 300 },
  );
});
