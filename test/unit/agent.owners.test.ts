/** Whose endpoints are programmed: live, withdrawn, held, suspended, and VTEP conflicts. */
import t from 'tap';
import { isProgrammed, ownerStatuses } from '../../agent/owners.js';
import type { MemberView } from '../../agent/ports.js';

const m = (peerId: string, state: MemberView['state'], vtep: string, incarnation = 100): MemberView => ({
  peerId,
  name: peerId,
  vtep,
  addrs: [],
  incarnation,
  state,
  since: 0,
  lastAck: 0,
  self: false,
});
const watch = (held: string[] = [], silent: string[] = []) => ({
  isHeld: (p: string) => held.includes(p),
  isSilent: (p: string) => silent.includes(p),
});

t.test('alive, suspect (answering or silent), dead (held or not)', async (t) => {
  const s = ownerStatuses(
    [
      m('a', 'alive', '198.51.100.1'),
      m('b', 'suspect', '198.51.100.2'),
      m('c', 'suspect', '198.51.100.3'),
      m('d', 'dead', '198.51.100.4'),
      m('e', 'left', '198.51.100.5'),
    ],
    watch(['d'], ['c']),
  );
  t.same(Object.fromEntries(s), { a: 'live', b: 'live', c: 'withdrawn', d: 'held', e: 'suspended' });
  t.same(
    [...s].filter(([, v]) => isProgrammed(v)).map(([k]) => k),
    ['a', 'b', 'd'],
  );
});

t.test("a new member on a dead member's VTEP ends that member's hold", async (t) => {
  const s = ownerStatuses(
    [m('old', 'dead', '198.51.100.7', 100), m('new', 'alive', '198.51.100.7', 200)],
    watch(['old']),
  );
  t.equal(s.get('old'), 'suspended', 'the old endpoints never come back');
  t.equal(s.get('new'), 'live');
});

t.test(
  "a live member's VTEP announced by another: the one that was there first keeps it, the other is refused",
  async (t) => {
    const members = [m('first', 'suspect', '198.51.100.7', 100), m('intruder', 'alive', '198.51.100.7', 200)];
    const s = ownerStatuses(members, watch());
    t.equal(s.get('first'), 'live');
    t.equal(s.get('intruder'), 'vtep-conflict');
    t.equal(isProgrammed(s.get('intruder')), false);
    const tie = ownerStatuses([m('y', 'alive', '198.51.100.8', 5), m('x', 'alive', '198.51.100.8', 5)], watch());
    t.same(
      [tie.get('x'), tie.get('y')],
      ['live', 'vtep-conflict'],
      'same incarnation: the smaller peer id, on every host',
    );
    const later = ownerStatuses(
      [m('first', 'dead', '198.51.100.7', 100), m('intruder', 'alive', '198.51.100.7', 200)],
      watch(['first']),
    );
    t.same(
      [later.get('first'), later.get('intruder')],
      ['suspended', 'live'],
      'once the first is dead the newcomer takes over',
    );
  },
);
