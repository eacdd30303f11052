/** br0's MAC: fixed per VNI, locally administered unicast, the same on every host. */
import t from 'tap';
import { bridgeMac } from '../../dataplane/names.js';

t.test('bridgeMac: 0e:42, the VNI in three bytes, 01', async (t) => {
  t.equal(bridgeMac(7070), '0e:42:00:1b:9e:01');
  t.equal(bridgeMac(0xffffff), '0e:42:ff:ff:ff:01');
  const first = parseInt(bridgeMac(1).slice(0, 2), 16);
  t.equal(first & 1, 0, 'unicast');
  t.equal(first & 2, 2, 'locally administered');
});
