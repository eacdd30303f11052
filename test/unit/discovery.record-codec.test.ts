/** Record format 2: compact bodies, signatures over the exact bytes, fields of newer builds kept. */
import t from 'tap';
import { signedBoth } from '../fixtures/signed-records.js';
import fc from 'fast-check';
import { encode as cborEncode, decode as cborDecode } from 'cborg';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  decodeBody,
  decodeTableMessageV2,
  encodeBody,
  encodeTableMessageV2,
  peekRecordCountV2,
  signBody,
  verifyBody,
} from '../../discovery/record-codec.js';
import { verifiedRecord } from '../../discovery/record-signing.js';
import { ReplicatedTable, toWire } from '../../discovery/table.js';
import { checkRecord, toJson, WireError, type WireRecord } from '../../discovery/wire.js';
import { LAMPORT_RAISE_CAP, MAX_LAMPORT } from '../../discovery/clock-bounds.js';

const key = await generateKeyPair('Ed25519');
const owner = peerIdFromPrivateKey(key).toString();
const endpoint = {
  network: 'blue',
  id: 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90',
  mac: '02:42:c6:12:00:05',
  ip: '198.18.0.5',
  vtep: '198.51.100.11',
  host: 'h1',
};

const signed = (r: WireRecord): Promise<WireRecord> => signedBoth(key, owner, r);

t.test('every kind round-trips; the body is far smaller than the JSON record', async (t) => {
  const recs: WireRecord[] = [
    { kind: 'endpoint', key: `blue/${endpoint.id}`, owner, lamport: 7, value: endpoint },
    {
      kind: 'network',
      key: 'blue',
      owner,
      lamport: 3,
      value: {
        name: 'blue',
        vni: 100,
        subnet: '198.18.0.0/16',
        gateway: '198.18.0.1',
        mtu: 1450,
        options: { z: '1', a: '2' },
      },
    },
    {
      kind: 'ipam-block',
      key: 'blue/198.18.0.16/28',
      owner,
      lamport: 9,
      value: { network: 'blue', block: '198.18.0.16/28' },
    },
    { kind: 'endpoint', key: 'blue/gone', owner, lamport: 11, deleted: true },
    {
      kind: 'endpoint',
      key: 'blue/named',
      owner,
      lamport: 12,
      value: { ...endpoint, id: 'named', name: 'web1', aliases: ['api', 'db'] },
    },
    // Issue 12's fields: internal, ip range, reserved (aux) addresses.
    {
      kind: 'network',
      key: 'sealed',
      owner,
      lamport: 4,
      value: {
        name: 'sealed',
        vni: 101,
        subnet: '198.18.1.0/24',
        gateway: '198.18.1.1',
        internal: true,
        ipRange: '198.18.1.128/28',
        reserved: ['198.18.1.129', '198.18.1.200'],
      },
    },
  ];
  for (const r of recs) {
    const s = await signed(r);
    const back = decodeBody(s.b2 as Uint8Array, owner, s.s2 as Uint8Array);
    t.same(
      { kind: back.kind, key: back.key, lamport: back.lamport, value: back.value, deleted: back.deleted },
      { kind: r.kind, key: r.key, lamport: r.lamport, value: r.value, deleted: r.deleted },
      `${r.kind} ${r.key}`,
    );
    // Option order survives (the format-1 signature covers it).
    if (r.kind === 'network' && r.key === 'blue')
      t.same(Object.keys((back.value as { options: object }).options), ['z', 'a'], 'options in the owner order');
  }
  const ep = await signed(recs[0] as WireRecord);
  const bodyBytes = (ep.b2 as Uint8Array).length;
  const jsonBytes = Buffer.byteLength(JSON.stringify({ ...recs[0], sig: ep.sig }));
  t.ok(bodyBytes + 64 < jsonBytes / 2, `body + signature ${bodyBytes + 64} B vs JSON record ${jsonBytes} B`);
});

t.test('any valid endpoint round-trips (property)', async (t) => {
  const octet = fc.integer({ min: 0, max: 255 });
  const ip = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  const mac = fc
    .uint8Array({ minLength: 6, maxLength: 6 })
    .map((b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'));
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,20}$/);
  const id = fc.oneof(
    label,
    fc.uint8Array({ minLength: 8, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex')),
  );
  fc.assert(
    fc.property(
      label,
      id,
      mac,
      ip,
      ip,
      label,
      fc.integer({ min: 1, max: 2 ** 40 }),
      (network, epId, m, a, v, host, lamport) => {
        const r: WireRecord = {
          kind: 'endpoint',
          key: `${network}/${epId}`,
          owner,
          lamport,
          value: { network, id: epId, mac: m, ip: a, vtep: v, host },
        };
        let checked: WireRecord;
        try {
          checked = checkRecord(r);
        } catch {
          return true; // not a valid record to begin with (e.g. a VTEP the checks refuse)
        }
        const back = decodeBody(encodeBody(checked), owner, new Uint8Array(64));
        return (
          JSON.stringify(back.value) === JSON.stringify(checked.value) &&
          back.key === checked.key &&
          back.lamport === lamport
        );
      },
    ),
    { numRuns: 500 },
  );
  t.pass('500 random endpoints');
});

t.test('a field added by a newer build is kept, relayed whole, and still verifies', async (t) => {
  // A newer build's endpoint body: key 99 that this build does not know (7 and 8, name and aliases, are known now).
  const body = cborEncode([
    2,
    null,
    21,
    new Map<number, unknown>([
      [1, 'blue'],
      [2, 'web'],
      [3, Uint8Array.from([2, 0, 0, 0, 0, 9])],
      [4, Uint8Array.from([198, 18, 0, 9])],
      [5, Uint8Array.from([198, 51, 100, 11])],
      [6, 'h1'],
      [99, 'future'],
    ]),
  ]);
  const sig2 = await signBody(key, owner, body);
  const [rec] = decodeTableMessageV2(
    encodeTableMessageV2(
      [
        {
          kind: 'endpoint',
          key: 'x',
          owner,
          lamport: 21,
          b2: body,
          s2: sig2,
        },
      ],
      false,
    ),
    owner,
  );
  t.equal(rec?.key, 'blue/web', 'this build reads the fields it knows');
  const table = new ReplicatedTable('someone-else');
  table.merge(rec as WireRecord);
  // Relayed by anti-entropy (JSON frame) and persisted: the body goes on unchanged.
  const relayed = checkRecord(JSON.parse(toJson(toWire(table.get('endpoint', 'blue/web', owner) as WireRecord))));
  const verified = await verifiedRecord(relayed);
  t.ok(verified && typeof verified === 'object', 'the relayed record verifies');
  const again = cborDecode((verified as WireRecord).b2 as Uint8Array, { useMaps: true }) as [
    number,
    null,
    number,
    Map<number, unknown>,
  ];
  t.equal(again[3].get(99), 'future', 'the unknown field is still in the body');
  // A relayer that changes the body breaks the signature.
  const tampered = {
    ...relayed,
    b2: Uint8Array.from(
      cborEncode([
        2,
        null,
        21,
        new Map<number, unknown>([
          [1, 'blue'],
          [2, 'web'],
          [3, Uint8Array.from([2, 0, 0, 0, 0, 9])],
          [4, Uint8Array.from([198, 18, 0, 99])],
          [5, Uint8Array.from([198, 51, 100, 11])],
          [6, 'h1'],
        ]),
      ]),
    ),
  };
  t.equal(await verifiedRecord(tampered), false, 'a changed body is refused');
  t.ok(await verifyBody(owner, body, sig2), 'signature over the exact bytes');
});

t.test('bad bodies are refused naming the field', async (t) => {
  const sig = new Uint8Array(64);
  const cases: Array<[unknown, string]> = [
    [[9, null, 1, new Map()], 'record.kind'],
    [[2, null, 0, new Map()], 'record.lamport'],
    [
      [
        2,
        null,
        1,
        new Map<number, unknown>([
          [1, 'blue'],
          [2, 'x'],
          [3, Uint8Array.from([1, 2])],
        ]),
      ],
      'record.value.mac',
    ],
    [
      [
        2,
        null,
        1,
        new Map<number, unknown>([
          [1, 'Bad Name!'],
          [2, 'x'],
          [3, Uint8Array.from([2, 0, 0, 0, 0, 1])],
          [4, Uint8Array.from([198, 18, 0, 1])],
          [5, Uint8Array.from([198, 51, 100, 1])],
          [6, 'h'],
        ]),
      ],
      'record.value.network',
    ],
    [[2, null, 1, null], 'record.key'],
    ['not an array', 'record'],
  ];
  for (const [v, field] of cases) {
    try {
      decodeBody(cborEncode(v), owner, sig);
      t.fail(`accepted ${JSON.stringify(field)}`);
    } catch (e) {
      t.ok(e instanceof WireError, `${field}: a WireError`);
      t.equal((e as WireError).field, field, `names ${field}`);
    }
  }
  t.throws(() => decodeBody(Uint8Array.from([0xff, 0x00]), owner, sig), WireError, 'not CBOR');
  t.throws(() => decodeTableMessageV2(cborEncode([1, []]), owner), WireError, 'wrong message format');
});

t.test('the record count of a gossip message is read from its first bytes, as the full decode counts', async (t) => {
  const one = await signed({ kind: 'endpoint', key: `blue/${endpoint.id}`, owner, lamport: 7, value: endpoint });
  for (const n of [0, 1, 23, 24, 255, 256, 512]) {
    const bytes = encodeTableMessageV2(
      Array.from({ length: n }, () => one),
      false,
    );
    t.equal(peekRecordCountV2(bytes), n, `${n} records`);
    t.equal(decodeTableMessageV2(bytes, owner).length, n);
  }
  // Anything else: not read (the full decode reports what is wrong).
  t.equal(peekRecordCountV2(cborEncode([1, []])), undefined, 'another format');
  t.equal(peekRecordCountV2(cborEncode({ records: [] })), undefined, 'not an array');
  t.equal(peekRecordCountV2(cborEncode([2, 'x'])), undefined, 'records not an array');
  t.equal(peekRecordCountV2(Uint8Array.from([0x82, 0x02, 0x9f, 0xff])), undefined, 'indefinite length');
  t.equal(peekRecordCountV2(new Uint8Array(0)), undefined, 'empty');
  t.equal(
    peekRecordCountV2(Uint8Array.from([0x82, 0x02, 0x9a, 0x3b, 0x9a, 0xca, 0x00])),
    undefined,
    'a count over the per-message limit (10^9 claimed): not read, so not charged to the budget',
  );
  t.equal(peekRecordCountV2(Uint8Array.from([0x82, 0x02, 0x99, 0x02, 0x01])), undefined, '513 records: over the limit');
  // Property: whenever a count is read, it is the number of entries the message's array holds.
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (tail) => {
      for (const head of [
        [0x82, 0x02, 0x98],
        [0x82, 0x02, 0x99],
        [0x82, 0x02],
      ]) {
        const bytes = Uint8Array.from([...head, ...tail]);
        const n = peekRecordCountV2(bytes);
        if (n === undefined) continue;
        let raw: unknown;
        try {
          raw = cborDecode(bytes, { useMaps: true });
        } catch {
          continue; // truncated or malformed: the full decode refuses it, whatever the count said
        }
        if (!(Array.isArray(raw) && Array.isArray(raw[1]) && raw[1].length === n)) return false;
      }
      return true;
    }),
    { numRuns: 2000 },
  );
  t.pass('2,000 random prefixes: a count read never disagrees with a decode that succeeds');
});

t.test(
  'one record at 2^53−1 cannot freeze writes: refused at decode; one at the ceiling leaves every next write accepted',
  async (t) => {
    const at = (lamport: number): WireRecord => ({
      kind: 'endpoint',
      key: `blue/${endpoint.id}`,
      owner,
      lamport,
      value: endpoint,
    });
    t.throws(
      () => decodeBody(encodeBody(at(2 ** 53 - 1)), owner, new Uint8Array(64)),
      /lamport/,
      'format 2: refused naming the field',
    );
    t.throws(() => checkRecord(toWire(at(2 ** 53 - 1))), /lamport/, 'JSON: refused naming the field');
    t.throws(() => checkRecord(toWire(at(MAX_LAMPORT + 1))), /lamport/, 'one above the ceiling is refused too');
    const top = decodeBody(encodeBody(at(MAX_LAMPORT)), owner, new Uint8Array(64));
    t.equal(top.lamport, MAX_LAMPORT, 'the ceiling itself is a valid time');
    // A fresh host (clock 0) accepts it and its next write is one every receiver accepts.
    const honest = new ReplicatedTable('12D3KooWZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ');
    honest.merge(await signed(at(MAX_LAMPORT)));
    t.equal(honest.lamport, LAMPORT_RAISE_CAP, 'the clock rises only to the cap');
    const next = honest.write('network', 'green', { name: 'green', vni: 7, subnet: '198.18.7.0/24' });
    t.equal(
      decodeBody(encodeBody(next), owner, new Uint8Array(64)).lamport,
      LAMPORT_RAISE_CAP + 1,
      'the next write decodes at every receiver',
    );
    t.doesNotThrow(() => checkRecord(toWire(next)));
    // A clock persisted by an earlier life at the old maximum comes back below the cap.
    t.equal(new ReplicatedTable(owner, 2 ** 53 - 1).lamport, LAMPORT_RAISE_CAP);
  },
);

t.test("a network's encrypted flag travels as key 10 and reads back; absent means plain", async (t) => {
  const value = { name: 'vault', vni: 9, subnet: '198.18.9.0/24', gateway: '198.18.9.1', encrypted: true };
  const r = await signed({ kind: 'network', key: 'vault', owner, lamport: 3, value });
  const back = decodeBody(r.b2 as Uint8Array, owner, r.s2 as Uint8Array);
  t.same(back.value, value);
  const raw = cborDecode(r.b2 as Uint8Array, { useMaps: true }) as unknown[];
  t.equal((raw[3] as Map<number, unknown>).get(10), true, 'key 10');
  const plain = await signed({
    kind: 'network',
    key: 'p',
    owner,
    lamport: 4,
    value: { name: 'p', vni: 8, subnet: '198.18.8.0/24' },
  });
  t.notOk(
    (cborDecode(plain.b2 as Uint8Array, { useMaps: true }) as unknown[])[3] instanceof Map &&
      ((cborDecode(plain.b2 as Uint8Array, { useMaps: true }) as unknown[])[3] as Map<number, unknown>).has(10),
  );
});
