/** The forwarder over real loopback sockets: an IPv6 upstream (an IPv6-only host's resolver) answers too. */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import dnsPacket from 'dns-packet';
import { forward } from '../../dns/forwarder.js';

async function upstream(type: 'udp4' | 'udp6', host: string): Promise<{ port: number; close: () => void }> {
  const sock = dgram.createSocket(type);
  sock.on('message', (msg, from) => {
    const q = dnsPacket.decode(msg);
    const reply = dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: q.questions,
      answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', data: '203.0.113.7', ttl: 60 }],
    });
    sock.send(reply, from.port, from.address);
  });
  await new Promise<void>((r) => sock.bind(0, host, () => r()));
  return { port: (sock.address() as AddressInfo).port, close: () => sock.close() };
}

const question = dnsPacket.encode({
  type: 'query',
  id: 4242,
  flags: dnsPacket.RECURSION_DESIRED,
  questions: [{ type: 'A', name: 'example.org' }],
});

for (const [type, host] of [
  ['udp4', '127.0.0.1'],
  ['udp6', '::1'],
] as const)
  t.test(`an upstream at ${host} answers through the forwarder`, async (t) => {
    const up = await upstream(type, host);
    t.teardown(up.close);
    const reply = await forward(question, { host, port: up.port }, 2000);
    t.ok(reply, 'a reply');
    const decoded = dnsPacket.decode(reply as Buffer);
    t.equal(decoded.id, 4242);
    t.same(
      decoded.answers?.map((a) => (a as { data: unknown }).data),
      ['203.0.113.7'],
    );
  });

t.test('no answer in time: undefined (the server answers SERVFAIL), never a hang', async (t) => {
  const silent = dgram.createSocket('udp6');
  await new Promise<void>((r) => silent.bind(0, '::1', () => r()));
  t.teardown(() => silent.close());
  const t0 = Date.now();
  t.equal(await forward(question, { host: '::1', port: (silent.address() as AddressInfo).port }, 300), undefined);
  t.ok(Date.now() - t0 < 2000, 'within the deadline');
});
