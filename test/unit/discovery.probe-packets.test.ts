/** UDP probe packets: signed by the sender, tagged with the cluster key, refused otherwise. */
import t from 'tap';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import {
  PROBE_WINDOW_S,
  ProbeFreshness,
  decodeProbePacket,
  encodeProbePacket,
  type ProbePacket,
} from '../../discovery/probe-packets.js';
import { WireError } from '../../discovery/wire.js';

const a = await generateKeyPair('Ed25519');
const b = await generateKeyPair('Ed25519');
const idA = peerIdFromPrivateKey(a).toString();
const idB = peerIdFromPrivateKey(b).toString();
const key1 = new Uint8Array(32).fill(1);
const key2 = new Uint8Array(32).fill(2);

const refused = async (
  t: Pick<typeof import('tap').default, 'ok' | 'fail'>,
  bytes: Uint8Array,
  keys: Uint8Array[],
  field: string,
  freshness?: ProbeFreshness,
) => {
  try {
    await decodeProbePacket(bytes, keys, freshness);
    t.fail(`accepted (${field})`);
  } catch (e) {
    t.ok(e instanceof WireError && e.field === field, `refused naming ${field}: ${(e as Error).message}`);
  }
};

t.test('ping, ack and ping-req round-trip, with and without a cluster key', async (t) => {
  const packets: ProbePacket[] = [
    { type: 'ping', seq: 1, from: idA, to: idB },
    { type: 'ack', seq: 2 ** 31 - 1, from: idB, to: idA },
    { type: 'ping-req', seq: 7, from: idA, to: idB, target: idA, targetAddr: '198.51.100.12:7946' },
  ];
  for (const p of packets) {
    const signer = p.from === idA ? a : b;
    t.same(await decodeProbePacket(await encodeProbePacket(p, signer, undefined), []), p, `${p.type} open`);
    t.same(
      await decodeProbePacket(await encodeProbePacket(p, signer, key1), [key2, key1]),
      p,
      `${p.type} keyed (second accepted key)`,
    );
  }
});

t.test('packets without the key, with another key, or not signed by their sender are refused', async (t) => {
  const ping: ProbePacket = { type: 'ping', seq: 1, from: idA, to: idB };
  await refused(t, await encodeProbePacket(ping, a, undefined), [key1], 'packet.tag');
  await refused(t, await encodeProbePacket(ping, a, key2), [key1], 'packet.tag');
  // B signs a packet that claims to come from A (an ack forged for another member).
  await refused(t, await encodeProbePacket(ping, b, undefined), [], 'packet.sig');
  // A changed body under the original signature.
  const [body, sig] = cborDecode(await encodeProbePacket(ping, a, undefined)) as [Uint8Array, Uint8Array];
  const fields = cborDecode(body) as unknown[];
  fields[2] = 99;
  await refused(t, cborEncode([cborEncode(fields), sig]), [], 'packet.sig');
  await refused(t, Uint8Array.from([0xff, 1, 2]), [], 'packet');
  await refused(t, new Uint8Array(2000), [], 'packet');
  await refused(
    t,
    cborEncode([cborEncode([1, 9, 1, new Uint8Array(38), new Uint8Array(38)]), new Uint8Array(64)]),
    [],
    'packet.type',
  );
});

t.test(
  'a stamped packet replayed, or out of the clock window, is refused before its signature is checked',
  async (t) => {
    let now = 1_800_000_000;
    const fresh = new ProbeFreshness(1000, () => now);
    const ping: ProbePacket = { type: 'ping', seq: 5, from: idA, to: idB, at: now };
    const bytes = await encodeProbePacket(ping, a, key1);
    t.same(await decodeProbePacket(bytes, [key1], fresh), ping, 'first time: accepted, with its clock');
    await refused(t, bytes, [key1], 'packet.at', fresh);
    now += PROBE_WINDOW_S + 1;
    const old = await encodeProbePacket({ ...ping, seq: 6, at: now - PROBE_WINDOW_S - 1 }, a, key1);
    await refused(t, old, [key1], 'packet.at', fresh);
    // A forged packet (bad signature) with a real packet's (from, seq, at) does not block the real one.
    const real: ProbePacket = { type: 'ping', seq: 9, from: idA, to: idB, at: now };
    const forged = await encodeProbePacket(real, b, key1); // signed by b, claims to be from a
    await refused(t, forged, [key1], 'packet.sig', fresh);
    t.same(await decodeProbePacket(await encodeProbePacket(real, a, key1), [key1], fresh), real, 'the real one passes');
    // Version 1 (a member of generation 2) still decodes, without a clock.
    const v1 = await decodeProbePacket(
      await encodeProbePacket({ type: 'ping', seq: 10, from: idA, to: idB }, a, key1),
      [key1],
      fresh,
    );
    t.equal(v1.at, undefined);
  },
);
