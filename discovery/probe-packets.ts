/**
 * Probe packets (UDP, on the gossip port): the SWIM ping, ack and ping-req of memberlist, so that
 * probing a member needs no connection to it (connections stay few, idle cost stays flat with N).
 *
 *   packet = CBOR [body, sig, tag?]
 *   body   = CBOR [1, type, seq, from, to, target?, targetAddr?]
 *            type 1 ping | 2 ack | 3 ping-req (probe `target` at `targetAddr` for me)
 *            from, to, target: peer id bytes; seq: the asker's number, echoed in the ack
 *   sig    = Ed25519 of `from` over "vxmesh-probe/1" ‖ body (a member cannot ack for another)
 *   tag    = with a cluster key: HMAC-SHA256(key, body ‖ sig), 16 bytes (whoever lacks the key gets
 *            no answer); during a key change every accepted key is tried
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromMultihash, peerIdFromString } from '@libp2p/peer-id';
import * as Digest from 'multiformats/hashes/digest';
import { signWith, verifyByPeerId } from './ed25519.js';
import { WireError } from './wire.js';

export const PROBE_PACKET_MAX_BYTES = 1024;
const CONTEXT = Buffer.from('vxmesh-probe/1', 'utf8');
const TAG_BYTES = 16;

export type ProbePacket =
  | { type: 'ping' | 'ack'; seq: number; from: string; to: string }
  | { type: 'ping-req'; seq: number; from: string; to: string; target: string; targetAddr: string };

const TYPES = ['ping', 'ack', 'ping-req'] as const;

// Peer id text ⇄ bytes, remembered: libp2p parses a peer id (and builds its key) on every call, and a
// probe packet names two or three. Bounded: cleared when it holds more than a cluster's worth.
const MAX_IDS = 4096;
const bytesOfId = new Map<string, Uint8Array>();
const idOfBytes = new Map<string, string>();
function remember<K, V>(m: Map<K, V>, k: K, v: V): V {
  if (m.size >= MAX_IDS) m.clear();
  m.set(k, v);
  return v;
}
const idBytes = (peerId: string): Uint8Array =>
  bytesOfId.get(peerId) ?? remember(bytesOfId, peerId, peerIdFromString(peerId).toMultihash().bytes);
function idText(v: unknown, field: string): string {
  if (!(v instanceof Uint8Array) || v.length > 64) throw new WireError(field, 'must be peer id bytes');
  const hex = Buffer.from(v).toString('hex');
  const known = idOfBytes.get(hex);
  if (known !== undefined) return known;
  try {
    return remember(idOfBytes, hex, peerIdFromMultihash(Digest.decode(v)).toString());
  } catch {
    throw new WireError(field, 'not a peer id');
  }
}

const tagOf = (key: Uint8Array, body: Uint8Array, sig: Uint8Array): Uint8Array =>
  createHmac('sha256', key).update(body).update(sig).digest().subarray(0, TAG_BYTES);

export async function encodeProbePacket(
  p: ProbePacket,
  privateKey: PrivateKey,
  clusterKey: Uint8Array | undefined,
): Promise<Uint8Array> {
  const fields: unknown[] = [1, TYPES.indexOf(p.type) + 1, p.seq, idBytes(p.from), idBytes(p.to)];
  if (p.type === 'ping-req') fields.push(idBytes(p.target), p.targetAddr);
  const body = cborEncode(fields);
  const sig = await signWith(privateKey, Buffer.concat([CONTEXT, body]));
  return cborEncode(clusterKey ? [body, sig, tagOf(clusterKey, body, sig)] : [body, sig]);
}

/**
 * Decodes and authenticates a packet: its tag under one of `clusterKeys` (when any is given) and the
 * sender's signature. Throws a WireError naming what is wrong.
 */
export async function decodeProbePacket(bytes: Uint8Array, clusterKeys: Uint8Array[]): Promise<ProbePacket> {
  if (bytes.length > PROBE_PACKET_MAX_BYTES)
    throw new WireError('packet', `${bytes.length} bytes exceeds ${PROBE_PACKET_MAX_BYTES}`);
  let outer: unknown;
  try {
    outer = cborDecode(bytes);
  } catch {
    throw new WireError('packet', 'not CBOR');
  }
  if (!Array.isArray(outer) || !(outer[0] instanceof Uint8Array) || !(outer[1] instanceof Uint8Array))
    throw new WireError('packet', 'must be [body, sig, tag?]');
  const [body, sig, tag] = outer as [Uint8Array, Uint8Array, unknown];
  if (clusterKeys.length > 0) {
    if (!(tag instanceof Uint8Array) || tag.length !== TAG_BYTES)
      throw new WireError('packet.tag', 'missing: this cluster has a key');
    if (!clusterKeys.some((k) => timingSafeEqual(tagOf(k, body, sig), tag)))
      throw new WireError('packet.tag', 'not made with an accepted cluster key');
  }
  let f: unknown;
  try {
    f = cborDecode(body);
  } catch {
    throw new WireError('packet.body', 'not CBOR');
  }
  if (!Array.isArray(f) || f[0] !== 1) throw new WireError('packet.body', 'must be [1, type, seq, from, to, ...]');
  const type = TYPES[(f[1] as number) - 1];
  if (type === undefined) throw new WireError('packet.type', `unknown type ${JSON.stringify(f[1])}`);
  const seq = f[2];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw new WireError('packet.seq', 'must be a non-negative integer');
  const from = idText(f[3], 'packet.from');
  const to = idText(f[4], 'packet.to');
  if (!verifyByPeerId(from, Buffer.concat([CONTEXT, body]), sig))
    throw new WireError('packet.sig', `not signed by ${from}`);
  if (type !== 'ping-req') return { type, seq, from, to };
  const targetAddr = f[6];
  if (typeof targetAddr !== 'string' || !/^[^\s/]{1,253}:[0-9]{1,5}$/.test(targetAddr))
    throw new WireError('packet.targetAddr', 'must be host:port');
  return { type, seq, from, to, target: idText(f[5], 'packet.target'), targetAddr };
}
