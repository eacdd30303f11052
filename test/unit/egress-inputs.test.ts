/** Published-port syntax, transfer addresses, allocatable addresses and the new network fields. */
import t from 'tap';
import { parsePortMapping, parsePortMappings } from '../../core/port-mappings.js';
import { isTransferAddress, transferPairFor } from '../../core/transfer-addresses.js';
import { allocatable } from '../../core/address-range.js';
import { checkNetworkValue } from '../../core/records.js';
import { ValidationError } from '../../core/errors.js';

t.test('port mappings: forms, defaults and errors naming publish', async (t) => {
  t.same(parsePortMapping('8080:80'), { protocol: 'tcp', hostPort: 8080, port: 80 });
  t.same(parsePortMapping('5353:53/udp'), { protocol: 'udp', hostPort: 5353, port: 53 });
  t.same(parsePortMapping({ hostPort: 1, port: 2, protocol: 'udp' }), { protocol: 'udp', hostPort: 1, port: 2 });
  for (const bad of ['80', '0:80', '80:65536', 'a:80', '80:80/sctp', '1:2:3', ''])
    t.throws(() => parsePortMapping(bad), ValidationError, bad);
  t.throws(() => parsePortMappings(['80:1', '80:2']), /publish: host port 80\/tcp is given twice/);
  t.same(parsePortMappings(['80:1', '80:2/udp']).length, 2, 'same port, other protocol');
  t.throws(() => parsePortMappings(['80:1', 'x']), /publish\[1\]/, 'the bad item is named');
});

t.test(
  'transfer addresses: derived from the VNI, moved on when taken, inside 169.254.1.0-169.254.127.255',
  async (t) => {
    const a = transferPairFor(42, () => false);
    t.same(
      transferPairFor(42, () => false),
      a,
      'stable',
    );
    const moved = transferPairFor(42, (ip) => ip === a.host);
    t.not(moved.host, a.host, 'a taken pair is skipped');
    for (const vni of [1, 4096, 16256, 16777215]) {
      const p = transferPairFor(vni, () => false);
      t.ok(isTransferAddress(p.host) && isTransferAddress(p.overlay), `${vni}: ${p.host}/${p.overlay}`);
      t.equal(Number(p.host.split('.')[3]) % 2, 0, 'the host end is even (a /31)');
      t.notOk(
        p.host.startsWith('169.254.0.') || p.host.startsWith('169.254.169.'),
        'never the reserved /24 nor the metadata address',
      );
    }
    t.throws(() => transferPairFor(1, () => true), /every transfer address pair/);
  },
);

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
