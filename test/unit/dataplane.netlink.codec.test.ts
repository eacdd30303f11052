import t from 'tap';
import {
  encodeAttrs,
  parseAttrs,
  encodeMessage,
  parseMessages,
  getString,
  str,
  u32,
  u8,
} from '../../dataplane/netlink/codec.js';
import { ipv6ToBytes } from '../../dataplane/netlink/rtnl.js';

t.test('attributes round-trip with padding and nesting', async (t) => {
  const buf = encodeAttrs([
    { type: 3, value: str('vxlan42') },
    {
      type: 18,
      value: [
        { type: 1, value: str('vxlan') },
        {
          type: 2,
          value: [
            { type: 1, value: u32(42) },
            { type: 7, value: u8(0) },
          ],
        },
      ],
    },
    { type: 4, value: u32(1450) },
  ]);
  t.equal(buf.length % 4, 0, 'aligned');
  const top = parseAttrs(buf);
  t.equal(getString(top.get(3)), 'vxlan42');
  t.equal(top.get(4)?.readUInt32LE(0), 1450);
  const info = parseAttrs(top.get(18) as Buffer);
  t.equal(getString(info.get(1)), 'vxlan');
  const data = parseAttrs(info.get(2) as Buffer);
  t.equal(data.get(1)?.readUInt32LE(0), 42);
  t.equal(data.get(7)?.readUInt8(0), 0);
  // "vxlan42\0" is 8 bytes → attr 12 bytes; nested string "vxlan\0" 6 → 12 with header+pad.
  t.equal(buf.readUInt16LE(0), 12, 'attr length excludes padding');
});

t.test('messages: several per datagram, truncated tail ignored', async (t) => {
  const a = encodeMessage(16, 0x405, 7, [Buffer.alloc(16, 1)]);
  const b = encodeMessage(3, 2, 8, [u32(0)]);
  const msgs = parseMessages(Buffer.concat([a, b, Buffer.from([1, 2, 3])]));
  t.equal(msgs.length, 2);
  t.same(
    msgs.map((m) => [m.header.type, m.header.flags, m.header.seq, m.payload.length]),
    [
      [16, 0x405, 7, 16],
      [3, 2, 8, 4],
    ],
  );
  t.same(parseMessages(a.subarray(0, 10)), [], 'a short buffer yields nothing');
});

t.test('IPv6 text to bytes', async (t) => {
  t.equal(ipv6ToBytes('2001:db8::7').toString('hex'), '20010db8000000000000000000000007');
  t.equal(ipv6ToBytes('fe80::1:2').toString('hex'), 'fe800000000000000000000000010002');
});

t.test('IPv6 neighbour bodies: AF_INET6, a 16-byte NDA_DST, then the lladdr', async (t) => {
  const { neighReplaceBody, neighDeleteBody } = await import('../../dataplane/netlink/neigh-fast.js');
  const b = neighReplaceBody(7, '2001:db8:40::11', '02:00:c6:12:8c:01');
  t.equal(b[0], 10, 'AF_INET6');
  t.equal(b.readInt32LE(4), 7, 'ifindex');
  t.equal(b.readUInt16LE(12), 20, 'NDA_DST length');
  t.equal(b.subarray(16, 32).toString('hex'), '20010db8004000000000000000000011');
  t.equal(b.readUInt16LE(32), 10, 'NDA_LLADDR length');
  t.equal(b.subarray(36, 42).toString('hex'), '0200c6128c01');
  const d = neighDeleteBody(7, '2001:db8:40::11');
  t.equal(d.length, 32);
  t.equal(d[0], 10);
  const v4 = neighReplaceBody(7, '198.18.0.1', '02:00:c6:12:8c:01');
  t.equal(v4[0], 2, 'IPv4 unchanged: AF_INET');
  t.equal(v4.length, 12 + 8 + 12);
});
