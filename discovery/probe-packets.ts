/**
 * Probe packets (UDP, on the gossip port): the SWIM ping, ack and ping-req of memberlist, so that
 * probing a member needs no connection to it (connections stay few, idle cost stays flat with N).
 *
 *   packet = CBOR [body, sig, tag?]
 *   body   = CBOR [2, type, seq, from, to, at, target?, targetAddr?]   (generation 3 on)
 *          | CBOR [1, type, seq, from, to, target?, targetAddr?]       (to and from members of generation 2)
 *            type 1 ping | 2 ack | 3 ping-req (probe `target` at `targetAddr` for me)
 *            from, to, target: peer id bytes; seq: the asker's number, echoed in the ack
 *            at: the sender's clock (Unix seconds): a packet more than PROBE_WINDOW_S (3 h) away from ours,
 *                or seen before (from, seq, at), is refused before its signature is checked, so a
 *                captured packet replayed from a forged source costs the target no signature check
 *                and gets no answer
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

export type ProbePacket = (
  | { type: 'ping' | 'ack'; seq: number; from: string; to: string }
  | { type: 'ping-req'; seq: number; from: string; to: string; target: string; targetAddr: string }
) & {
  /** The sender's clock (Unix seconds); absent in a version-1 packet (a member of generation 2). */
  at?: number;
};

/**
 * How far a packet's clock may be from ours: wide, so that a host whose clock stepped (an NTP step of an
 * hour, a clock set by hand) still probes and is probed; replays within it are refused by memory.
 */
export const PROBE_WINDOW_S = 3 * 3600;

/** Freshness of incoming version-2 packets: packets seen within the window are remembered. */
export class ProbeFreshness {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly max = 65536,
    private readonly nowS: () => number = () => Math.floor(Date.now() / 1000),
  ) {}

  now(): number {
    return this.nowS();
  }

  /** Throws a WireError when the packet is outside the window or was seen before; returns its key. */
  check(from: Uint8Array, seq: number, at: number): string {
    const now = this.nowS();
    if (Math.abs(at - now) > PROBE_WINDOW_S)
      throw new WireError('packet.at', `sender clock ${at - now} s from ours (window ${PROBE_WINDOW_S} s)`);
    const key = `${Buffer.from(from).toString('hex')}/${seq}/${at}`;
    if (this.seen.has(key)) throw new WireError('packet.at', 'replayed');
    return key;
  }

  /** Remembers a packet whose signature checked (a forged one must not be able to block a real one). */
  remember(key: string, at: number): void {
    const now = this.nowS();
    this.seen.set(key, at);
    if (this.seen.size > this.max) {
      for (const [k, t] of this.seen) {
        if (this.seen.size <= this.max / 2 && t >= now - PROBE_WINDOW_S) break;
        this.seen.delete(k);
      }
    }
  }
}

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

/** `p.at` given: a version-2 packet (with the sender's clock); absent: version 1. */
export async function encodeProbePacket(
  p: ProbePacket,
  privateKey: PrivateKey,
  clusterKey: Uint8Array | undefined,
): Promise<Uint8Array> {
  const fields: unknown[] =
    p.at === undefined
      ? [1, TYPES.indexOf(p.type) + 1, p.seq, idBytes(p.from), idBytes(p.to)]
      : [2, TYPES.indexOf(p.type) + 1, p.seq, idBytes(p.from), idBytes(p.to), p.at];
  if (p.type === 'ping-req') fields.push(idBytes(p.target), p.targetAddr);
  const body = cborEncode(fields);
  const sig = await signWith(privateKey, Buffer.concat([CONTEXT, body]));
  return cborEncode(clusterKey ? [body, sig, tagOf(clusterKey, body, sig)] : [body, sig]);
}

/**
 * Decodes and authenticates a packet: its tag under one of `clusterKeys` (when any is given) and the
 * sender's signature. Throws a WireError naming what is wrong.
 */
export async function decodeProbePacket(
  bytes: Uint8Array,
  clusterKeys: Uint8Array[],
  freshness?: ProbeFreshness,
): Promise<ProbePacket> {
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
  if (!Array.isArray(f) || (f[0] !== 1 && f[0] !== 2))
    throw new WireError('packet.body', 'must be [1|2, type, seq, from, to, ...]');
  let at: number | undefined;
  if (f[0] === 2) {
    const a = f.splice(5, 1)[0];
    if (typeof a !== 'number' || !Number.isSafeInteger(a) || a < 0)
      throw new WireError('packet.at', 'must be the sender clock in seconds');
    at = a;
  }
  const type = TYPES[(f[1] as number) - 1];
  if (type === undefined) throw new WireError('packet.type', `unknown type ${JSON.stringify(f[1])}`);
  const seq = f[2];
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0)
    throw new WireError('packet.seq', 'must be a non-negative integer');
  const seenKey = at !== undefined && freshness ? freshness.check(f[3] as Uint8Array, seq, at) : undefined;
  const from = idText(f[3], 'packet.from');
  const to = idText(f[4], 'packet.to');
  if (!verifyByPeerId(from, Buffer.concat([CONTEXT, body]), sig))
    throw new WireError('packet.sig', `not signed by ${from}`);
  if (seenKey !== undefined && at !== undefined) freshness?.remember(seenKey, at);
  const stamp = at === undefined ? {} : { at };
  if (type !== 'ping-req') return { type, seq, from, to, ...stamp };
  const targetAddr = f[6];
  if (typeof targetAddr !== 'string' || !/^[^\s/]{1,253}:[0-9]{1,5}$/.test(targetAddr))
    throw new WireError('packet.targetAddr', 'must be host:port');
  return { type, seq, from, to, target: idText(f[5], 'packet.target'), targetAddr, ...stamp };
}
