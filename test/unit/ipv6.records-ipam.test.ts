/**
 * IPv6 in records and IPAM: network and endpoint fields per family (checks naming the field), the
 * format-2 body's IPv6 keys (round trips; an IPv4 record's body unchanged), block IPAM over a /64
 * (never listed, never a duplicate, the explicit-address race), and the claim rule for IPv6 addresses.
 */
import t from 'tap';
import { World } from '../fixtures/ipam-world.js';
import fc from 'fast-check';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import {
  checkEndpointValue,
  checkNetworkFields,
  checkNetworkValue,
  ipv6View,
  type NetworkValue,
  type RecordValue,
} from '../../core/records.js';
import { addressAt, familyOf, parsePrefix, prefixHas, requireHostInPrefix } from '../../core/prefix.js';
import { decodeBody, derivedKey, encodeBody } from '../../discovery/record-codec.js';
import { checkRecord, type WireRecord } from '../../discovery/wire.js';
import { Ipam, type BlockClaim } from '../../ipam/block-ipam.js';
import { admitEndpoints } from '../../agent/claims.js';
import { respond } from '../../dns/responder.js';
import dnsPacket from 'dns-packet';

const owner = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK';

t.test('prefixes of either family', async (t) => {
  const p6 = parsePrefix('2001:DB8:40:0::/64');
  t.equal(p6.text, '2001:db8:40::/64', 'canonical text');
  t.ok(prefixHas(p6, '2001:0db8:0040::ffff'), 'any spelling is inside');
  t.notOk(prefixHas(p6, '198.18.0.1'), 'another family is never inside');
  t.equal(addressAt(p6, 1n), '2001:db8:40::1');
  t.equal(addressAt(p6, (1n << 64n) - 1n), '2001:db8:40:0:ffff:ffff:ffff:ffff', 'the last of 2^64, not walked');
  t.throws(() => parsePrefix('2001:db8:40::1/64'), { field: 'subnet', message: /host bits/ });
  t.throws(
    () => requireHostInPrefix('2001:db8:40::', p6, 'ip'),
    { field: 'ip', message: /./ },
    'subnet-router anycast refused',
  );
  t.throws(() => requireHostInPrefix('198.18.0.1', p6, 'ip6'), { field: 'ip6', message: /IPv4 address/ });
  t.equal(requireHostInPrefix('2001:0db8:40::0011', p6), '2001:db8:40::11', 'returned canonical');
  t.equal(familyOf('::ffff:1.2.3.4'), 6);
  t.equal(familyOf('1.2.3'), undefined);
  const p4 = parsePrefix('198.18.40.0/24');
  t.equal(addressAt(p4, 255n), '198.18.40.255');
});

t.test('network fields per family', async (t) => {
  const dual = checkNetworkFields(
    { name: 'd', subnet: '198.18.40.0/24', subnet6: '2001:DB8:40::/64', gateway6: '2001:db8:40::1' },
    '',
    { request: true },
  );
  t.same(dual, { name: 'd', subnet: '198.18.40.0/24', subnet6: '2001:db8:40::/64', gateway6: '2001:db8:40::1' });
  const only6 = checkNetworkValue({ name: 's', vni: 9, subnet6: '2001:db8:41::/64' });
  t.equal(only6.subnet, undefined, 'IPv6-only: no IPv4 subnet');
  t.throws(() => checkNetworkFields({ name: 'x' }, ''), { field: 'subnet', message: /subnet6/ }, 'one subnet at least');
  t.throws(() => checkNetworkFields({ name: 'x', subnet6: '198.18.0.0/24' }, ''), { field: 'subnet6', message: /./ });
  t.throws(() => checkNetworkFields({ name: 'x', subnet6: '2001:db8:41::/64', gateway6: '2001:db8:42::1' }, ''), {
    field: 'gateway6',
    message: /./,
  });
  t.throws(() => checkNetworkFields({ name: 'x', subnet6: '2001:db8:41::/64', ipRange6: '2001:db8:42::/112' }, ''), {
    field: 'ipRange6',
    message: /./,
  });
  t.throws(() => checkNetworkFields({ name: 'x', subnet6: '2001:db8:41::/64', reserved6: ['2001:db8:41::'] }, ''), {
    field: 'reserved6[0]',
    message: /./,
  });
  t.throws(() => checkNetworkFields({ name: 'x', subnet6: '2001:db8:41::/64', gateway: '198.18.0.1' }, ''), {
    field: 'gateway',
    message: /IPv4 subnet/,
  });
  t.throws(() => checkNetworkFields({ name: 'x', subnet: '198.18.0.0/24', gateway6: '2001:db8::1' }, ''), {
    field: 'gateway6',
    message: /./,
  });
  t.same(ipv6View({ ...only6, gateway6: '2001:db8:41::1' }), {
    name: 's',
    vni: 9,
    subnet: '2001:db8:41::/64',
    gateway: '2001:db8:41::1',
  });
});

t.test('endpoint fields: IPv4, IPv6 or both; an IPv6 VTEP', async (t) => {
  const base = { network: 'n', id: 'e1', mac: '0a:42:00:00:00:01', vtep: '2001:DB8:100::11', host: 'h1' };
  const v6 = checkEndpointValue({ ...base, ip6: '2001:db8:41:0::5' });
  t.equal(v6.ip6, '2001:db8:41::5');
  t.equal(v6.vtep, '2001:db8:100::11', 'the VTEP canonical');
  t.equal(v6.ip, undefined);
  t.throws(() => checkEndpointValue(base), { field: 'value.ip', message: /./ }, 'an address is required');
  t.throws(() => checkEndpointValue({ ...base, ip6: '198.18.0.5' }), { field: 'value.ip6', message: /./ });
  const both = checkEndpointValue({ ...base, ip: '198.18.40.5', ip6: '2001:db8:40::5' });
  t.same(Object.keys(both), ['network', 'id', 'mac', 'ip', 'vtep', 'host', 'ip6'], 'ip6 last: the v1 JSON order holds');
});

t.test('format-2 bodies carry IPv6 in keys of their own; an IPv4 body is unchanged', async (t) => {
  const rec = (kind: WireRecord['kind'], value: unknown): WireRecord =>
    checkRecord(
      { kind, key: derivedKey(kind, value as RecordValue), owner, lamport: 3, value } as unknown as WireRecord,
      'r',
    );
  const cases: Array<[WireRecord['kind'], Record<string, unknown>]> = [
    ['network', { name: 'only6', vni: 9, subnet6: '2001:db8:41::/64', gateway6: '2001:db8:41::1' }],
    [
      'network',
      {
        name: 'dual',
        vni: 10,
        subnet: '198.18.40.0/24',
        gateway: '198.18.40.1',
        subnet6: '2001:db8:40::/64',
        gateway6: '2001:db8:40::1',
        ipRange6: '2001:db8:40::100/120',
        reserved6: ['2001:db8:40::7'],
      },
    ],
    [
      'endpoint',
      {
        network: 'only6',
        id: 'e',
        mac: '0a:42:01:02:03:04',
        ip6: '2001:db8:41::5',
        vtep: '2001:db8:100::11',
        host: 'h',
      },
    ],
    [
      'endpoint',
      {
        network: 'dual',
        id: 'e',
        mac: '02:42:c6:12:28:05',
        ip: '198.18.40.5',
        ip6: '2001:db8:40::5',
        vtep: '198.51.100.11',
        host: 'h',
      },
    ],
    ['ipam-block', { network: 'only6', block: '2001:db8:41::1:0/112' }],
  ];
  for (const [kind, value] of cases) {
    const r = rec(kind, { ...value });
    const back = decodeBody(encodeBody(r), owner, new Uint8Array(64));
    t.same(back.value, r.value, `${kind} ${JSON.stringify(value).slice(0, 40)} round-trips`);
  }
  const v4 = rec('endpoint', {
    network: 'n',
    id: 'e',
    mac: '02:42:c6:12:00:05',
    ip: '198.18.0.5',
    vtep: '198.51.100.11',
    host: 'h',
  });
  const keys = [
    ...(cborDecode(encodeBody(v4), { useMaps: true }) as [number, null, number, Map<number, unknown>])[3].keys(),
  ];
  t.same(keys, [1, 2, 3, 4, 5, 6], 'an IPv4 endpoint body has exactly the keys generation 3 reads');
  const only6 = rec('endpoint', cases[2]?.[1]);
  const keys6 = [
    ...(cborDecode(encodeBody(only6), { useMaps: true }) as [number, null, number, Map<number, unknown>])[3].keys(),
  ];
  t.same(keys6, [1, 2, 3, 6, 9, 10], 'IPv6-only: ip6 in 9, the IPv6 VTEP in 10, no 4 or 5');
  const short = new Map<number, unknown>([
    [1, 'n'],
    [2, 'e'],
    [3, Uint8Array.from([10, 66, 1, 2, 3, 4])],
    [6, 'h'],
    [9, new Uint8Array(15)],
    [10, new Uint8Array(16).fill(1)],
  ]);
  t.throws(() => decodeBody(cborEncode([2, null, 3, short]), owner, new Uint8Array(64)), {
    message: /value\.ip6: must be 16 address bytes/,
  });
});

const noSleep = async () => undefined;
const net6: NetworkValue = ipv6View({
  name: 'v6',
  vni: 11,
  subnet6: '2001:db8:41::/64',
  gateway6: '2001:db8:41::1',
}) as NetworkValue;

t.test('IPv6 block IPAM: /112 blocks of a /64, three hosts, no duplicates, nothing listed', async (t) => {
  const w = new World();
  const hosts = ['A', 'B', 'C'].map((h) => ({ h, ipam: new Ipam(w.source(h), 0, Date.now, noSleep) }));
  const got: string[] = [];
  await Promise.all(
    hosts.map(async ({ h, ipam }) => {
      for (let i = 0; i < 40; i++) {
        const ip = await ipam.allocate(net6);
        w.endpoints.push({ network: 'v6', ip, id: `${h}${i}`, host: h });
        ipam.settle('v6', ip);
        got.push(ip);
      }
    }),
  );
  t.equal(new Set(got).size, 120, '120 unique addresses');
  t.ok(
    got.every((ip) => familyOf(ip) === 6 && prefixHas(parsePrefix('2001:db8:41::/64'), ip)),
    'all inside the /64',
  );
  t.notOk(got.includes('2001:db8:41::') || got.includes('2001:db8:41::1'), 'anycast and gateway never handed out');
  t.ok(
    w.claims.every((c) => c.block.endsWith('/112')),
    `claims are /112 blocks (${[...new Set(w.claims.map((c) => c.block))].join(', ')})`,
  );
  t.equal(new Set(w.claims.map((c) => c.owner)).size, 3, 'one block per host is enough');
});

t.test('IPv6 ipRange6 and reserved6 are honoured', async (t) => {
  const w = new World();
  const ipam = new Ipam(w.source('A'), 0, Date.now, noSleep);
  const n = ipv6View({
    name: 'r',
    vni: 12,
    subnet6: '2001:db8:42::/64',
    gateway6: '2001:db8:42::1',
    ipRange6: '2001:db8:42::ab00/120',
    reserved6: ['2001:db8:42::ab01'],
  }) as NetworkValue;
  const got: string[] = [];
  for (let i = 0; i < 5; i++) {
    const ip = await ipam.allocate(n);
    w.endpoints.push({ network: 'r', ip, id: `e${i}`, host: 'A' });
    got.push(ip);
  }
  const range = parsePrefix('2001:db8:42::ab00/120', 'r', true);
  t.ok(
    got.every((ip) => prefixHas(range, ip)),
    `inside the range: ${got.join(' ')}`,
  );
  t.notOk(got.includes('2001:db8:42::ab01'), 'the aux address is skipped');
});

t.test('two hosts race for one explicit IPv6 address: one gets it, the other is refused', async (t) => {
  const w = new World();
  const settle = () => new Promise<void>((r) => setTimeout(r, 10));
  const a = new Ipam(w.source('A'), 10, Date.now, settle);
  const b = new Ipam(w.source('B'), 10, Date.now, settle);
  const results = await Promise.allSettled([
    a.reserveExplicit(net6, '2001:db8:41::50'),
    b.reserveExplicit(net6, '2001:db8:41::50'),
  ]);
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one host got it');
  const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  t.match(String(lost?.reason), /claimed at the same time by another host/);
  t.same(
    w.claims.map((c) => c.block),
    ['2001:db8:41::50/128'],
    "only the winner's /128 claim stands",
  );
  w.endpoints.push({ network: 'v6', ip: '2001:db8:41::50', id: 'x', host: 'A' });
  await t.rejects(b.reserveExplicit(net6, '2001:db8:41::50'), { field: 'ip', message: /in use by endpoint x/ });
});

t.test('a property: random IPv6 allocations of several hosts never collide', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 60 }), async (order) => {
      const w = new World();
      const ipams = ['A', 'B', 'C', 'D'].map((h) => new Ipam(w.source(h), 0, Date.now, noSleep));
      for (const [i, h] of order.entries()) {
        const ip = await (ipams[h] as Ipam).allocate(net6);
        if (w.endpoints.some((e) => e.ip === ip)) return false;
        w.endpoints.push({ network: 'v6', ip, id: `e${i}`, host: String(h) });
      }
      return true;
    }),
    { numRuns: 30 },
  );
  t.pass('30 random schedules, no address twice');
});

t.test('the claim rule binds both addresses of an endpoint', async (t) => {
  const vtepOf = (p: string) => ({ h1: '198.51.100.1', h2: '198.51.100.2' })[p];
  const ep = (o: string, id: string, ip: string | undefined, ip6: string) => ({
    owner: o,
    lamport: 1,
    value: {
      network: 'd',
      id,
      mac: `0a:42:00:00:00:0${id.length}`,
      ...(ip ? { ip } : {}),
      ip6,
      vtep: vtepOf(o) as string,
      host: o,
    },
  });
  const claims: BlockClaim[] = [
    { network: 'd', block: '198.18.40.0/28', owner: 'h1', lamport: 1 },
    { network: 'd', block: '2001:db8:40::/112', owner: 'h1', lamport: 1 },
    { network: 'd', block: '2001:db8:40::1:0/112', owner: 'h2', lamport: 1 },
  ];
  const run = (eps: ReturnType<typeof ep>[]) => {
    const a = admitEndpoints({ endpoints: eps, claims, vtepOf });
    return {
      admitted: a.admitted.map((r) => r.value.id),
      refused: a.refused.map((r) => `${r.id} ${r.reason} ${r.ip}`),
    };
  };
  t.same(run([ep('h1', 'a', '198.18.40.5', '2001:db8:40::5')]).admitted, ['a'], 'both in claims of its owner');
  t.same(
    run([ep('h1', 'bb', '198.18.40.5', '2001:db8:40::1:5')]).refused,
    ['bb ip-not-claimed 198.18.40.5'],
    "IPv6 in another's block",
  );
  t.same(run([ep('h2', 'ccc', undefined, '2001:db8:40::1:9')]).admitted, ['ccc'], 'IPv6-only, in its own block');
  t.same(
    run([ep('h1', 'a', '198.18.40.5', '2001:db8:40::5'), ep('h1', 'dddd', '198.18.40.6', '2001:db8:40:0:0::5')])
      .refused,
    [],
    'one owner may announce it twice (its own race)',
  );
});

t.test('AAAA answered from IPv6 addresses, A from IPv4, NODATA for the family a name lacks', async (t) => {
  const zone = {
    network: 'd',
    names: new Map([
      ['web', ['198.18.40.5', '2001:db8:40::5']],
      ['v6only', ['2001:db8:40::6']],
    ]),
  };
  type Reply = { rcode: string; answers: Array<{ type: string; data: unknown }> };
  const ask = (name: string, type: 'A' | 'AAAA'): Reply => {
    const r = respond(dnsPacket.encode({ type: 'query', id: 1, questions: [{ name, type }] }), zone);
    if (!('reply' in r) || !r.reply) throw new Error('no reply');
    return dnsPacket.decode(r.reply) as unknown as Reply;
  };
  t.same(
    ask('web.d.vxmesh', 'AAAA').answers?.map((a) => [a.type, a.data]),
    [['AAAA', '2001:db8:40::5']],
  );
  t.same(
    ask('web', 'A').answers?.map((a) => [a.type, a.data]),
    [['A', '198.18.40.5']],
  );
  const nodata = ask('v6only', 'A');
  t.equal(nodata.rcode, 'NOERROR', 'NODATA, not NXDOMAIN: the name exists');
  t.same(nodata.answers, []);
  t.equal(ask('nobody', 'AAAA').rcode, 'NXDOMAIN');
});
