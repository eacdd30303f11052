/**
 * Names across connected networks: a's server answers b's names (`web.b.vxmesh`, `web.b`) when b is
 * connected to a, and never those of a network it is not connected to.
 */
import t from 'tap';
import { lookup, type DnsZone } from '../../dns/zone.js';

const a: DnsZone = {
  network: 'a',
  names: new Map([['api', ['198.18.111.5']]]),
  connected: new Map([['b', new Map([['web', ['198.18.112.7']]])]]),
};

t.test('a connected network: its names answer from this network server', async (t) => {
  t.same(lookup(a, 'web.b.vxmesh'), { kind: 'answer', addresses: ['198.18.112.7'] });
  t.same(lookup(a, 'WEB.B.vxmesh.'), { kind: 'answer', addresses: ['198.18.112.7'] }, 'any case, trailing dot');
  t.same(lookup(a, 'web.b'), { kind: 'answer', addresses: ['198.18.112.7'] }, 'NAME.NETWORK');
  t.same(lookup(a, 'b.vxmesh'), { kind: 'answer', addresses: [] }, 'the domain exists');
  t.same(lookup(a, 'nope.b.vxmesh'), { kind: 'nxdomain' });
  t.same(lookup(a, 'nope.b'), { kind: 'forward' }, 'an unknown NAME.b goes upstream like any name');
  t.same(lookup(a, 'api'), { kind: 'answer', addresses: ['198.18.111.5'] }, 'its own names as before');
});

t.test('a network not connected: nothing of it', async (t) => {
  t.same(lookup(a, 'web.c.vxmesh'), { kind: 'nxdomain' });
  t.same(lookup(a, 'web.c'), { kind: 'forward' });
  const alone: DnsZone = { network: 'a', names: new Map() };
  t.same(lookup(alone, 'web.b.vxmesh'), { kind: 'nxdomain' }, 'without the connection b stays hidden');
  t.same(lookup(alone, 'web'), { kind: 'nxdomain' }, "a single label is only a's own");
  t.same(lookup(a, 'web'), { kind: 'nxdomain' }, "b's names need their network's label");
});
