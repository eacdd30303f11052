/** The record kinds' checks (core/records.ts): the network fields egress and IPAM added. */
import t from 'tap';
import { checkNetworkValue } from '../../core/records.js';

t.test('network values: internal, ipRange and reserved are checked and name their field', async (t) => {
  const base = { name: 'n', vni: 1, subnet: '198.18.0.0/24' };
  t.same(
    checkNetworkValue({ ...base, internal: true, ipRange: '198.18.0.128/25', reserved: ['198.18.0.9', '198.18.0.9'] }),
    { ...base, internal: true, ipRange: '198.18.0.128/25', reserved: ['198.18.0.9'] },
  );
  t.notOk('internal' in checkNetworkValue({ ...base, internal: false }), 'internal false is the default, not stored');
  t.throws(() => checkNetworkValue({ ...base, internal: 'yes' }), /value\.internal/);
  t.throws(
    () => checkNetworkValue({ ...base, ipRange: '198.18.1.0/28' }),
    /value\.ipRange: 198\.18\.1\.0\/28 is not inside/,
  );
  t.throws(() => checkNetworkValue({ ...base, ipRange: '198.18.0.0/16' }), /value\.ipRange/);
  t.throws(() => checkNetworkValue({ ...base, reserved: ['10.0.0.1'] }), /value\.reserved\[0\]/);
});

t.test('a checked network value has its keys in one order, whatever order they came in', async (t) => {
  // A record's format-1 signature covers its value's JSON text; the store compares stored text.
  const v = checkNetworkValue({
    reserved: ['198.18.0.9'],
    ipRange: '198.18.0.128/25',
    internal: true,
    options: { z: '1', a: '2' },
    mtu: 1400,
    gateway: '198.18.0.1',
    subnet: '198.18.0.0/24',
    vni: 7,
    name: 'n',
  });
  t.same(Object.keys(v), ['name', 'vni', 'subnet', 'gateway', 'mtu', 'options', 'internal', 'ipRange', 'reserved']);
  t.same(Object.keys(v.options ?? {}), ['z', 'a'], "options keep the owner's order");
});
