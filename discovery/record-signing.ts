/**
 * Per-record signatures. Gossip messages are signed as a whole by their publisher (gossipsub
 * StrictSign) and we require publisher = owner; records relayed by anti-entropy sync come from a
 * third party, so each record also carries its owner's Ed25519 signature over its canonical bytes.
 * The owner's public key is embedded in its peer id, so no key distribution is needed.
 *
 * Two signatures exist while the previous release may be in the cluster: `sig` over the canonical
 * JSON (format 1) and `s2` over the format-2 body (record-codec.ts). A record that has a body is
 * judged by it: the body is what its owner wrote, with any field a newer build added.
 */
import type { PrivateKey } from '@libp2p/interface';
import { signWith, verifyByPeerId } from './ed25519.js';
import { decodeBody, verifyBody } from './record-codec.js';
import { WireError, type WireRecord } from './wire.js';

export function canonicalBytes(r: WireRecord): Uint8Array {
  return Buffer.from(JSON.stringify([r.kind, r.key, r.owner, r.lamport, r.deleted ? 1 : 0, r.value ?? null]), 'utf8');
}

export async function signRecord(key: PrivateKey, r: WireRecord): Promise<string> {
  const sig = await signWith(key, canonicalBytes(r));
  return Buffer.from(sig).toString('base64');
}

/** The owner's format-1 signature (the key check is shared with format 2 and the probe packets). */
export async function verifyRecord(r: WireRecord): Promise<boolean> {
  if (typeof r.sig !== 'string' || r.sig.length > 200) return false;
  return verifyByPeerId(r.owner, canonicalBytes(r), Buffer.from(r.sig, 'base64'));
}

/**
 * A relayed record as its owner signed it, or false (bad signature) or 'malformed' (a body that
 * does not decode). With a format-2 body, the record is the body's (its JSON fields are ignored).
 */
export async function verifiedRecord(r: WireRecord): Promise<WireRecord | false | 'malformed'> {
  if (r.b2 === undefined || r.s2 === undefined) return (await verifyRecord(r)) ? r : false;
  const body = r.b2;
  const sig2 = r.s2;
  if (!(await verifyBody(r.owner, body, sig2))) return false;
  try {
    const rec = decodeBody(body, r.owner, sig2);
    if (r.sig !== undefined) rec.sig = r.sig;
    return rec;
  } catch (e) {
    if (e instanceof WireError) return 'malformed';
    throw e;
  }
}
