/** The forwarder over real loopback sockets: an IPv6 upstream (an IPv6-only host's resolver) answers too. */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import dnsPacket from 'dns-packet';
import { forward, forwardQuestion, UpstreamHealth } from '../../dns/forwarder.js';

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

t.test('an upstream that refuses (ICMP port unreachable) fails at once, not at the deadline', async (t) => {
  // A port nobody listens on: the kernel answers with ICMP, the connected socket gets ECONNREFUSED.
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const port = (probe.address() as AddressInfo).port;
  probe.close();
  const r = await forwardQuestion(question, { host: '127.0.0.1', port }, 60_000);
  t.match(r, { failed: 'unreachable' }, 'unreachable, long before a 60 s deadline');
});

t.test('an address that cannot be sent to fails at once (the send error), never throws', async (t) => {
  // A link-local address without its interface cannot be connected to: the error comes through
  // connect's callback (the send after it once threw from there, out of the agent's reach).
  const r = await forwardQuestion(question, { host: 'fe80::1', port: 53 }, 60_000);
  t.match(r, { failed: 'unreachable' });
});

t.test(
  'a silent upstream: timeout, remembered for a while with a short deadline, forgotten at its first answer',
  async (t) => {
    let now = 1000;
    const health = new UpstreamHealth({ timeoutMs: 2000, silentTimeoutMs: 400, rememberMs: 10_000 }, () => now);
    t.equal(health.deadlineMs(), 2000, 'the full deadline at first');
    health.record({ failed: 'timeout' });
    t.ok(health.silent());
    t.equal(health.deadlineMs(), 400, 'briefly while remembered');
    now += 9_999;
    t.equal(health.deadlineMs(), 400);
    now += 1;
    t.equal(health.deadlineMs(), 2000, 'forgotten after rememberMs');
    health.record({ failed: 'unreachable' });
    t.equal(health.deadlineMs(), 400, 'a send error is remembered too');
    health.record({ reply: Buffer.alloc(12) });
    t.notOk(health.silent(), 'an answer ends it at once');
    const silent = dgram.createSocket('udp4');
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()));
    t.teardown(() => silent.close());
    t.match(await forwardQuestion(question, { host: '127.0.0.1', port: (silent.address() as AddressInfo).port }, 100), {
      failed: 'timeout',
    });
  },
);
