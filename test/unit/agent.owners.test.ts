/** Whose endpoints are programmed: live, withdrawn, held, suspended, and VTEP conflicts. */
import t from 'tap';
import { isProgrammed, ownerStatuses } from '../../agent/owners.js';
import type { MemberView } from '../../agent/ports.js';
import { Membership } from '../../discovery/membership.js';

const id = (c: string) => `12D3KooW${c.repeat(44)}`;

const m = (
  peerId: string,
  state: MemberView['state'],
  vtep: string,
  incarnation = 100,
  vtepOrder = incarnation,
): MemberView => ({
  peerId,
  name: peerId,
  vtep,
  addrs: [],
  incarnation,
  state,
  vtepOrder,
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
    t.same([tie.get('x'), tie.get('y')], ['live', 'vtep-conflict'], 'seen at once: the smaller peer id, on every host');
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

t.test('stealing a live VTEP with a low incarnation: the newcomer is refused, the holder keeps it', async (t) => {
  // Through the membership, as a rogue key holder's announcement arrives: a new identity, the
  // victim's VTEP, incarnation 1 (the victim's incarnation is the wall clock, ~1.8e9).
  const clock = { now: () => 0, setTimer: () => ({ cancel: () => undefined }) };
  const self = { peerId: id('S'), name: 's', vtep: '198.51.100.10', addrs: [], incarnation: 5 };
  const membership = new Membership(self, undefined, clock);
  membership.alive({ peerId: id('V'), name: 'victim', vtep: '198.51.100.11', addrs: [], incarnation: 1_800_000_000 });
  membership.alive({ peerId: id('R'), name: 'rogue', vtep: '198.51.100.11', addrs: [], incarnation: 1 });
  const views = membership.list().map((x) => ({ ...x, self: x.peerId === self.peerId }));
  const s = ownerStatuses(views, watch());
  t.equal(s.get(id('V')), 'live', "the victim's endpoints stay programmed");
  t.equal(s.get(id('R')), 'vtep-conflict', 'the newcomer is the one refused');
  // A member that moves to a VTEP another holds is a newcomer to it too.
  membership.alive({ peerId: id('M'), name: 'mover', vtep: '198.51.100.12', addrs: [], incarnation: 1 });
  membership.alive({ peerId: id('M'), name: 'mover', vtep: '198.51.100.11', addrs: [], incarnation: 2 });
  const after = ownerStatuses(
    membership.list().map((x) => ({ ...x, self: x.peerId === self.peerId })),
    watch(),
  );
  t.equal(after.get(id('M')), 'vtep-conflict');
  t.equal(after.get(id('V')), 'live');
});
