/** Network definitions other hosts use cannot be deleted, redefined or have their VNI taken by a gossip write. */
import t from 'tap';
import { guardView, networkWriteRefusal, NETWORK_USER_GRACE_MS } from '../../discovery/network-guard.js';
import { Membership } from '../../discovery/membership.js';
import type { WireRecord } from '../../discovery/wire.js';

const BLUE = { name: 'blue', vni: 5000, subnet: '198.18.5.0/24', gateway: '198.18.5.1' };
const ep = (owner: string, ownerLive = true) => ({
  network: 'blue',
  id: `e-${owner}`,
  mac: '02:42:c6:12:05:0a',
  ip: '198.18.5.10',
  vtep: '198.51.100.2',
  host: owner,
  owner,
  ownerLive,
});
const write = (owner: string, value: object | null, key = 'blue'): WireRecord =>
  value === null
    ? { kind: 'network', key, owner, lamport: 9, deleted: true }
    : { kind: 'network', key, owner, lamport: 9, value: value as never };

t.test('in use by another live member: no delete, no redefinition', async (t) => {
  const view = guardView([BLUE], [ep('h2')]);
  t.equal(networkWriteRefusal(write('rogue', null), view), 'network-in-use', 'delete refused');
  t.equal(
    networkWriteRefusal(write('rogue', { ...BLUE, subnet: '198.18.6.0/24', gateway: '198.18.6.1' }), view),
    'network-in-use',
    'new subnet refused',
  );
  t.equal(networkWriteRefusal(write('rogue', { ...BLUE, vni: 5001 }), view), 'network-in-use', 'new VNI refused');
  t.equal(
    networkWriteRefusal(write('h3', { ...BLUE }), view),
    undefined,
    'the same definition written again (Docker on another host) passes',
  );
  t.equal(
    networkWriteRefusal(write('h2', null), view),
    undefined,
    'the only user may delete its own network (its agent checks its endpoints first)',
  );
});

t.test('not in use by others: writes pass', async (t) => {
  t.equal(networkWriteRefusal(write('h2', null), guardView([BLUE], [])), undefined, 'no endpoints');
  t.equal(networkWriteRefusal(write('h3', null), guardView([BLUE], [ep('h2', false)])), undefined, 'the user is dead');
  t.equal(
    networkWriteRefusal(write('h3', { ...BLUE, name: 'red' }, 'red'), guardView([BLUE], [])),
    undefined,
    'a new network',
  );
});

t.test('a new network cannot take the VNI of a network others use', async (t) => {
  const view = guardView([BLUE], [ep('h2')]);
  t.equal(
    networkWriteRefusal(
      write('rogue', { name: 'evil', vni: 5000, subnet: '198.18.9.0/24', gateway: '198.18.9.1' }, 'evil'),
      view,
    ),
    'vni-in-use',
  );
  t.equal(
    networkWriteRefusal(
      write('rogue', { name: 'evil', vni: 5002, subnet: '198.18.9.0/24', gateway: '198.18.9.1' }, 'evil'),
      view,
    ),
    undefined,
    'another VNI passes',
  );
});

t.test("other record kinds are not this guard's business", async (t) => {
  t.equal(
    networkWriteRefusal(
      { kind: 'endpoint', key: 'blue/x', owner: 'rogue', lamport: 1, deleted: true },
      guardView([BLUE], [ep('h2')]),
    ),
    undefined,
  );
});

t.test('every field other hosts program from is guarded: internal, MTU (not only VNI, subnet, gateway)', async (t) => {
  const view = guardView([BLUE], [ep('h2')]);
  t.equal(
    networkWriteRefusal(write('rogue', { ...BLUE, internal: true }), view),
    'network-in-use',
    'internal flipped on',
  );
  t.equal(networkWriteRefusal(write('rogue', { ...BLUE, mtu: 1280 }), view), 'network-in-use', 'MTU changed');
  t.equal(
    networkWriteRefusal(write('rogue', { ...BLUE, encrypted: true }), view),
    'network-in-use',
    'encryption flipped on',
  );
  t.equal(
    networkWriteRefusal(write('rogue', { ...BLUE }), guardView([{ ...BLUE, encrypted: true }], [ep('h2')])),
    'network-in-use',
    'encryption flipped off (its frames would go out in cleartext)',
  );
  const internalNet = { ...BLUE, internal: true };
  t.equal(
    networkWriteRefusal(write('rogue', { ...BLUE }), guardView([internalNet], [ep('h2')])),
    'network-in-use',
    'internal flipped off (egress would appear on every host)',
  );
  t.equal(networkWriteRefusal(write('rogue', { ...BLUE, options: { a: 'b' } }), view), undefined, 'labels may change');
});

t.test('making the users look dead first does not open the guard', async (t) => {
  let dead = true;
  const view = guardView([BLUE], [ep('h2', false)], (owner) => owner === 'h2' && dead);
  t.equal(networkWriteRefusal(write('rogue', null), view), 'network-in-use', 'declared dead moments ago: still a user');
  dead = false; // the grace has passed
  let now = 1000;
  t.equal(networkWriteRefusal(write('rogue', null), view), undefined);
  const m = new Membership({ peerId: 'self', name: 's', vtep: '198.51.100.1', addrs: [], incarnation: 1 }, undefined, {
    now: () => now,
    setTimer: () => ({ cancel: () => undefined }),
  });
  m.alive({ peerId: 'h2', name: 'h2', vtep: '198.51.100.2', addrs: [], incarnation: 5 });
  m.dead('h2', 5);
  t.ok(m.recentlyDead('h2', NETWORK_USER_GRACE_MS), 'the membership knows it was declared dead just now');
  now += NETWORK_USER_GRACE_MS;
  t.notOk(m.recentlyDead('h2', NETWORK_USER_GRACE_MS), 'and after the grace, not any more');
});
