/** The DNS parts that need no sockets: the zone rules, the responder (and a fuzz of it), resolv.conf files, the zone of a network. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import { lookup, type DnsZone } from '../../dns/zone.js';
import { RCODE, respond } from '../../dns/responder.js';
import { QueryLimits } from '../../dns/query-limits.js';
import { upstreamFromResolvConf } from '../../dns/forwarder.js';
import { removeResolvConf, writeResolvConf } from '../../dns/resolv-conf.js';
import { zoneOf } from '../../agent/dns-sync.js';
import type { EndpointRow } from '../../agent/endpoint-list.js';

const zone: DnsZone = {
  network: 'Blue.Net',
  names: new Map([
    ['web', ['198.18.0.5']],
    ['api', ['198.18.0.5', '198.18.0.6']],
  ]),
};
const query = (name: string, type: dnsPacket.RecordType = 'A', id = 9) =>
  dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name }] });

t.test(
  'lookup: NAME, NAME.NETWORK, NAME.NETWORK.vxmesh; unknown; other networks; everything else forwarded',
  async (t) => {
    const k = (q: string) => {
      const r = lookup(zone, q);
      return r.kind === 'answer' ? r.addresses.join(',') : r.kind;
    };
    t.equal(k('web'), '198.18.0.5');
    t.equal(k('WEB.blue.net'), '198.18.0.5', 'NAME.NETWORK (a network name with a dot), any case');
    t.equal(k('web.blue.net.vxmesh.'), '198.18.0.5', 'absolute NAME.NETWORK.vxmesh');
    t.equal(k('api'), '198.18.0.5,198.18.0.6', 'a shared alias: every holder');
    t.equal(k('nope'), 'nxdomain', 'unknown single label');
    t.equal(k('nope.blue.net.vxmesh'), 'nxdomain', 'unknown in our domain');
    t.equal(k('a.b.blue.net.vxmesh'), 'nxdomain', 'deeper names in our domain');
    t.equal(k('web.green.vxmesh'), 'nxdomain', "another network's domain: never answered, never forwarded");
    t.equal(k('nope.blue.net'), 'forward', 'NAME.NETWORK unknown: may be a real name, forwarded');
    t.equal(k('example.com'), 'forward');
    t.equal(k('blue.net.vxmesh'), '', 'the domain itself exists, no address');
  },
);

t.test('respond: A answers, NXDOMAIN, NODATA for other types, FORMERR, NOTIMP, forward', async (t) => {
  const r = respond(query('web'), zone);
  t.ok('reply' in r);
  const a = dnsPacket.decode((r as { reply: Buffer }).reply);
  t.same(
    [a.id, a.type, a.flag_aa, a.flag_rd, a.answers?.map((x) => ('data' in x ? x.data : undefined))],
    [9, 'response', true, true, ['198.18.0.5']],
  );
  const nx = dnsPacket.decode((respond(query('nope'), zone) as { reply: Buffer }).reply);
  t.equal((nx as unknown as { rcode: string }).rcode, 'NXDOMAIN');
  const aaaa = dnsPacket.decode((respond(query('web', 'AAAA'), zone) as { reply: Buffer }).reply);
  t.same(
    [(aaaa as unknown as { rcode: string }).rcode, aaaa.answers?.length],
    ['NOERROR', 0],
    'AAAA of our name: no data, not NXDOMAIN',
  );
  t.same(respond(query('example.com'), zone), { forward: true });
  const garbage = Buffer.alloc(20, 0xff);
  const fe = respond(garbage, zone);
  t.ok(
    'reply' in fe && ((fe as { reply: Buffer }).reply.readUInt16BE(2) & 0xf) === RCODE.FORMERR,
    'unreadable with a header: FORMERR',
  );
  t.same(respond(Buffer.from([1, 2, 3]), zone), { drop: true }, 'shorter than a header: dropped');
  const notify = query('web');
  notify.writeUInt16BE(notify.readUInt16BE(2) | (4 << 11), 2);
  t.equal(
    (respond(notify, zone) as { reply: Buffer }).reply.readUInt16BE(2) & 0xf,
    RCODE.NOTIMP,
    'another opcode: NOTIMP',
  );
  const response = dnsPacket.encode({ type: 'response', id: 1, questions: [{ type: 'A', name: 'web' }] });
  t.same(respond(response, zone), { drop: true }, 'a response sent to us is dropped (no reflection)');
});

t.test('respond never throws: 5,000 random and mutated messages (property)', async (t) => {
  const valid = [query('web'), query('nope.blue.net.vxmesh', 'TXT'), query('example.com', 'MX')];
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        fc
          .tuple(
            fc.constantFrom(...valid),
            fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }),
          )
          .map(([base, edits]) => {
            const b = Buffer.from(base);
            for (const [i, v] of edits) b[i % b.length] = v;
            return b;
          }),
      ),
      (bytes) => {
        const d = respond(Buffer.from(bytes), zone);
        return 'reply' in d || 'forward' in d || 'drop' in d;
      },
    ),
    { numRuns: 5000 },
  );
  t.pass('no input threw');
});

t.test(
  'the zone of a network: names of endpoints in the kernel, a held name only for its holder, aliases shared',
  async (t) => {
    const row = (ip: string, status: string, extra: Partial<EndpointRow> = {}): EndpointRow => ({
      network: 'blue',
      id: ip,
      mac: '02:00:00:00:00:01',
      ip,
      vtep: '198.51.100.11',
      host: 'h',
      status,
      ...extra,
    });
    const z = zoneOf('blue', [
      row('198.18.0.2', 'local', { name: 'web', aliases: ['api'] }),
      row('198.18.0.3', 'remote', { name: 'web', nameHeldBy: 'x on h1', aliases: ['api'] }),
      row('198.18.0.4', 'suspended', { name: 'gone' }),
      row('198.18.0.5', 'held', { name: 'kept' }),
      row('198.18.0.6', 'refused: ip-not-claimed', { name: 'liar' }),
      { ...row('198.18.0.7', 'remote', { name: 'other' }), network: 'green' },
    ]);
    t.same(Object.fromEntries(z.names), {
      web: ['198.18.0.2'],
      api: ['198.18.0.2', '198.18.0.3'],
      kept: ['198.18.0.5'],
    });
  },
);

t.test("resolv.conf of a named namespace: written, never over someone else's, removed only if ours", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-netns-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  t.ok(writeResolvConf('ct1', '198.18.0.1', 'blue', dir));
  t.match(
    fs.readFileSync(path.join(dir, 'ct1', 'resolv.conf'), 'utf8'),
    /nameserver 198\.18\.0\.1\nsearch blue\.vxmesh\n/,
  );
  fs.mkdirSync(path.join(dir, 'ct2'));
  fs.writeFileSync(path.join(dir, 'ct2', 'resolv.conf'), 'nameserver 192.0.2.53\n');
  t.notOk(writeResolvConf('ct2', '198.18.0.1', 'blue', dir), 'a file of someone else stays');
  t.notOk(writeResolvConf('/proc/1/ns/net', '198.18.0.1', 'blue', dir), 'a path is not a named namespace');
  removeResolvConf('ct1', dir);
  removeResolvConf('ct2', dir);
  t.notOk(fs.existsSync(path.join(dir, 'ct1')), 'ours removed with its directory');
  t.ok(fs.existsSync(path.join(dir, 'ct2', 'resolv.conf')), "someone else's kept");
  t.same(upstreamFromResolvConf('# x\nsearch a\nnameserver 198.51.100.53\nnameserver 198.51.100.54\n'), {
    host: '198.51.100.53',
    port: 53,
  });
  t.same(upstreamFromResolvConf('nameserver 2001:db8:100::53\n'), { host: '2001:db8:100::53', port: 53 }, 'IPv6');
  t.same(upstreamFromResolvConf('nameserver fe80::1%eth0\n'), { host: 'fe80::1%eth0', port: 53 }, 'with its zone');
  t.equal(upstreamFromResolvConf('nameserver example.org\nnameserver 198.51.100.300\n'), undefined, 'no address');
});

t.test('an internal network answers its own names and refuses every other question (nothing forwarded)', async (t) => {
  const zone: DnsZone = { network: 'vault', names: new Map([['db', ['198.18.9.2']]]), internal: true };
  t.same(lookup(zone, 'db'), { kind: 'answer', addresses: ['198.18.9.2'] });
  t.same(lookup(zone, 'db.vault.vxmesh'), { kind: 'answer', addresses: ['198.18.9.2'] });
  t.same(lookup(zone, 'nope'), { kind: 'nxdomain' });
  for (const name of ['example.com', 'secret-data.attacker.example', 'other.vault'])
    t.same(lookup(zone, name), { kind: 'refused' }, `${name}: refused`);
  const q = dnsPacket.encode({
    type: 'query',
    id: 7,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name: 'example.com' }],
  });
  const d = respond(q, zone);
  t.ok('reply' in d, 'answered here, not forwarded');
  if ('reply' in d) t.equal(d.reply.readUInt16BE(2) & 0xf, RCODE.REFUSED);
  t.same(
    respond(q, { ...zone, internal: false }),
    { forward: true },
    'the same question on a plain network goes upstream',
  );
  t.equal(zoneOf('vault', [], true).internal, true, 'the zone of an internal network says so');
});

t.test('query limits: questions per client per second, forwards and TCP connections at once', async (t) => {
  let now = 0;
  const limits = new QueryLimits(
    {
      perClientPerSecond: 10,
      perClientBurst: 20,
      forwardsPerClient: 2,
      forwardsPerNetwork: 3,
      tcpPerClient: 1,
      tcpPerNetwork: 2,
    },
    () => now,
  );
  let admitted = 0;
  for (let i = 0; i < 100; i++) if (limits.admit('198.18.0.5')) admitted++;
  t.equal(admitted, 20, 'a burst, then nothing');
  t.ok(limits.admit('198.18.0.6'), 'another client is not affected');
  now += 1000;
  admitted = 0;
  for (let i = 0; i < 100; i++) if (limits.admit('198.18.0.5')) admitted++;
  t.equal(admitted, 10, 'the rate per second after it');
  t.ok(limits.forwards.take('a') && limits.forwards.take('a'));
  t.notOk(limits.forwards.take('a'), 'per client');
  t.ok(limits.forwards.take('b'));
  t.notOk(limits.forwards.take('c'), 'per network');
  limits.forwards.release('a');
  t.ok(limits.forwards.take('c'), 'a released slot is free again');
  t.ok(limits.tcp.take('a'));
  t.notOk(limits.tcp.take('a'));
  t.ok(limits.tcp.take('b'));
  t.notOk(limits.tcp.take('c'));
});

t.test('special-use names (RFC 6761, 7686): answered here, never forwarded, on internal networks too', async (t) => {
  for (const internal of [false, true]) {
    const z: DnsZone = { ...zone, internal };
    const k = (q: string) => {
      const r = lookup(z, q);
      return r.kind === 'answer' ? r.addresses.join(',') : r.kind;
    };
    t.equal(k('localhost'), '127.0.0.1,::1', 'localhost');
    t.equal(k('db.LocalHost.'), '127.0.0.1,::1', '*.localhost');
    t.equal(k('nothing-here.invalid'), 'nxdomain', '*.invalid');
    t.equal(k('invalid'), 'nxdomain');
    t.equal(k('abc.onion'), 'nxdomain', '*.onion');
    t.equal(
      k('notlocalhost.example'),
      internal ? 'refused' : 'forward',
      'only the domain itself, not a suffix of a label',
    );
  }
  const aaaa = dnsPacket.decode((respond(query('localhost', 'AAAA'), zone) as { reply: Buffer }).reply);
  t.same(
    aaaa.answers?.map((a) => (a as { data: unknown }).data),
    ['::1'],
    'AAAA of localhost: ::1',
  );
  const nx = (respond(query('x.invalid'), zone) as { reply: Buffer }).reply;
  t.equal(nx.readUInt16BE(2) & 0xf, RCODE.NXDOMAIN);
});
