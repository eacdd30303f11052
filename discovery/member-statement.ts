/**
 * A member's statement about itself, signed with its own peer key, so that what a member says about
 * itself (name, VTEP, addresses, incarnation, protocol generation, that it left) is the same wherever
 * it travels: gossip from the member, and anti-entropy relayed by anyone. Suspect and dead statements
 * by others stay unsigned, but can only name an incarnation the member itself signed (membership.ts).
 *
 *   body = CBOR map of small integer keys
 *            1 peer id (text; binds the body to its signer)  2 name  3 VTEP (text)  4 addrs [host:port, ...]
 *            5 incarnation  6 protocol generation  7 left (true; absent = alive)
 *            8 WireGuard public key (32 bytes)  9 tunnel address (text, core/tunnel-address.ts)
 *            10 the agent's version (text, at most 64 of 0-9 A-Z a-z . + ~ -; operators: `vxmesh peers`)
 *            11 ids of the cluster keys held ([8 bytes, ...], the send key first; at most 4)
 *            12 tags of the networks of interest ([uint32, ...] sorted, at most 512: interests.ts)
 *          Keys this build does not know are ignored and kept: the body
 *          is relayed as received, its signature still checks.
 *   sig  = Ed25519 of the member over "vxmesh-member/1\0" ‖ body
 *
 * In JSON messages the statement rides beside the plain fields as `signed: {b, s}` (base64); agents of
 * the previous release ignore it (and drop it when they relay, which costs only the relay).
 */
import { decode as cborDecode, encode as cborEncode } from 'cborg';
import type { PrivateKey } from '@libp2p/interface';
import { int, name, vtep } from '../core/checks.js';
import { MAX_INCARNATION } from './clock-bounds.js';
import { isTunnelAddress } from '../core/tunnel-address.js';
import { MAX_INTEREST_TAGS } from './interests.js';
import { signEd25519, verifyByPeerId } from './ed25519.js';
import { WireError, checkAddrs, checkPeerId, decoding, type MemberInfo } from './wire.js';

export interface SignedMember {
  /** The body as its member encoded it. */
  b: Uint8Array;
  /** The member's signature of it. */
  s: Uint8Array;
}

/** What a member said about itself in a statement that checked. */
export interface MemberStatement extends MemberInfo {
  left: boolean;
}

export const MAX_STATEMENT_BYTES = 4096;
const DOMAIN = Buffer.from('vxmesh-member/1\u0000', 'utf8');

const signedBytes = (body: Uint8Array) => Buffer.concat([DOMAIN, body]);

/** Our statement about ourselves. */
export function signStatement(key: PrivateKey, info: MemberInfo, left = false): SignedMember {
  const m = new Map<number, unknown>([
    [1, info.peerId],
    [2, info.name],
    [3, info.vtep],
    [4, info.addrs],
    [5, info.incarnation],
  ]);
  if (info.proto !== undefined) m.set(6, info.proto);
  if (left) m.set(7, true);
  if (info.wgKey !== undefined) m.set(8, new Uint8Array(Buffer.from(info.wgKey, 'base64')));
  if (info.tunnel !== undefined) m.set(9, info.tunnel);
  if (info.version !== undefined) m.set(10, info.version);
  if (info.clusterKeys?.length)
    m.set(
      11,
      info.clusterKeys.map((k) => new Uint8Array(Buffer.from(k, 'hex'))),
    );
  if (info.nets !== undefined) m.set(12, info.nets);
  const b = cborEncode(m);
  return { b, s: signEd25519(key, signedBytes(b)) };
}

/**
 * The statement's content, if its signature is its member's (`peerId`: the member the carrier says it
 * is about). Throws a WireError naming the field otherwise.
 */
export function verifyStatement(signed: SignedMember, peerId: string, field = 'member.signed'): MemberStatement {
  return decoding(() => {
    if (signed.b.length > MAX_STATEMENT_BYTES)
      throw new WireError(`${field}.b`, `${signed.b.length} bytes exceeds ${MAX_STATEMENT_BYTES}`);
    let raw: unknown;
    try {
      raw = cborDecode(signed.b, { useMaps: true });
    } catch {
      throw new WireError(`${field}.b`, 'not CBOR');
    }
    if (!(raw instanceof Map)) throw new WireError(`${field}.b`, 'must be a map');
    const m = raw as Map<unknown, unknown>;
    const signer = checkPeerId(m.get(1), `${field}.peerId`);
    if (signer !== peerId) throw new WireError(`${field}.peerId`, `statement of ${signer}, carried as ${peerId}`);
    const st: MemberStatement = {
      peerId: signer,
      name: name(m.get(2), `${field}.name`),
      vtep: vtep(m.get(3), `${field}.vtep`),
      addrs: checkAddrs(m.get(4), `${field}.addrs`),
      incarnation: int(m.get(5), `${field}.incarnation`, 0, MAX_INCARNATION),
      left: false,
    };
    if (m.has(6)) st.proto = int(m.get(6), `${field}.proto`, 1, 255);
    if (m.has(7)) {
      if (m.get(7) !== true) throw new WireError(`${field}.left`, 'must be true when present');
      st.left = true;
    }
    if (m.has(8)) {
      const k = m.get(8);
      if (!(k instanceof Uint8Array) || k.length !== 32)
        throw new WireError(`${field}.wgKey`, 'must be a 32-byte WireGuard public key');
      st.wgKey = Buffer.from(k).toString('base64');
    }
    if (m.has(9)) {
      const a = m.get(9);
      if (!isTunnelAddress(a)) throw new WireError(`${field}.tunnel`, 'must be an address of the tunnel /48');
      st.tunnel = a;
    }
    if (m.has(10)) {
      const v = m.get(10);
      if (typeof v !== 'string' || !/^[0-9A-Za-z.+~-]{1,64}$/.test(v))
        throw new WireError(`${field}.version`, 'must be a version (1-64 of 0-9 A-Z a-z . + ~ -)');
      st.version = v;
    }
    if (m.has(11)) {
      const ks = m.get(11);
      if (!Array.isArray(ks) || ks.length > 4 || !ks.every((k) => k instanceof Uint8Array && k.length === 8))
        throw new WireError(`${field}.clusterKeys`, 'must be at most 4 key ids of 8 bytes');
      st.clusterKeys = (ks as Uint8Array[]).map((k) => Buffer.from(k).toString('hex'));
    }
    if (m.has(12)) {
      const ts = m.get(12);
      if (
        !Array.isArray(ts) ||
        ts.length > MAX_INTEREST_TAGS ||
        !ts.every((t) => Number.isInteger(t) && (t as number) >= 0 && (t as number) <= 0xffffffff)
      )
        throw new WireError(`${field}.nets`, `must be at most ${MAX_INTEREST_TAGS} network tags (32-bit integers)`);
      st.nets = ts as number[];
    }
    if (!verifyByPeerId(signer, signedBytes(signed.b), signed.s))
      throw new WireError(`${field}.s`, "not the member's signature");
    return st;
  });
}

/** Whether two statements are the same bytes (a statement already checked need not be checked again). */
export const sameStatement = (a: SignedMember | undefined, b: SignedMember | undefined): boolean =>
  !!a && !!b && Buffer.compare(a.b, b.b) === 0 && Buffer.compare(a.s, b.s) === 0;
