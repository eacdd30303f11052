/** IPv6 in one representation: canonical text (RFC 5952) and bigint; prefixes without walking them. */
import t from 'tap';
import fc from 'fast-check';
import {
  bigIntToIPv6,
  canonicalIPv6,
  inCidr6,
  ipv6ToBigInt,
  ipv6ToBytes,
  isMulticastIPv6,
  nthIPv6,
  parseCidr6,
  parseIPv6,
} from '../../core/ipv6.js';

t.test('one canonical text for every spelling', async (t) => {
  for (const [spelling, canonical] of [
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0:0::1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['::ffff:198.51.100.1', '::ffff:c633:6401'],
    ['fe80::0001', 'fe80::1'],
  ])
    t.equal(canonicalIPv6(spelling), canonical, spelling);
  for (const bad of ['', '2001:db8::1::2', '2001:db8:::1', 'g::1', '198.51.100.1', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9'])
    t.equal(canonicalIPv6(bad), undefined, `${bad}: not an address`);
  t.throws(() => parseIPv6('2001:db8::zz', 'endpoints[0].ip6'), { name: 'ValidationError', field: 'endpoints[0].ip6' });
});

t.test('text ↔ bigint ↔ bytes round-trip for any address; equal spellings are equal numbers', async (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (n) => {
      const text = bigIntToIPv6(n);
      return canonicalIPv6(text) === text && ipv6ToBigInt(text) === n && ipv6ToBytes(text).length === 16;
    }),
    { numRuns: 2000 },
  );
  t.equal(ipv6ToBigInt('2001:DB8::1'), ipv6ToBigInt('2001:0db8:0:0::1'));
  t.equal(ipv6ToBytes('2001:db8::1').toString('hex'), '20010db8000000000000000000000001');
});

t.test('prefixes: host bits refused, membership and the n-th address by arithmetic', async (t) => {
  const c = parseCidr6('2001:DB8:40::/64');
  t.equal(c.text, '2001:db8:40::/64', 'canonical text');
  t.ok(inCidr6('2001:db8:40::ffff:1', c));
  t.ok(inCidr6('2001:0DB8:0040:0000:ffff:ffff:ffff:ffff', c), 'any spelling, the last address');
  t.notOk(inCidr6('2001:db8:41::1', c));
  t.equal(nthIPv6(c, 0n), '2001:db8:40::', 'the subnet-router anycast address');
  t.equal(nthIPv6(c, (1n << 64n) - 1n), '2001:db8:40:0:ffff:ffff:ffff:ffff', 'the 2^64-th, without walking');
  t.throws(() => nthIPv6(c, 1n << 64n), RangeError);
  t.throws(() => parseCidr6('2001:db8:40::1/64', 'subnet'), {
    field: 'subnet',
    message: /host bits set.*2001:db8:40::\/64/,
  });
  t.throws(() => parseCidr6('2001:db8::/4', 'subnet'), { message: /out of range/ });
  t.throws(() => parseCidr6('2001:db8::', 'subnet'), { message: /expected ADDRESS\/n/ });
  t.ok(isMulticastIPv6('ff02::1'));
  t.notOk(isMulticastIPv6('2001:db8::1'));
});
