/**
 * Per-record signatures. Gossip messages are signed as a whole by their publisher (gossipsub
 * StrictSign) and we require publisher = owner; records relayed by anti-entropy sync come from a
 * third party, so each record also carries its owner's Ed25519 signature over its canonical bytes.
 * The owner's public key is embedded in its peer id, so no key distribution is needed.
 */
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import type { WireRecord } from './wire.js';

export function canonicalBytes(r: WireRecord): Uint8Array {
  return Buffer.from(JSON.stringify([r.kind, r.key, r.owner, r.lamport, r.deleted ? 1 : 0, r.value ?? null]), 'utf8');
}

export async function signRecord(key: PrivateKey, r: WireRecord): Promise<string> {
  const sig = await key.sign(canonicalBytes(r));
  return Buffer.from(sig).toString('base64');
}

const keyCache = new Map<string, ReturnType<typeof peerIdFromString>['publicKey']>();

export async function verifyRecord(r: WireRecord): Promise<boolean> {
  if (typeof r.sig !== 'string' || r.sig.length > 200) return false;
  let pub = keyCache.get(r.owner);
  if (pub === undefined) {
    try {
      pub = peerIdFromString(r.owner).publicKey;
    } catch {
      return false;
    }
    if (keyCache.size > 10000) keyCache.clear();
    keyCache.set(r.owner, pub);
  }
  if (!pub) return false;
  try {
    return await pub.verify(canonicalBytes(r), Buffer.from(r.sig, 'base64'));
  } catch {
    return false;
  }
}
