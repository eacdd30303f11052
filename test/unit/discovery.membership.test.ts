/** Membership rules with a fake clock: precedence, suspicion timeouts, confirmations, refutation. */
import t from 'tap';
import { INCARNATION_RAISE_CAP, MAX_INCARNATION } from '../../discovery/clock-bounds.js';
import { Membership, type Clock, type MembershipEvent } from '../../discovery/membership.js';

class FakeClock implements Clock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void) {
    const timer = { at: this.t + ms, fn, live: true };
    this.timers.push(timer);
    return { cancel: () => void (timer.live = false) };
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.t = next.at;
      next.live = false;
      next.fn();
    }
    this.t = end;
  }
}

const id = (c: string) => `12D3KooW${c.repeat(44)}`;
const info = (c: string, incarnation = 1) => ({
  peerId: id(c),
  name: `h${c}`,
  vtep: '198.51.100.1',
  addrs: ['198.51.100.1:7946'],
  incarnation,
});
const timers = { probeIntervalMs: 1000, probeTimeoutMs: 500, indirectChecks: 3, suspicionMult: 2, suspicionMaxMult: 3 };

function setup(n = 4) {
  const clock = new FakeClock();
  const m = new Membership(info('A', 5), timers, clock);
  const events: MembershipEvent[] = [];
  m.onEvent((e) => events.push(e));
  for (const c of 'BCDEFGHIJ'.slice(0, n - 1)) m.alive(info(c));
  return { clock, m, events };
}

t.test('precedence: stale alive ignored, suspect/dead need >= incarnation', async (t) => {
  const { m } = setup();
  t.notOk(m.alive(info('B', 1)), 'same incarnation alive ignored');
  t.notOk(m.suspect(id('B'), 0, id('C')), 'older suspect ignored');
  t.ok(m.suspect(id('B'), 1, id('C')));
  t.equal(m.get(id('B'))?.state, 'suspect');
  t.ok(m.alive(info('B', 2)), 'higher incarnation alive clears suspicion');
  t.equal(m.get(id('B'))?.state, 'alive');
  t.notOk(m.dead(id('B'), 1), 'dead at an older incarnation ignored');
  t.ok(m.dead(id('B'), 2));
  t.notOk(m.alive(info('B', 2)), 'dead is not undone at the same incarnation');
  t.ok(m.alive(info('B', 3)), 'a rejoin with a higher incarnation is alive again');
  t.ok(m.leave(id('C'), 1));
  t.equal(m.get(id('C'))?.state, 'left');
  t.notOk(m.isLive(id('C')));
});

t.test('suspicion: timeout shrinks from max to min with confirmations', async (t) => {
  const { m, clock } = setup(4);
  // n = 4 → min = 2 × 1 × 1000 = 2000 ms, max = 3 × min = 6000 ms, k = 2 confirmations.
  m.suspect(id('B'), 1, ''); // our own probe: no independent confirmation
  clock.advance(5999);
  t.equal(m.get(id('B'))?.state, 'suspect', 'no confirmation: still suspect just before max');
  clock.advance(1);
  t.equal(m.get(id('B'))?.state, 'dead', 'dead at max');
  m.suspect(id('C'), 1, id('B'));
  const one = 6000 - (Math.log(2) / Math.log(3)) * 4000;
  clock.advance(Math.floor(one) - 1);
  t.equal(m.get(id('C'))?.state, 'suspect', 'one confirmation: not yet');
  clock.advance(2);
  t.equal(m.get(id('C'))?.state, 'dead', `one confirmation: dead at ${Math.round(one)} ms`);
  m.alive(info('D', 2));
  m.suspect(id('D'), 2, id('B'));
  m.suspect(id('D'), 2, id('C'));
  clock.advance(1999);
  t.equal(m.get(id('D'))?.state, 'suspect');
  clock.advance(2);
  t.equal(m.get(id('D'))?.state, 'dead', 'k confirmations: the minimum timeout');
});

t.test('refutation: suspicion about ourselves raises our incarnation', async (t) => {
  const { m, events } = setup();
  m.suspect(id('A'), 5, id('B'));
  t.equal(m.self.incarnation, 6);
  t.ok(events.some((e) => e.type === 'refute' && e.incarnation === 6));
  m.dead(id('A'), 6);
  t.equal(m.self.incarnation, 7, 'dead about us at our incarnation → refuted one above it');
  t.equal(m.self.state, 'alive');
});

t.test(
  'a statement above the incarnation a member announced is ignored (it cannot push a refutation past the ceiling)',
  async (t) => {
    const { m, events } = setup();
    events.length = 0;
    const own = m.self.incarnation;
    m.dead(id('A'), 2 ** 53 - 1);
    m.suspect(id('A'), 2 ** 48, id('B'));
    m.learn({ ...info('A', 2 ** 53 - 1), state: 'dead' });
    t.equal(m.self.incarnation, own, 'our incarnation unchanged');
    t.same(events, [], 'no refutation, nothing else');
    m.dead(id('B'), 2 ** 53 - 1);
    m.suspect(id('C'), 2, id('D'));
    t.equal(m.get(id('B'))?.state, 'alive', 'B (announced incarnation 1) is not made dead at 2^53−1');
    t.equal(m.get(id('C'))?.state, 'alive', 'C is not made suspect at an incarnation it never announced');
    m.dead(id('B'), 1);
    t.equal(m.get(id('B'))?.state, 'dead', 'a statement at the announced incarnation still applies');
    t.ok(m.alive(info('B', 2)), 'and the member refutes it with the next incarnation');
    t.equal(m.get(id('B'))?.state, 'alive');
  },
);

t.test('a refutation never goes past the raise cap, whatever an earlier life announced', async (t) => {
  const { m } = setup();
  m.alive({ ...m.self, incarnation: 2 ** 53 - 1 });
  t.equal(m.self.incarnation, INCARNATION_RAISE_CAP + 1);
  t.ok(m.self.incarnation <= MAX_INCARNATION);
});

t.test('learn from sync: unknown dead member recorded without an alive flap', async (t) => {
  const { m, events } = setup();
  events.length = 0;
  m.learn({ ...info('Z', 4), state: 'dead' });
  t.equal(m.get(id('Z'))?.state, 'dead');
  t.same(
    events.map((e) => (e.type === 'state' ? e.member.state : e.type)),
    ['dead'],
  );
});

t.test('reap: members dead or left for long enough are forgotten, live ones never', async (t) => {
  const { m, clock } = setup(4);
  m.dead(id('B'), 1);
  m.leave(id('C'), 1);
  clock.advance(59_999);
  t.same(
    m.reap(60_000).map((x) => x.name),
    [],
    'not yet',
  );
  clock.advance(1);
  t.same(
    m
      .reap(60_000)
      .map((x) => x.name)
      .sort(),
    ['hB', 'hC'],
  );
  t.notOk(m.get(id('B')));
  t.ok(m.get(id('D')), 'alive member kept');
});

t.test(
  'a member first known without its statement: the statement at the same incarnation brings its WireGuard key',
  async (t) => {
    const { m, events } = setup(2);
    t.equal(m.get(id('B'))?.wgKey, undefined, 'learnt without a statement (the sync partner speaking of itself)');
    const before = events.length;
    const signed = { b: new Uint8Array([1]), s: new Uint8Array([2]) };
    t.ok(m.alive({ ...info('B'), signed, wgKey: 'k', tunnel: 'fd7a:6d73:6801:0:1:2:3:4' }), 'a change');
    t.equal(m.get(id('B'))?.wgKey, 'k', 'the key, from the statement');
    t.equal(m.get(id('B'))?.tunnel, 'fd7a:6d73:6801:0:1:2:3:4', 'the tunnel address');
    t.equal(events.length, before + 1, 'listeners are told (the agent builds its WireGuard peers from it)');
    t.notOk(
      m.alive({ ...info('B'), signed, wgKey: 'other', tunnel: 'fd7a:6d73:6801:0:9:9:9:9' }),
      'later: no change at the same incarnation',
    );
    t.equal(m.get(id('B'))?.wgKey, 'k', 'a second statement at the same incarnation swaps nothing');
  },
);

t.test('a newer incarnation learnt without a statement keeps the WireGuard key of the last one', async (t) => {
  const { m } = setup(1);
  const signed = { b: new Uint8Array([1]), s: new Uint8Array([2]) };
  m.alive({ ...info('B', 3), signed, wgKey: 'k', tunnel: 'fd7a:6d73:6801:0:1:2:3:4' });
  t.ok(m.alive(info('B', 4)), 'the restarted member, as it speaks of itself');
  t.equal(m.get(id('B'))?.wgKey, 'k', 'its key stays (its encrypted traffic is not cut while its statement travels)');
  m.alive({ ...info('B', 5), signed, wgKey: 'k2', tunnel: 'fd7a:6d73:6801:0:1:2:3:4' });
  t.equal(m.get(id('B'))?.wgKey, 'k2', 'a new statement with a new key replaces it');
});

t.test(
  'a restarted member with a new WireGuard key: learnt first without its statement, the statement brings the key',
  async (t) => {
    const { m } = setup(1);
    const signed = { b: new Uint8Array([1]), s: new Uint8Array([2]) };
    m.alive({ ...info('B', 3), signed, wgKey: 'old', tunnel: 'fd7a:6d73:6801:0:1:2:3:4' });
    m.alive(info('B', 4)); // the restart, as the member speaks of itself
    t.equal(m.get(id('B'))?.wgKey, 'old', 'meanwhile the old key');
    const signed4 = { b: new Uint8Array([4]), s: new Uint8Array([4]) };
    t.ok(m.alive({ ...info('B', 4), signed: signed4, wgKey: 'new', tunnel: 'fd7a:6d73:6801:0:1:2:3:4' }), 'a change');
    t.equal(m.get(id('B'))?.wgKey, 'new', 'its statement at that incarnation: the new key');
  },
);

t.test('a statement naming other networks of interest is told to listeners, once per change', async (t) => {
  const { m, events } = setup(2);
  const signed = { b: new Uint8Array([1]), s: new Uint8Array([2]) };
  const nets = () => events.filter((e) => e.type === 'nets').length;
  m.alive({ ...info('B', 2), signed, wgKey: 'k', tunnel: 'fd7a:6d73:6801:0:1:2:3:4', nets: [7] });
  t.equal(nets(), 1, 'a new list');
  t.same(m.get(id('B'))?.nets, [7]);
  m.alive({ ...info('B', 3), signed, wgKey: 'k', tunnel: 'fd7a:6d73:6801:0:1:2:3:4', nets: [7] });
  t.equal(nets(), 1, 'the same list at a later incarnation: nothing');
  m.alive({ ...info('B', 4), signed, wgKey: 'k', tunnel: 'fd7a:6d73:6801:0:1:2:3:4', nets: [7, 9] });
  t.equal(nets(), 2, 'another list');
  m.alive({ ...info('B', 5) });
  t.same(m.get(id('B'))?.nets, [7, 9], 'learnt without a statement: the last statement list is kept');
  t.equal(nets(), 2);
});
