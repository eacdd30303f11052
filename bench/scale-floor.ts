/**
 * The floors bench:scale compares against, measured in the same run:
 *   - bytes: one copy of today's record (the JSON record of wire version 1, signed) per receiving member;
 *   - CPU: what one receiver must do once for one record: decode and check it, verify its signature.
 */
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { signRecord, verifyRecord } from '../discovery/record-signing.js';
import { decodeTableMessage, encode, type WireRecord } from '../discovery/wire.js';

export interface Floors {
  /** Bytes of one signed JSON endpoint record (wire version 1). */
  recordBytes: number;
  /** ms of CPU to decode, check and verify one record, once. */
  cpuMs: number;
}

export async function measureFloors(iterations = 2000): Promise<Floors> {
  const key = await generateKeyPair('Ed25519');
  const owner = peerIdFromPrivateKey(key).toString();
  const rec: WireRecord = {
    kind: 'endpoint',
    key: 'scale/e1',
    owner,
    lamport: 12345,
    value: {
      network: 'scale',
      id: 'e1',
      mac: '02:42:c6:12:00:05',
      ip: '198.18.0.5',
      vtep: '198.51.100.11',
      host: 'h1',
    },
  };
  rec.sig = await signRecord(key, rec);
  const recordBytes = Buffer.byteLength(JSON.stringify(rec));
  const message = encode({ v: 1, t: 'records', records: [rec] });
  for (let i = 0; i < 200; i++) await verifyRecord(decodeTableMessage(message).records[0] as WireRecord); // warm-up
  const t0 = process.cpuUsage();
  for (let i = 0; i < iterations; i++) {
    const r = decodeTableMessage(message).records[0] as WireRecord;
    if (!(await verifyRecord(r))) throw new Error('floor record does not verify');
  }
  const used = process.cpuUsage(t0);
  return { recordBytes, cpuMs: (used.user + used.system) / 1000 / iterations };
}
