import t from 'tap';
import { ValidationError } from '../../core/errors.js';
import {
  isUsableHostIn,
  isVtepAddress,
  parseCidr,
  parseIfAddr,
  parseIfName,
  parseIPv4,
  parseMac,
  parseVni,
  ipv4ToString,
} from '../../core/addresses.js';

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof ValidationError ? e.field : `not a ValidationError: ${String(e)}`;
  }
  return undefined;
};

t.test('MAC addresses', async (t) => {
  t.equal(parseMac('02:AA:bb:0C:00:01'), '02:aa:bb:0c:00:01');
  t.equal(parseMac('02-aa-bb-0c-00-01'), '02:aa:bb:0c:00:01');
  t.equal(parseMac('02aabb0c0001'), '02:aa:bb:0c:00:01');
  for (const bad of [
    '',
    '02:aa:bb:0c:00',
    '02:aa:bb:0c:00:0g',
    '02:aa-bb:0c:00:01',
    '01:00:5e:00:00:01',
    '00:00:00:00:00:00',
    42,
    null,
  ]) {
    t.equal(
      fieldOf(() => parseMac(bad, 'endpoint.mac')),
      'endpoint.mac',
      `rejects ${JSON.stringify(bad)}`,
    );
  }
});

t.test('IPv4 and CIDR', async (t) => {
  t.equal(parseIPv4('198.18.0.1'), 0xc6120001);
  t.equal(ipv4ToString(0xc6120001), '198.18.0.1');
  for (const bad of ['198.18.0', '198.18.0.256', '198.18.00.1', '1.2.3.4.5', 'a.b.c.d', ''])
    t.equal(
      fieldOf(() => parseIPv4(bad)),
      'ip',
      `rejects ${bad}`,
    );
  t.same(parseCidr('198.18.0.0/24'), { network: '198.18.0.0', prefix: 24, text: '198.18.0.0/24' });
  for (const bad of ['198.18.0.1/24', '198.18.0.0', '198.18.0.0/33', '198.18.0.0/4', '198.18.0.0/24/1'])
    t.equal(
      fieldOf(() => parseCidr(bad)),
      'subnet',
      `rejects ${bad}`,
    );
  const c = parseCidr('198.18.4.0/22');
  t.ok(isUsableHostIn('198.18.7.254', c));
  t.notOk(isUsableHostIn('198.18.4.0', c), 'network address');
  t.notOk(isUsableHostIn('198.18.7.255', c), 'broadcast');
  t.notOk(isUsableHostIn('198.18.8.1', c), 'outside');
  t.same(parseIfAddr('198.18.0.9/24'), { ip: '198.18.0.9', prefix: 24, subnet: parseCidr('198.18.0.0/24') });
  t.equal(
    fieldOf(() => parseIfAddr('198.18.0.0/24')),
    'ip',
  );
  // Subnets stop at /30; IPAM blocks may be single addresses.
  t.equal(
    fieldOf(() => parseCidr('198.18.0.5/32')),
    'subnet',
    'a /32 is no subnet',
  );
  t.equal(parseCidr('198.18.0.5/32', 'block', 32).text, '198.18.0.5/32');
  t.equal(
    fieldOf(() => parseCidr('198.18.0.5/31', 'block', 32)),
    'block',
    'host bits set',
  );
});

t.test('VTEP addresses', async (t) => {
  for (const ok of ['198.51.100.1', '2001:db8::1', '::1', 'fe80::1']) t.ok(isVtepAddress(ok), `accepts ${ok}`);
  for (const bad of ['198.51.100', '198.51.100.256', ':::', '2001:db8::g', '1:2:3:4:5:6:7:8:9', '', 7, null])
    t.notOk(isVtepAddress(bad), `rejects ${String(bad)}`);
});

t.test('VNI and interface names', async (t) => {
  t.equal(parseVni(1), 1);
  t.equal(parseVni('16777215'), 16777215);
  for (const bad of [0, 16777216, -1, 1.5, '12a', null])
    t.equal(
      fieldOf(() => parseVni(bad)),
      'vni',
      `rejects ${JSON.stringify(bad)}`,
    );
  t.equal(parseIfName('eth0'), 'eth0');
  for (const bad of ['', 'a'.repeat(16), 'a/b', 'a b', '..'])
    t.equal(
      fieldOf(() => parseIfName(bad)),
      'ifname',
      `rejects ${JSON.stringify(bad)}`,
    );
});
