/** UDP probe packets: signed by the sender, tagged with the cluster key, refused otherwise. */
import t from 'tap';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { decodeProbePacket, encodeProbePacket, type ProbePacket } from '../../discovery/probe-packets.js';
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
) => {
  try {
    await decodeProbePacket(bytes, keys);
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
