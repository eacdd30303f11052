/**
 * Record wire format 2: a compact binary body (CBOR, deterministic) signed as the exact bytes sent.
 *
 *   body   = [kind, key | null, lamport, value | null]        (CBOR array; null value = tombstone)
 *   kind   = 1 network | 2 endpoint | 3 ipam-block | 4 connection | 5 policy (4 and 5: generation 6)
 *   key    = null when it is the one derived from the value (endpoint and ipam-block "NETWORK/ID")
 *   value  = map of small integer keys (below); addresses as bytes, ids in hex as bytes
 *   sig2   = Ed25519 of the owner over  "vxmesh-record/2" ‖ owner peer id bytes ‖ body
 *
 * Upgradable: a receiver reads the keys it knows and keeps the body and its signature as received,
 * so it relays (anti-entropy, persistence) fields a newer agent added without dropping them and the
 * signature still verifies. A body never gets re-encoded by anyone but its owner.
 *
 * Values (integer keys; unknown keys are ignored and preserved):
 *   network    1 name, 2 vni, 3 subnet [ip4 bytes, prefix], 4 gateway ip4, 5 mtu, 6 options [[text, text], ...],
 *              7 internal (true; absent = false), 8 ipRange [ip4 bytes, prefix], 9 reserved [ip4 bytes, ...],
 *              10 encrypted (true; absent = false), 11 subnet6 [ip6 bytes, prefix], 12 gateway6 ip6,
 *              13 ipRange6 [ip6 bytes, prefix], 14 reserved6 [ip6 bytes, ...]   (3 absent: IPv6-only),
 *              15 isolated (true; absent = false)
 *              (pairs in the owner's order: the version-1 signature covers that order)
 *   endpoint   1 network, 2 id (text, or bytes for an even-length lowercase hex id), 3 mac (6 bytes),
 *              4 ip (4 bytes), 5 vtep (4 bytes), 6 host, 7 name (text), 8 aliases [text, ...],
 *              9 ip6 (16 bytes), 10 vtep6 (16 bytes; instead of 5)   (4 absent: IPv6-only)
 *   ipam-block 1 network, 2 block [ip4 bytes, prefix] | 3 block6 [ip6 bytes, prefix]
 *   connection 1 network, 2 network (name order; key derived "A|B")
 *   policy     1 network (destination), 2 from (network name) | 3 fromCidr [ip4 bytes, prefix] |
 *              4 fromCidr6 [ip6 bytes, prefix], 5 ports [[protocol (6 tcp, 17 udp), port, end?], ...]
 *              (key derived: "NETWORK/" + 16 hex digits of SHA-256 of the rule)
 *
 * Keys 3 and 4 of a network and 4 and 5 of an endpoint are what a member of generation 3 requires:
 * a record without them (IPv6-only, an IPv6 VTEP) or a block6 claim is written only when every live
 * member reads generation 4 (PROTO_IPV6).
 */
import { decode as cborDecode, encode as cborEncode, Tokenizer, Type } from 'cborg';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromString } from '@libp2p/peer-id';
import {
  RECORD_CHECKS,
  type EndpointValue,
  type IpamBlockValue,
  type NetworkValue,
  type RecordKind,
  type RecordValue,
} from '../core/records.js';
import { bigIntToIPv6, ipv6ToBytes } from '../core/ipv6.js';
import {
  connectionKey,
  policyKey,
  type ConnectionValue,
  type PolicyProtocol,
  type PolicyValue,
} from '../core/policy-records.js';
import { signWith, verifyByPeerId } from './ed25519.js';
import { MAX_LAMPORT } from './clock-bounds.js';
import {
  checkSignatureV1,
  decoding,
  MAX_GOSSIP_BYTES,
  MAX_RECORDS_PER_MESSAGE,
  WireError,
  type WireRecord,
} from './wire.js';

export const RECORD_FORMAT = 2;
const SIGNING_CONTEXT = Buffer.from('vxmesh-record/2', 'utf8');
/** Largest record body accepted. */
export const MAX_BODY_BYTES = 16 * 1024;

const KIND_CODES: Readonly<Record<RecordKind, number>> = {
  network: 1,
  endpoint: 2,
  'ipam-block': 3,
  connection: 4,
  policy: 5,
};
const PROTOCOL_CODES: Readonly<Record<PolicyProtocol, number>> = { tcp: 6, udp: 17 };
const KINDS: ReadonlyMap<number, RecordKind> = new Map(
  Object.entries(KIND_CODES).map(([k, c]) => [c, k as RecordKind]),
);

type Cbor = string | number | boolean | null | Uint8Array | Cbor[] | Map<number | string, Cbor>;

const ip4Bytes = (ip: string): Uint8Array => Uint8Array.from(ip.split('.').map(Number));
const ip4Text = (b: Cbor, field: string): string => {
  if (!(b instanceof Uint8Array) || b.length !== 4) throw new WireError(field, 'must be 4 address bytes');
  return [...b].join('.');
};
const ip6Bytes = (ip: string): Uint8Array => Uint8Array.from(ipv6ToBytes(ip));
const ip6Text = (b: Cbor, field: string): string => {
  if (!(b instanceof Uint8Array) || b.length !== 16) throw new WireError(field, 'must be 16 address bytes');
  return bigIntToIPv6(BigInt(`0x${Buffer.from(b).toString('hex')}`));
};
const cidrCbor = (cidr: string): Cbor => {
  const [ip, prefix] = cidr.split('/');
  return [cidr.includes(':') ? ip6Bytes(ip ?? '') : ip4Bytes(ip ?? ''), Number(prefix)];
};
const cidrText = (v: Cbor, field: string, family: 4 | 6 = 4): string => {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[1] !== 'number')
    throw new WireError(field, 'must be [address bytes, prefix]');
  return `${family === 4 ? ip4Text(v[0] as Cbor, field) : ip6Text(v[0] as Cbor, field)}/${v[1]}`;
};
const HEX_ID = /^(?:[0-9a-f]{2}){8,}$/;
const idCbor = (id: string): Cbor => (HEX_ID.test(id) ? Uint8Array.from(Buffer.from(id, 'hex')) : id);
const idText = (v: Cbor, field: string): string => {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (typeof v !== 'string') throw new WireError(field, 'must be text or hex bytes');
  return v;
};
const macBytes = (mac: string): Uint8Array => Uint8Array.from(mac.split(':').map((x) => parseInt(x, 16)));
const macText = (v: Cbor, field: string): string => {
  if (!(v instanceof Uint8Array) || v.length !== 6) throw new WireError(field, 'must be 6 MAC bytes');
  return [...v].map((x) => x.toString(16).padStart(2, '0')).join(':');
};

/** The key a record of this kind has when it is derived from its value (not sent then). */
export function derivedKey(kind: RecordKind, value: RecordValue): string {
  switch (kind) {
    case 'network':
      return (value as NetworkValue).name;
    case 'endpoint':
      return `${(value as EndpointValue).network}/${(value as EndpointValue).id}`;
    case 'ipam-block':
      return `${(value as IpamBlockValue).network}/${(value as IpamBlockValue).block}`;
    case 'connection':
      return connectionKey(value as ConnectionValue);
    case 'policy':
      return policyKey(value as PolicyValue);
  }
}

function valueToCbor(kind: RecordKind, value: RecordValue): Map<number, Cbor> {
  const m = new Map<number, Cbor>();
  if (kind === 'network') {
    const v = value as NetworkValue;
    m.set(1, v.name).set(2, v.vni);
    if (v.subnet !== undefined) m.set(3, cidrCbor(v.subnet));
    if (v.gateway !== undefined) m.set(4, ip4Bytes(v.gateway));
    if (v.mtu !== undefined) m.set(5, v.mtu);
    if (v.options !== undefined) m.set(6, Object.entries(v.options));
    if (v.internal === true) m.set(7, true);
    if (v.ipRange !== undefined) m.set(8, cidrCbor(v.ipRange));
    if (v.reserved !== undefined) m.set(9, v.reserved.map(ip4Bytes));
    if (v.encrypted === true) m.set(10, true);
    if (v.subnet6 !== undefined) m.set(11, cidrCbor(v.subnet6));
    if (v.gateway6 !== undefined) m.set(12, ip6Bytes(v.gateway6));
    if (v.ipRange6 !== undefined) m.set(13, cidrCbor(v.ipRange6));
    if (v.reserved6 !== undefined) m.set(14, v.reserved6.map(ip6Bytes));
    if (v.isolated === true) m.set(15, true);
  } else if (kind === 'endpoint') {
    const v = value as EndpointValue;
    m.set(1, v.network).set(2, idCbor(v.id)).set(3, macBytes(v.mac));
    if (v.ip !== undefined) m.set(4, ip4Bytes(v.ip));
    if (!v.vtep.includes(':')) m.set(5, ip4Bytes(v.vtep));
    m.set(6, v.host);
    if (v.name !== undefined) m.set(7, v.name);
    if (v.aliases !== undefined) m.set(8, v.aliases);
    if (v.ip6 !== undefined) m.set(9, ip6Bytes(v.ip6));
    if (v.vtep.includes(':')) m.set(10, ip6Bytes(v.vtep));
  } else if (kind === 'connection') {
    const v = value as ConnectionValue;
    m.set(1, v.networks[0]).set(2, v.networks[1]);
  } else if (kind === 'policy') {
    const v = value as PolicyValue;
    m.set(1, v.network);
    if (v.from !== undefined) m.set(2, v.from);
    if (v.fromCidr !== undefined) m.set(v.fromCidr.includes(':') ? 4 : 3, cidrCbor(v.fromCidr));
    if (v.ports !== undefined)
      m.set(
        5,
        v.ports.map((p) => [PROTOCOL_CODES[p.protocol], p.port, ...(p.end === undefined ? [] : [p.end])]),
      );
  } else {
    const v = value as IpamBlockValue;
    m.set(1, v.network).set(v.block.includes(':') ? 3 : 2, cidrCbor(v.block));
  }
  return m;
}

/** The JSON-shaped value of a body's value map, before the record kind's own check. */
function valueFromCbor(kind: RecordKind, m: Map<number | string, Cbor>, field: string): Record<string, unknown> {
  const get = (k: number) => m.get(k);
  if (kind === 'network') {
    const out: Record<string, unknown> = { name: get(1), vni: get(2) };
    if (get(3) !== undefined) out.subnet = cidrText(get(3) ?? null, `${field}.subnet`);
    if (get(4) !== undefined) out.gateway = ip4Text(get(4) ?? null, `${field}.gateway`);
    if (get(5) !== undefined) out.mtu = get(5);
    const opts = get(6);
    if (opts !== undefined) {
      if (!Array.isArray(opts) || !opts.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string'))
        throw new WireError(`${field}.options`, 'must be [[name, value], ...]');
      out.options = Object.fromEntries(opts as Array<[string, Cbor]>);
    }
    if (get(7) !== undefined) out.internal = get(7);
    if (get(8) !== undefined) out.ipRange = cidrText(get(8) ?? null, `${field}.ipRange`);
    const reserved = get(9);
    if (reserved !== undefined) {
      if (!Array.isArray(reserved)) throw new WireError(`${field}.reserved`, 'must be [address bytes, ...]');
      out.reserved = reserved.map((b, i) => ip4Text(b, `${field}.reserved[${i}]`));
    }
    if (get(10) !== undefined) out.encrypted = get(10);
    if (get(11) !== undefined) out.subnet6 = cidrText(get(11) ?? null, `${field}.subnet6`, 6);
    if (get(12) !== undefined) out.gateway6 = ip6Text(get(12) ?? null, `${field}.gateway6`);
    if (get(13) !== undefined) out.ipRange6 = cidrText(get(13) ?? null, `${field}.ipRange6`, 6);
    const reserved6 = get(14);
    if (reserved6 !== undefined) {
      if (!Array.isArray(reserved6)) throw new WireError(`${field}.reserved6`, 'must be [address bytes, ...]');
      out.reserved6 = reserved6.map((b, i) => ip6Text(b, `${field}.reserved6[${i}]`));
    }
    if (get(15) !== undefined) out.isolated = get(15);
    return out;
  }
  if (kind === 'endpoint') {
    const out: Record<string, unknown> = {
      network: get(1),
      id: idText(get(2) ?? null, `${field}.id`),
      mac: macText(get(3) ?? null, `${field}.mac`),
    };
    if (get(4) !== undefined || get(9) === undefined) out.ip = ip4Text(get(4) ?? null, `${field}.ip`);
    out.vtep =
      get(10) !== undefined ? ip6Text(get(10) ?? null, `${field}.vtep6`) : ip4Text(get(5) ?? null, `${field}.vtep`);
    out.host = get(6);
    if (get(7) !== undefined) out.name = get(7);
    if (get(8) !== undefined) out.aliases = get(8);
    if (get(9) !== undefined) out.ip6 = ip6Text(get(9) ?? null, `${field}.ip6`);
    return out;
  }
  if (kind === 'connection') return { networks: [get(1), get(2)] };
  if (kind === 'policy') {
    const out: Record<string, unknown> = { network: get(1) };
    if (get(2) !== undefined) out.from = get(2);
    if (get(3) !== undefined) out.fromCidr = cidrText(get(3) ?? null, `${field}.fromCidr`);
    if (get(4) !== undefined) out.fromCidr = cidrText(get(4) ?? null, `${field}.fromCidr`, 6);
    const ports = get(5);
    if (ports !== undefined) {
      if (!Array.isArray(ports)) throw new WireError(`${field}.ports`, 'must be [[protocol, port, end?], ...]');
      out.ports = ports.map((p, i) => {
        if (!Array.isArray(p) || p.length < 2 || p.length > 3)
          throw new WireError(`${field}.ports[${i}]`, 'must be [protocol, port, end?]');
        const protocol = Object.entries(PROTOCOL_CODES).find(([, c]) => c === p[0])?.[0] ?? p[0];
        return p.length === 3 ? { protocol, port: p[1], end: p[2] } : { protocol, port: p[1] };
      });
    }
    return out;
  }
  if (get(3) !== undefined) return { network: get(1), block: cidrText(get(3) ?? null, `${field}.block6`, 6) };
  return { network: get(1), block: cidrText(get(2) ?? null, `${field}.block`) };
}

/** The body of a record (its owner is not in it: it is part of the signed bytes and known from the context). */
export function encodeBody(r: Pick<WireRecord, 'kind' | 'key' | 'lamport' | 'value' | 'deleted'>): Uint8Array {
  const value = r.deleted || r.value === undefined ? null : r.value;
  const key = value !== null && derivedKey(r.kind, value) === r.key ? null : r.key;
  return cborEncode([KIND_CODES[r.kind], key, r.lamport, value === null ? null : valueToCbor(r.kind, value)]);
}

/** Decodes and checks a body written by `owner`: the record with its body (base64) and `sig2` attached. */
export function decodeBody(body: Uint8Array, owner: string, sig2: Uint8Array, field = 'record'): WireRecord {
  if (body.length > MAX_BODY_BYTES)
    throw new WireError(field, `body of ${body.length} bytes exceeds ${MAX_BODY_BYTES}`);
  if (sig2.length !== 64) throw new WireError(`${field}.sig`, 'must be 64 signature bytes');
  let raw: Cbor;
  try {
    raw = cborDecode(body, { useMaps: true }) as Cbor;
  } catch (e) {
    throw new WireError(field, `not a CBOR record body: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw) || raw.length < 4) throw new WireError(field, 'must be [kind, key, lamport, value]');
  const [kindCode, key, lamport, value] = raw;
  const kind = typeof kindCode === 'number' ? KINDS.get(kindCode) : undefined;
  if (kind === undefined) throw new WireError(`${field}.kind`, `unknown kind ${JSON.stringify(kindCode)}`);
  if (typeof lamport !== 'number' || !Number.isSafeInteger(lamport) || lamport < 1 || lamport > MAX_LAMPORT)
    throw new WireError(`${field}.lamport`, `must be an integer in 1..${MAX_LAMPORT}`);
  const rec: WireRecord = {
    kind,
    key: '',
    owner,
    lamport,
    // Copies: the body may be a view into a whole gossip message, which it must not keep alive.
    b2: body.slice(),
    s2: sig2.slice(),
  };
  if (value === null || value === undefined) {
    if (typeof key !== 'string' || key.length === 0 || key.length > 256)
      throw new WireError(`${field}.key`, 'a tombstone names its key (1-256 characters)');
    rec.key = key;
    rec.deleted = true;
    return rec;
  }
  if (!(value instanceof Map)) throw new WireError(`${field}.value`, 'must be a map');
  rec.value = decoding(() => RECORD_CHECKS[kind](valueFromCbor(kind, value, `${field}.value`), `${field}.value`));
  if (key !== null && (typeof key !== 'string' || key.length === 0 || key.length > 256))
    throw new WireError(`${field}.key`, 'must be null or 1-256 characters');
  rec.key = key ?? derivedKey(kind, rec.value);
  return rec;
}

function signedBytes(owner: string, body: Uint8Array): Uint8Array {
  const id = peerIdFromString(owner).toMultihash().bytes;
  return Buffer.concat([SIGNING_CONTEXT, id, body]);
}

/** Signs a body as `owner` (this agent). */
export async function signBody(key: PrivateKey, owner: string, body: Uint8Array): Promise<Uint8Array> {
  return signWith(key, signedBytes(owner, body));
}

/** Whether `sig2` is the owner's signature of exactly this body. */
export async function verifyBody(owner: string, body: Uint8Array, sig2: Uint8Array): Promise<boolean> {
  try {
    return verifyByPeerId(owner, signedBytes(owner, body), sig2);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Gossip message of format 2 (topic vxmesh/table/2): the publisher's own records, signed by it.
//   [2, [[body, sig2] | [body, sig2, sig1], ...]]   sig1: the version-1 signature (base64 text),
//   sent while members of the previous release are in the cluster, so they can verify relays.

// Limits: the same as format 1's (wire.ts), MAX_RECORDS_PER_MESSAGE records and MAX_GOSSIP_BYTES.

export function encodeTableMessageV2(records: WireRecord[], withV1Signatures: boolean): Uint8Array {
  return cborEncode([
    RECORD_FORMAT,
    records.map((r) => {
      if (r.b2 === undefined || r.s2 === undefined) throw new Error(`record ${r.kind}/${r.key} has no format-2 body`);
      const t: Cbor[] = [r.b2, r.s2];
      if (withV1Signatures && r.sig !== undefined) t.push(r.sig);
      return t;
    }),
  ]);
}

/**
 * How many records a format-2 gossip message says it holds, read from its first three CBOR tokens (an
 * array of two: the format, then the definite-length array of records); undefined when it does not
 * start that way (the full decode then says what is wrong). Lets a receiver refuse a batch over its
 * publisher's budget without decoding it: a flooding member's excess costs no decoding. A count over
 * the per-message limit is not read (the decode refuses the message as malformed; it must not be
 * charged to the budget or counted as that many rate-limited records).
 */
export function peekRecordCountV2(bytes: Uint8Array): number | undefined {
  try {
    const tokens = new Tokenizer(bytes, {});
    const [outer, format, list] = [tokens.next(), tokens.next(), tokens.next()];
    if (outer.type !== Type.array || outer.value !== 2 || format.type !== Type.uint || format.value !== RECORD_FORMAT)
      return undefined;
    return list.type === Type.array && typeof list.value === 'number' && list.value <= MAX_RECORDS_PER_MESSAGE
      ? list.value
      : undefined;
  } catch {
    return undefined; // shorter than its header: the full decode says what is wrong
  }
}

/** Decodes a format-2 gossip message published (and signed as a whole) by `owner`. */
export function decodeTableMessageV2(bytes: Uint8Array, owner: string): WireRecord[] {
  if (bytes.length > MAX_GOSSIP_BYTES)
    throw new WireError('message', `${bytes.length} bytes exceeds the limit of ${MAX_GOSSIP_BYTES}`);
  let raw: Cbor;
  try {
    raw = cborDecode(bytes, { useMaps: true }) as Cbor;
  } catch (e) {
    throw new WireError('message', `not CBOR: ${(e as Error).message}`);
  }
  if (!Array.isArray(raw) || raw[0] !== RECORD_FORMAT || !Array.isArray(raw[1]))
    throw new WireError('message', `must be [${RECORD_FORMAT}, records]`);
  const list = raw[1];
  if (list.length > MAX_RECORDS_PER_MESSAGE)
    throw new WireError('records', `more than ${MAX_RECORDS_PER_MESSAGE} records`);
  return list.map((t, i) => {
    const field = `records[${i}]`;
    if (!Array.isArray(t) || t.length < 2 || !(t[0] instanceof Uint8Array) || !(t[1] instanceof Uint8Array))
      throw new WireError(field, 'must be [body, signature]');
    const rec = decodeBody(t[0], owner, t[1], field);
    const sig1 = t[2];
    if (sig1 !== undefined) rec.sig = checkSignatureV1(sig1, `${field}[2]`);
    return rec;
  });
}
