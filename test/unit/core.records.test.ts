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
