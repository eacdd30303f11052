/**
 * The in-process VTEP probe against real namespaces: a host that is there answers, a deleted host and
 * an address nobody holds do not, within the timeout; and the packet helpers.
 */
import t from 'tap';
import { echoRequest, internetChecksum, isEchoReply, isEchoReply6, requireRawIcmp } from '../../dataplane/icmp-echo.js';
import { vtepAnswers } from '../../dataplane/vtep-probe.js';
import { Testbed } from '../../sim/testbed.js';

t.test('packet helpers', async (t) => {
  const req = echoRequest(0x1234, 7, Buffer.from('abc'));
  t.equal(internetChecksum(req), 0, 'a packet with its checksum sums to zero');
  t.equal(req[0], 8);
  // An IPv4 header (20 bytes) + an echo reply built from the request.
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt32BE(0xc6336402, 12); // 198.51.100.2
  const reply = Buffer.from(req);
  reply[0] = 0;
  t.equal(isEchoReply(Buffer.concat([ip, reply]), 0xc6336402, 0x1234, 7), true);
  t.equal(isEchoReply(Buffer.concat([ip, reply]), 0xc6336403, 0x1234, 7), false, 'another source');
  t.equal(isEchoReply(Buffer.concat([ip, reply]), 0xc6336402, 0x1235, 7), false, 'another id');
  t.equal(isEchoReply(Buffer.concat([ip, req]), 0xc6336402, 0x1234, 7), false, 'a request is not a reply');
  t.equal(isEchoReply(ip.subarray(0, 10), 0xc6336402, 0x1234, 7), false, 'truncated');
});

t.test('against simulated hosts', async (t) => {
  requireRawIcmp();
  const tb = await Testbed.create({ hosts: 3, tag: 'icmp' });
  t.teardown(() => tb.teardown());
  const from = tb.host(1).netns;
  t.equal(await vtepAnswers(tb.host(2).vtep, { netns: from }), true, 'a live host answers');
  t.equal(
    await vtepAnswers('198.51.100.250', { netns: from, attempts: 2, timeoutMs: 150 }),
    false,
    'nobody at that address',
  );
  const vtep3 = tb.host(3).vtep;
  await tb.removeHost(3);
  t.equal(await vtepAnswers(vtep3, { netns: from, attempts: 3, timeoutMs: 200 }), false, 'a deleted host is silent');
  const many = await Promise.all(Array.from({ length: 20 }, () => vtepAnswers(tb.host(2).vtep, { netns: from })));
  t.same(new Set(many), new Set([true]), '20 concurrent probes each see their own reply');
});

t.test('ICMPv6 echo against hosts of an IPv6 underlay', async (t) => {
  const req = echoRequest(0x1234, 7, Buffer.from('abc'), true);
  t.equal(req[0], 128, 'an ICMPv6 echo request');
  const reply = Buffer.from(req);
  reply[0] = 129;
  t.equal(isEchoReply6(reply, 0x1234, 7), true);
  t.equal(isEchoReply6(reply, 0x1234, 8), false, 'another seq');
  t.equal(isEchoReply6(req, 0x1234, 7), false, 'a request is not a reply');
  const tb = await Testbed.create({ hosts: 2, tag: 'icmp6', ipv6Underlay: true });
  t.teardown(() => tb.teardown());
  const from = tb.host(1).netns;
  t.equal(tb.host(2).vtep, '2001:db8:100::12');
  t.equal(await vtepAnswers(tb.host(2).vtep, { netns: from }), true, 'a live IPv6 host answers');
  t.equal(
    await vtepAnswers('2001:db8:100::99', { netns: from, attempts: 2, timeoutMs: 150 }),
    false,
    'nobody at that address',
  );
});
