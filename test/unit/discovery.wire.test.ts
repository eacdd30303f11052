/** Wire schemas: good messages decode, bad ones are refused with the field named. */
import t from 'tap';
import {
  decodeMemberMessage,
  decodeSyncFrame,
  decodeTableMessage,
  encode,
  WireError,
  MAX_GOSSIP_BYTES,
} from '../../discovery/wire.js';

const owner = `12D3KooW${'A'.repeat(44)}`;
const rec = (value: object) => ({ kind: 'endpoint', key: 'n/e1', owner, lamport: 3, value, sig: 'A'.repeat(88) });
const goodEp = { network: 'n', id: 'e1', mac: '02:00:00:00:00:01', ip: '198.18.0.1', vtep: '198.51.100.1', host: 'h1' };
const bytes = (o: unknown) => Buffer.from(JSON.stringify(o));
const fieldOf = (fn: () => unknown) => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof WireError ? e.field : `other: ${String(e)}`;
  }
};

t.test('table messages', async (t) => {
  const m = decodeTableMessage(bytes({ v: 1, t: 'records', records: [rec(goodEp)] }));
  t.equal(m.records[0]?.key, 'n/e1');
  t.equal(
    fieldOf(() =>
      decodeTableMessage(bytes({ v: 1, t: 'records', records: [rec({ ...goodEp, mac: '01:00:5e:00:00:01' })] })),
    ),
    'records[0].value.mac',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(bytes({ v: 1, t: 'records', records: [rec({ ...goodEp, ip: '1.2.3' })] }))),
    'records[0].value.ip',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(bytes({ v: 1, t: 'records', records: [{ ...rec(goodEp), kind: 'virus' }] }))),
    'records[0].kind',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(bytes({ v: 1, t: 'records', records: [{ ...rec(goodEp), lamport: -1 }] }))),
    'records[0].lamport',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(bytes({ v: 1, t: 'records', records: [{ ...rec(goodEp), deleted: true }] }))),
    'records[0].value',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(bytes({ v: 9, t: 'records', records: [] }))),
    'v',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(Buffer.from('{not json'))),
    'message',
  );
  t.equal(
    fieldOf(() => decodeTableMessage(Buffer.alloc(MAX_GOSSIP_BYTES + 1, 32))),
    'message',
  );
  t.equal(
    fieldOf(() =>
      decodeTableMessage(bytes({ v: 1, t: 'records', records: [rec({ ...goodEp, network: 'bad name!' })] })),
    ),
    'records[0].value.network',
  );
  // IPAM claims: blocks, and single borrowed addresses (/32); nothing wider than /32 or with host bits.
  const block = (b: string) => ({
    kind: 'ipam-block',
    key: `n/${b}`,
    owner,
    lamport: 2,
    value: { network: 'n', block: b },
    sig: 'A'.repeat(88),
  });
  for (const b of ['198.18.0.16/28', '198.18.0.5/32'])
    t.equal(
      decodeTableMessage(bytes({ v: 1, t: 'records', records: [block(b)] })).records.length,
      1,
      `block ${b} accepted`,
    );
  for (const b of ['198.18.0.5/28', '198.18.0.5/33', '198.18.0.5'])
    t.equal(
      fieldOf(() => decodeTableMessage(bytes({ v: 1, t: 'records', records: [block(b)] }))),
      'records[0].value.block',
      `block ${b} refused`,
    );
});

t.test('member messages', async (t) => {
  const alive = {
    v: 1,
    t: 'alive',
    member: { peerId: owner, name: 'h1', vtep: '198.51.100.1', addrs: ['198.51.100.1:7946'], incarnation: 1 },
  };
  t.equal(decodeMemberMessage(bytes(alive)).t, 'alive');
  t.equal(
    fieldOf(() => decodeMemberMessage(bytes({ ...alive, member: { ...alive.member, addrs: ['no-port'] } }))),
    'member.addrs[0]',
  );
  t.equal(
    fieldOf(() => decodeMemberMessage(bytes({ v: 1, t: 'dead', peerId: 'x', incarnation: 1, from: owner }))),
    'peerId',
  );
  t.equal(
    fieldOf(() => decodeMemberMessage(bytes({ v: 1, t: 'bogus' }))),
    't',
  );
});

t.test('sync frames round-trip', async (t) => {
  const f = {
    v: 1 as const,
    t: 'sync-push' as const,
    records: [rec(goodEp) as never],
    want: [['endpoint', 'n/e2', owner] as ['endpoint', string, string]],
  };
  t.same(decodeSyncFrame(encode(f)), f);
  t.equal(
    fieldOf(() =>
      decodeSyncFrame(bytes({ v: 1, t: 'sync-digest', members: [], versions: { x: [['endpoint', 'k', owner, 0]] } })),
    ),
    'versions.x[0][3]',
  );
});
