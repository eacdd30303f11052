/** The dead-agent hold with a fake probe and clock. */
import t from 'tap';
import { DeadAgentHold } from '../../agent/hold.js';
import type { MemberView } from '../../agent/ports.js';
import { silentLogger } from '../../core/logger.js';

const member = (peerId: string, state: MemberView['state'], vtep = '198.51.100.2'): MemberView => ({
  peerId,
  name: peerId,
  vtep,
  addrs: [],
  incarnation: 1,
  state,
  vtepOrder: 1,
  since: 0,
  lastAck: 0,
  self: false,
});

function setup(answers: boolean) {
  let now = 1_000;
  const probed: string[] = [];
  let changes = 0;
  const state = { answers };
  const hold = new DeadAgentHold({
    probe: (vtep) => {
      probed.push(vtep);
      return Promise.resolve(state.answers);
    },
    holdMs: 10_000,
    vtepOf: () => '198.51.100.2',
    onChange: () => void changes++,
    log: silentLogger,
    now: () => now,
    recheckAliveMs: 3_600_000,
    recheckSuspectMs: 3_600_000,
    recheckDeadMs: 3_600_000,
  });
  return { hold, probed, state, changes: () => changes, advance: (ms: number) => void (now += ms) };
}

const settle = () => new Promise((r) => setImmediate(r));

t.test('a dead agent whose VTEP answers is held until holdMs, then not', async (t) => {
  const s = setup(true);
  t.teardown(() => s.hold.stop());
  s.hold.onMembers([member('h2', 'dead')]);
  t.equal(s.hold.isHeld('h2'), true, 'held from the start (no flap while the first check runs)');
  await settle();
  t.same(s.probed, ['198.51.100.2']);
  t.equal(s.changes(), 0, 'the answer confirmed the assumption: no reconcile asked');
  s.advance(9_999);
  t.equal(s.hold.isHeld('h2'), true);
  s.advance(2);
  t.equal(s.hold.isHeld('h2'), false, 'the hold ends after holdMs');
});

t.test('a dead agent whose VTEP is silent is not held, and a reconcile is asked for', async (t) => {
  const s = setup(false);
  t.teardown(() => s.hold.stop());
  s.hold.onMembers([member('h2', 'left')]);
  await settle();
  t.equal(s.hold.isHeld('h2'), false);
  t.equal(s.changes(), 1);
  s.state.answers = true;
  await s.hold.check('h2', '198.51.100.2');
  t.equal(s.hold.isHeld('h2'), true, 'the host answers again: held again');
  t.equal(s.changes(), 2);
});

t.test(
  'alive members are never held; a member alive again ends its hold; a probe that throws counts as silent',
  async (t) => {
    const s = setup(true);
    t.teardown(() => s.hold.stop());
    s.hold.onMembers([member('h2', 'alive'), member('h3', 'suspect')]);
    t.equal(s.hold.isHeld('h2'), false);
    t.equal(s.hold.isHeld('h3'), false);
    s.hold.onMembers([member('h2', 'dead')]);
    await settle();
    t.equal(s.hold.isHeld('h2'), true);
    s.hold.onMembers([member('h2', 'alive')]);
    t.equal(s.hold.isHeld('h2'), false);
    const throwing = new DeadAgentHold({
      probe: () => Promise.reject(new Error('no raw socket')),
      holdMs: 10_000,
      vtepOf: () => undefined,
      onChange: () => undefined,
      log: silentLogger,
    });
    t.teardown(() => throwing.stop());
    throwing.onMembers([member('h4', 'dead')]);
    await settle();
    t.equal(throwing.isHeld('h4'), false);
  },
);

t.test(
  'suspect: checked at once; a silent VTEP withdraws before the member is dead, an answering one keeps it',
  async (t) => {
    const s = setup(false);
    t.teardown(() => s.hold.stop());
    s.hold.onMembers([member('h2', 'suspect')]);
    t.equal(s.hold.isSilent('h2'), false, 'not known silent before the first answer');
    await settle();
    t.same(s.probed, ['198.51.100.2'], 'probed as soon as it is suspect');
    t.equal(s.hold.isSilent('h2'), true);
    t.equal(s.hold.isHeld('h2'), false, 'a suspect is never "held": it is live or withdrawn');
    t.equal(s.changes(), 1, 'a reconcile is asked for');
    s.hold.onMembers([member('h2', 'dead')]);
    t.equal(s.probed.length, 1, 'becoming dead does not start a second check');
    t.equal(s.hold.isHeld('h2'), false, 'still silent: not held');
    const a = setup(true);
    t.teardown(() => a.hold.stop());
    a.hold.onMembers([member('h3', 'suspect')]);
    await settle();
    t.equal(a.hold.isSilent('h3'), false);
    t.equal(a.changes(), 0);
    a.hold.onMembers([member('h3', 'dead')]);
    t.equal(a.hold.isHeld('h3'), true, 'answering and now dead: held');
  },
);

t.test('a suspect whose VTEP still answers is re-checked quickly: a host going down is noticed at once', async (t) => {
  const state = { answers: true };
  let changes = 0;
  const hold = new DeadAgentHold({
    probe: () => Promise.resolve(state.answers),
    holdMs: 10_000,
    vtepOf: () => '198.51.100.2',
    onChange: () => void changes++,
    log: silentLogger,
    recheckSuspectMs: 20,
    recheckAliveMs: 3_600_000,
  });
  t.teardown(() => hold.stop());
  hold.onMembers([member('h2', 'suspect')]);
  await settle();
  t.equal(hold.isSilent('h2'), false);
  state.answers = false; // the host namespace goes away after the agent died
  const t0 = Date.now();
  while (!hold.isSilent('h2') && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
  t.equal(hold.isSilent('h2'), true, 'silent on a re-check while still suspect');
  t.equal(changes, 1);
});
