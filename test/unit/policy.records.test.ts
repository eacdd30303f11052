/**
 * Connections and policy rules as records: their checks (every bad field named), their wire form
 * (format 2 round trip, a property over random rules), their keys (the same rule is one record).
 */
import t from 'tap';
import fc from 'fast-check';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { decodeBody, encodeBody } from '../../discovery/record-codec.js';
import { checkRecord, type WireRecord } from '../../discovery/wire.js';
import {
  checkConnectionValue,
  checkPolicyValue,
  connectedTo,
  policyKey,
  withConnected,
  type PolicyValue,
} from '../../core/policy-records.js';

const owner = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();

t.test('checks: each bad field named', async (t) => {
  t.same(checkConnectionValue({ networks: ['a', 'b'] }), { networks: ['a', 'b'] });
  const bad: Array<[unknown, string, RegExp]> = [
    [{ networks: ['a'] }, 'value.networks', /two networks/],
    [{ networks: ['b', 'a'] }, 'value.networks', /name order/],
    [{ networks: ['a', 'a'] }, 'value.networks', /itself/],
    [{ networks: ['a', 'b c'] }, 'value.networks[1]', /./],
  ];
  for (const [v, field, msg] of bad) t.throws(() => checkConnectionValue(v), { field, message: msg }, field);
  t.same(checkPolicyValue({ network: 'b', from: 'a', ports: ['tcp/80', 'udp/5000-5010'] }), {
    network: 'b',
    from: 'a',
    ports: [
      { protocol: 'tcp', port: 80 },
      { protocol: 'udp', port: 5000, end: 5010 },
    ],
  });
  const badRules: Array<[unknown, string]> = [
    [{ network: 'b' }, 'value.from'],
    [{ network: 'b', from: 'a', fromCidr: '203.0.113.0/24' }, 'value.from'],
    [{ network: 'b', from: 'b' }, 'value.from'],
    [{ network: 'b', fromCidr: '203.0.113.1/24' }, 'value.fromCidr'],
    [{ network: 'b', from: 'a', ports: [] }, 'value.ports'],
    [{ network: 'b', from: 'a', ports: ['sctp/80'] }, 'value.ports[0]'],
    [{ network: 'b', from: 'a', ports: ['tcp/0'] }, 'value.ports[0].port'],
    [{ network: 'b', from: 'a', ports: ['tcp/90-80'] }, 'value.ports[0].end'],
    [{ network: 'b', from: 'a', ports: [{ protocol: 'icmp', port: 1 }] }, 'value.ports[0].protocol'],
    [{ network: 'b', from: 'a', ports: Array(33).fill('tcp/80') }, 'value.ports'],
  ];
  for (const [v, field] of badRules) t.throws(() => checkPolicyValue(v), { name: 'ValidationError', field }, field);
  t.equal(checkPolicyValue({ network: 'b', fromCidr: '2001:db8:7::/48' }).fromCidr, '2001:db8:7::/48');
});

t.test('the same rule is one record; another rule another', async (t) => {
  const r: PolicyValue = { network: 'b', from: 'a', ports: [{ protocol: 'tcp', port: 80 }] };
  t.equal(policyKey(r), policyKey({ ...r }));
  t.not(policyKey(r), policyKey({ ...r, ports: [{ protocol: 'tcp', port: 81 }] }));
  t.match(policyKey(r), /^b\/[0-9a-f]{16}$/);
});

t.test('connected networks: both directions, and a network set widened by them', async (t) => {
  const cs = [
    { value: { networks: ['a', 'b'] as [string, string] } },
    { value: { networks: ['b', 'c'] as [string, string] } },
  ];
  t.same(connectedTo('b', cs), ['a', 'c']);
  t.same(connectedTo('a', cs), ['b']);
  t.same([...withConnected(['a'], cs)].sort(), ['a', 'b'], 'one hop: a host of a needs b, not c');
  t.same([...withConnected(['d'], cs)], ['d']);
});

t.test('wire format 2: connections and rules round-trip (property)', async (t) => {
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
  const ports = fc.array(
    fc.record({ protocol: fc.constantFrom('tcp', 'udp'), port: fc.integer({ min: 1, max: 60000 }) }),
    { minLength: 1, maxLength: 4 },
  );
  const cidr = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 16, max: 32 })).map(([x, p]) => {
      const n = ((203 << 24) | (x << 8)) >>> 0;
      const masked = p === 32 ? n : (n >>> (32 - p)) << (32 - p);
      return `${[24, 16, 8, 0].map((s) => ((masked >>> 0) >>> s) & 255).join('.')}/${p}`;
    }),
    fc.constant('2001:db8:7::/48'),
  );
  fc.assert(
    fc.property(
      label,
      label,
      fc.option(ports, { nil: undefined }),
      fc.option(cidr, { nil: undefined }),
      (a, b, p, c) => {
        if (a === b) return true;
        const value = { network: a, ...(c ? { fromCidr: c } : { from: b }), ...(p ? { ports: p } : {}) };
        const rec = checkRecord({
          kind: 'policy',
          key: policyKey(checkPolicyValue(value)),
          owner,
          lamport: 3,
          value,
        } as WireRecord);
        const back = decodeBody(encodeBody(rec), owner, new Uint8Array(64));
        const [x, y] = a < b ? [a, b] : [b, a];
        const conn = checkRecord({
          kind: 'connection',
          key: `${x}|${y}`,
          owner,
          lamport: 4,
          value: { networks: [x, y] },
        } as WireRecord);
        const connBack = decodeBody(encodeBody(conn), owner, new Uint8Array(64));
        return (
          JSON.stringify(back.value) === JSON.stringify(rec.value) &&
          back.key === rec.key &&
          back.kind === 'policy' &&
          JSON.stringify(connBack.value) === JSON.stringify(conn.value) &&
          connBack.key === `${x}|${y}`
        );
      },
    ),
    { numRuns: 300 },
  );
  const tomb = decodeBody(
    encodeBody({ kind: 'policy', key: 'b/0123456789abcdef', lamport: 5, deleted: true }),
    owner,
    new Uint8Array(64),
  );
  t.same([tomb.kind, tomb.key, tomb.deleted], ['policy', 'b/0123456789abcdef', true], 'a deleted rule names its key');
});
