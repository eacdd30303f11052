/** The addresses IPAM may hand out (core/address-range.ts). */
import t from 'tap';
import { allocatable } from '../../core/address-range.js';

t.test('allocatable: the range, never a reserved address', async (t) => {
  const ok = allocatable({
    name: 'n',
    vni: 1,
    subnet: '198.18.0.0/24',
    ipRange: '198.18.0.128/28',
    reserved: ['198.18.0.130'],
  });
  t.same(['198.18.0.5', '198.18.0.128', '198.18.0.130', '198.18.0.143', '198.18.0.144'].map(ok), [
    false,
    true,
    false,
    true,
    false,
  ]);
  t.ok(allocatable({ name: 'n', vni: 1, subnet: '198.18.0.0/24' })('198.18.0.200'), 'no range: the subnet');
});
