/**
 * Ed25519 verification against a peer id's embedded public key, with node:crypto key objects cached
 * per peer id: libp2p's own verify rebuilds a key object (through JWK) on every call, which was most
 * of the cost of a probe packet. Used for every signature vxmesh checks itself (records of both
 * formats, probe packets); peer keys are Ed25519 (vxmesh generates them), any other kind is refused.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const signers = new WeakMap<PrivateKey, KeyObject>();
const MAX_CACHED = 10_000;
const keys = new Map<string, KeyObject | null>();

function keyOf(peerId: string): KeyObject | null {
  let k = keys.get(peerId);
  if (k !== undefined) return k;
  try {
    const pub = peerIdFromString(peerId).publicKey;
    k =
      pub?.type === 'Ed25519'
        ? createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub.raw]), format: 'der', type: 'spki' })
        : null;
  } catch {
    k = null;
  }
  if (keys.size >= MAX_CACHED) keys.clear();
  keys.set(peerId, k);
  return k;
}

/** Whether `sig` is `peerId`'s Ed25519 signature of `data` (false for anything else, never throws). */
export function verifyByPeerId(peerId: string, data: Uint8Array, sig: Uint8Array): boolean {
  const k = keyOf(peerId);
  if (!k || sig.length !== 64) return false;
  try {
    return verify(null, data, k, sig);
  } catch {
    return false;
  }
}

/**
 * `key`'s Ed25519 signature of `data`, through a node:crypto key object made once per key (libp2p's
 * sign rebuilds one through JWK per call: most of a probe packet's cost). The same bytes as
 * `key.sign(data)` (Ed25519 is deterministic); other key types go through libp2p.
 */
export async function signWith(key: PrivateKey, data: Uint8Array): Promise<Uint8Array> {
  if (key.type !== 'Ed25519') return key.sign(data);
  return signEd25519(key, data);
}

/** `key`'s Ed25519 signature of `data`, at once (an Ed25519 key only: vxmesh's peer keys are). */
export function signEd25519(key: PrivateKey, data: Uint8Array): Uint8Array {
  if (key.type !== 'Ed25519') throw new Error(`peer key of type ${key.type}: Ed25519 expected`);
  let k = signers.get(key);
  if (!k) {
    k = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, key.raw.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
    signers.set(key, k);
  }
  return new Uint8Array(sign(null, data, k));
}
