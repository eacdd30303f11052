/**
 * The JSON messages vxmesh agents exchange, in one place (the binary ones: record format 2 and its
 * gossip batches in record-codec.ts, UDP probes in probe-packets.ts): JSON with a version field,
 * checked against its schema (size, types, MAC/IP formats) before anything touches state. A message that fails a check is
 * refused with a WireError naming the field; callers drop it and count it.
 *
 * Gossip topics (gossipsub, signed by the publisher's peer key):
 *   vxmesh/members/1  MemberMessage   alive | suspect | dead | leave
 *   vxmesh/table/2    a batch of records written by the signer, record format 2 (record-codec.ts)
 *   vxmesh/table/1    TableMessage    the same batch as JSON: published too while a member of the
 *                                     previous release (no `proto` in its member info) is in the cluster
 * Stream protocols (length-prefixed JSON frames):
 *   /vxmesh/sync/1.0.0    SyncSummary → SyncDigest → SyncPush → SyncRecords (per partition; or two-level,
 *                         per bucket of partitions and of members, between members of PROTO_SYNC_BUCKETS)
 *   /vxmesh/probe/1.0.0   ProbeRequest → ProbeReply (indirect probes)
 *   /vxmesh/query/1.0.0   QueryRequest → QueryAnswer (diagnostics one member asks another, e.g. its
 *                         fdb report; the answer's body is checked by whoever asked for it)
 */
import { arr, int, name, obj, str, vtep, type Obj } from '../core/checks.js';
import { FieldError, ValidationError } from '../core/errors.js';
import { MAX_INCARNATION, MAX_LAMPORT } from './clock-bounds.js';
import { RECORD_CHECKS, isRecordKind, type RecordKind } from '../core/records.js';
import { SYNC_BUCKETS } from './sync-buckets.js';

export const WIRE_VERSION = 1;
export const TOPIC_MEMBERS = 'vxmesh/members/1';
export const TOPIC_TABLE = 'vxmesh/table/1';
export const TOPIC_TABLE_V2 = 'vxmesh/table/2';
/** The protocol generation this build speaks (announced in its member info; absent = 1). */
export const PROTO_VERSION = 7;
/** The generation that reads record format 2 (vxmesh/table/2). */
export const PROTO_RECORDS_V2 = 2;
/** The generation that answers UDP probes (udp-probe.ts). */
export const PROTO_UDP_PROBES = 2;
/** The generation that signs its member statements (member-statement.ts). */
export const PROTO_SIGNED_MEMBERS = 3;
/** The generation that reads a network's `encrypted` flag (and never carries such a network in cleartext). */
export const PROTO_ENCRYPTED_NETWORKS = 3;
/**
 * The generation that reads IPv6 in records (record-codec.ts: an IPv6-only network or endpoint, an
 * IPv6 VTEP, an IPv6 block claim). A network with an IPv6 subnet is defined only when every live
 * member is of it, so nothing of an IPv6 network reaches a member that would refuse its batch.
 */
export const PROTO_IPV6 = 4;
/**
 * The generation that scopes records by interest (interests.ts): it announces its networks (statement
 * key 12), takes endpoint records and claims on each network's topic, and syncs per owner and network
 * (`scope` in the summary). A member of an earlier generation holds everything: records go to it on
 * vxmesh/table/2 as before, and syncs with it use per-owner partitions.
 */
export const PROTO_SCOPED = 5;
/**
 * The generation that reads connections of networks and policy rules (record kinds 4 and 5) and
 * enforces the rules where traffic arrives: both are written only when every live member is of it.
 */
export const PROTO_POLICY = 6;
/** The generation that syncs by two-level summaries (sync-buckets.ts): both sides of a sync must be of it. */
export const PROTO_SYNC_BUCKETS = 7;
export const PROTOCOL_SYNC = '/vxmesh/sync/1.0.0';
export const PROTOCOL_PROBE = '/vxmesh/probe/1.0.0';
export const PROTOCOL_QUERY = '/vxmesh/query/1.0.0';
/** Largest query answer accepted (a host's full fdb report). */
export const MAX_QUERY_ANSWER_BYTES = 16 * 1024 * 1024;

/** Largest gossip message accepted. */
export const MAX_GOSSIP_BYTES = 256 * 1024;
/** Largest sync frame accepted (full state of a large cluster). */
export const MAX_SYNC_FRAME_BYTES = 64 * 1024 * 1024;
/** Records in one gossip batch. */
export const MAX_RECORDS_PER_MESSAGE = 512;

/** A message that fails its schema: the field is named; the message is dropped and counted. */
export class WireError extends ValidationError {
  override name = 'WireError';
}

/** Runs a decoder; any field error from the shared checks becomes a WireError (same field and detail). */
export function decoding<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof FieldError && !(e instanceof WireError)) throw new WireError(e.field, e.detail);
    throw e;
  }
}

export type * from './wire-types.js';
import type {
  MemberInfo,
  MemberMessage,
  MemberState,
  PartitionSummary,
  ProbeReply,
  ProbeRequest,
  QueryAnswer,
  QueryRequest,
  SyncDigest,
  SyncFrame,
  SyncPush,
  SyncSummary,
  TableMessage,
  WireRecord,
} from './wire-types.js';

// ---------------------------------------------------------------------------------------------
// Checks

const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{30,100}$/;
export function checkPeerId(v: unknown, field: string): string {
  if (typeof v !== 'string' || !PEER_ID.test(v)) throw new WireError(field, 'not a peer id');
  return v;
}
const HOSTPORT = /^[^\s/]{1,253}:[0-9]{1,5}$/;
export function checkAddrs(v: unknown, field: string): string[] {
  return arr(v, field, 16).map((a, i) => {
    if (typeof a !== 'string' || !HOSTPORT.test(a)) throw new WireError(`${field}[${i}]`, 'must be host:port');
    return a;
  });
}

/** A record's version-1 signature (base64 text), as a JSON record and a format-2 gossip entry carry it. */
export function checkSignatureV1(v: unknown, field: string): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/=]{40,200}$/.test(v))
    throw new WireError(field, 'must be a base64 signature');
  return v;
}

export function checkRecord(v: unknown, field = 'record'): WireRecord {
  const o = obj(v, field);
  if (!isRecordKind(o.kind)) throw new WireError(`${field}.kind`, `unknown kind ${JSON.stringify(o.kind)}`);
  const kind = o.kind;
  const rec: WireRecord = {
    kind,
    key: str(o.key, `${field}.key`, 256),
    owner: checkPeerId(o.owner, `${field}.owner`),
    lamport: int(o.lamport, `${field}.lamport`, 1, MAX_LAMPORT),
  };
  if (o.deleted !== undefined) {
    if (o.deleted !== true) throw new WireError(`${field}.deleted`, 'must be true when present');
    if (o.value !== undefined) throw new WireError(`${field}.value`, 'a tombstone carries no value');
    rec.deleted = true;
  } else {
    rec.value = RECORD_CHECKS[kind](o.value, `${field}.value`);
  }
  if (o.sig !== undefined) rec.sig = checkSignatureV1(o.sig, `${field}.sig`);
  if (o.b2 !== undefined || o.s2 !== undefined) {
    if (typeof o.b2 !== 'string' || !/^[A-Za-z0-9+/=]{4,22000}$/.test(o.b2))
      throw new WireError(`${field}.b2`, 'must be a base64 record body');
    if (typeof o.s2 !== 'string' || !/^[A-Za-z0-9+/=]{86,88}$/.test(o.s2))
      throw new WireError(`${field}.s2`, 'must be a base64 signature');
    rec.b2 = new Uint8Array(Buffer.from(o.b2, 'base64'));
    rec.s2 = new Uint8Array(Buffer.from(o.s2, 'base64'));
  }
  return rec;
}

export function checkMemberInfo(v: unknown, field = 'member'): MemberInfo {
  const o = obj(v, field);
  const m: MemberInfo = {
    peerId: checkPeerId(o.peerId, `${field}.peerId`),
    name: name(o.name, `${field}.name`),
    vtep: vtep(o.vtep, `${field}.vtep`),
    addrs: checkAddrs(o.addrs, `${field}.addrs`),
    incarnation: int(o.incarnation, `${field}.incarnation`, 0, MAX_INCARNATION),
  };
  if (o.proto !== undefined) m.proto = int(o.proto, `${field}.proto`, 1, 255);
  if (o.signed !== undefined) m.signed = checkSigned(o.signed, `${field}.signed`);
  return m;
}

/** A member's signed statement as JSON carries it (checked against its signer in member-statement.ts). */
export function checkSigned(v: unknown, field: string): { b: Uint8Array; s: Uint8Array } {
  const o = obj(v, field);
  if (typeof o.b !== 'string' || !/^[A-Za-z0-9+/=]{4,5500}$/.test(o.b))
    throw new WireError(`${field}.b`, 'must be a base64 statement');
  if (typeof o.s !== 'string' || !/^[A-Za-z0-9+/=]{86,88}$/.test(o.s))
    throw new WireError(`${field}.s`, 'must be a base64 signature');
  return { b: new Uint8Array(Buffer.from(o.b, 'base64')), s: new Uint8Array(Buffer.from(o.s, 'base64')) };
}

const STATES: ReadonlySet<string> = new Set(['alive', 'suspect', 'dead', 'left']);
function checkMemberWithState(v: unknown, field: string): MemberInfo & { state: MemberState } {
  const m = checkMemberInfo(v, field);
  const s = (v as Obj).state;
  if (typeof s !== 'string' || !STATES.has(s)) throw new WireError(`${field}.state`, 'must be alive|suspect|dead|left');
  return { ...m, state: s as MemberState };
}

function header(v: unknown): Obj {
  const o = obj(v, 'message');
  if (o.v !== WIRE_VERSION)
    throw new WireError('v', `unsupported version ${JSON.stringify(o.v)} (this agent speaks ${WIRE_VERSION})`);
  if (typeof o.t !== 'string') throw new WireError('t', 'missing message type');
  return o;
}

/** Bytes → JSON value, refusing oversized or non-JSON input. */
export function parseJson(bytes: Uint8Array, max: number): unknown {
  if (bytes.length > max) throw new WireError('message', `${bytes.length} bytes exceeds the limit of ${max}`);
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')) as unknown;
  } catch {
    throw new WireError('message', 'not valid JSON');
  }
}

export function encode(
  msg: MemberMessage | TableMessage | SyncFrame | ProbeRequest | ProbeReply | QueryRequest | QueryAnswer,
): Uint8Array {
  return Buffer.from(toJson(msg), 'utf8');
}

/** JSON text of a message or snapshot: bytes (a record's b2 and s2) become base64 text, as checkRecord reads them. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    return raw instanceof Uint8Array
      ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64')
      : value;
  });
}

export const decodeMemberMessage = (bytes: Uint8Array) => decoding(() => decodeMemberMessageUnchecked(bytes));

function decodeMemberMessageUnchecked(bytes: Uint8Array): MemberMessage {
  const o = header(parseJson(bytes, MAX_GOSSIP_BYTES));
  switch (o.t) {
    case 'alive':
      return { v: 1, t: 'alive', member: checkMemberInfo(o.member) };
    case 'suspect':
    case 'dead':
      return {
        v: 1,
        t: o.t,
        peerId: checkPeerId(o.peerId, 'peerId'),
        incarnation: int(o.incarnation, 'incarnation', 0, MAX_INCARNATION),
        from: checkPeerId(o.from, 'from'),
      };
    case 'leave': {
      const m: MemberMessage = {
        v: 1,
        t: 'leave',
        peerId: checkPeerId(o.peerId, 'peerId'),
        incarnation: int(o.incarnation, 'incarnation', 0, MAX_INCARNATION),
      };
      if (o.signed !== undefined) m.signed = checkSigned(o.signed, 'signed');
      return m;
    }
    default:
      throw new WireError('t', `unknown member message type ${JSON.stringify(o.t)}`);
  }
}

export const decodeTableMessage = (bytes: Uint8Array) => decoding(() => decodeTableMessageUnchecked(bytes));

function decodeTableMessageUnchecked(bytes: Uint8Array): TableMessage {
  const o = header(parseJson(bytes, MAX_GOSSIP_BYTES));
  if (o.t !== 'records') throw new WireError('t', `unknown table message type ${JSON.stringify(o.t)}`);
  const records = arr(o.records, 'records', MAX_RECORDS_PER_MESSAGE).map((r, i) => checkRecord(r, `records[${i}]`));
  return { v: 1, t: 'records', records };
}

function kindOf(v: unknown, field: string): RecordKind {
  if (!isRecordKind(v)) throw new WireError(field, 'unknown kind');
  return v;
}

export const decodeSyncFrame = (bytes: Uint8Array) => decoding(() => decodeSyncFrameUnchecked(bytes));

function decodeSyncFrameUnchecked(bytes: Uint8Array): SyncFrame {
  const o = header(parseJson(bytes, MAX_SYNC_FRAME_BYTES));
  const members = () => arr(o.members, 'members', 100000).map((m, i) => checkMemberWithState(m, `members[${i}]`));
  switch (o.t) {
    case 'sync-summary': {
      const summary: SyncSummary = {
        v: 1,
        t: 'sync-summary',
        members: members(),
        partitions: summariesOf(o.partitions, 'partitions', (k) => k, MAX_LAMPORT),
      };
      if (o.scope !== undefined) summary.scope = arr(o.scope, 'scope', 100_000).map((n, i) => name(n, `scope[${i}]`));
      if (o.buckets !== undefined) summary.buckets = summariesOf(o.buckets, 'buckets', bucketNumber, MAX_LAMPORT);
      if (o.memberBuckets !== undefined)
        summary.memberBuckets = summariesOf(o.memberBuckets, 'memberBuckets', bucketNumber, MAX_INCARNATION);
      return summary;
    }
    case 'sync-digest': {
      const vs = obj(o.versions, 'versions');
      const versions: SyncDigest['versions'] = {};
      for (const [p, list] of Object.entries(vs)) {
        versions[p] = arr(list, `versions.${p}`, 1_000_000).map((e, i) => {
          const t = arr(e, `versions.${p}[${i}]`, 4);
          return [
            kindOf(t[0], `versions.${p}[${i}][0]`),
            str(t[1], `versions.${p}[${i}][1]`),
            checkPeerId(t[2], `versions.${p}[${i}][2]`),
            int(t[3], `versions.${p}[${i}][3]`, 1, MAX_LAMPORT),
          ];
        });
      }
      const digest: SyncDigest = { v: 1, t: 'sync-digest', members: members(), versions };
      if (o.differing !== undefined) digest.differing = bucketList(o.differing, 'differing');
      if (o.memberDiffering !== undefined) digest.memberDiffering = bucketList(o.memberDiffering, 'memberDiffering');
      return digest;
    }
    case 'sync-push': {
      const push: SyncPush = {
        v: 1,
        t: 'sync-push',
        records: arr(o.records, 'records', 1_000_000).map((r, i) => checkRecord(r, `records[${i}]`)),
        want: arr(o.want, 'want', 1_000_000).map((e, i) => {
          const t = arr(e, `want[${i}]`, 3);
          return [kindOf(t[0], `want[${i}][0]`), str(t[1], `want[${i}][1]`), checkPeerId(t[2], `want[${i}][2]`)];
        }),
      };
      if (o.members !== undefined) push.members = members();
      return push;
    }
    case 'sync-records':
      return {
        v: 1,
        t: 'sync-records',
        records: arr(o.records, 'records', 1_000_000).map((r, i) => checkRecord(r, `records[${i}]`)),
      };
    default:
      throw new WireError('t', `unknown sync frame type ${JSON.stringify(o.t)}`);
  }
}

/** Summaries keyed by partition or bucket: each key checked by `keyOf`, each field range-checked. */
function summariesOf(
  v: unknown,
  field: string,
  keyOf: (k: string, field: string) => string,
  maxOfMax: number,
): Record<string, PartitionSummary> {
  const out: Record<string, PartitionSummary> = {};
  for (const [k, s] of Object.entries(obj(v, field))) {
    const f = `${field}.${k}`;
    const so = obj(s, f);
    out[keyOf(k, f)] = {
      count: int(so.count, `${f}.count`),
      max: int(so.max, `${f}.max`, 0, maxOfMax),
      hash: int(so.hash, `${f}.hash`, 0, 0xffffffff),
    };
  }
  return out;
}

function bucketNumber(k: string, field: string): string {
  if (!/^(0|[1-9][0-9]*)$/.test(k) || Number(k) >= SYNC_BUCKETS)
    throw new WireError(field, `not a bucket (0..${SYNC_BUCKETS - 1})`);
  return k;
}

const bucketList = (v: unknown, field: string): number[] =>
  arr(v, field, SYNC_BUCKETS).map((b, i) => int(b, `${field}[${i}]`, 0, SYNC_BUCKETS - 1));

export const decodeProbeRequest = (bytes: Uint8Array) => decoding(() => decodeProbeRequestUnchecked(bytes));

function decodeProbeRequestUnchecked(bytes: Uint8Array): ProbeRequest {
  const o = header(parseJson(bytes, 64 * 1024));
  if (o.t !== 'probe-req') throw new WireError('t', 'expected probe-req');
  return { v: 1, t: 'probe-req', target: checkPeerId(o.target, 'target'), addrs: checkAddrs(o.addrs, 'addrs') };
}

export const decodeProbeReply = (bytes: Uint8Array) => decoding(() => decodeProbeReplyUnchecked(bytes));

function decodeProbeReplyUnchecked(bytes: Uint8Array): ProbeReply {
  const o = header(parseJson(bytes, 64 * 1024));
  if (o.t !== 'probe-reply' || typeof o.ok !== 'boolean') throw new WireError('t', 'expected probe-reply with ok');
  return { v: 1, t: 'probe-reply', ok: o.ok };
}

export const decodeQueryRequest = (bytes: Uint8Array) =>
  decoding(() => {
    const o = header(parseJson(bytes, 4 * 1024));
    if (o.t !== 'query') throw new WireError('t', 'expected query');
    return { v: 1, t: 'query', q: str(o.q, 'q', 64) } satisfies QueryRequest;
  });

export const decodeQueryAnswer = (bytes: Uint8Array) =>
  decoding(() => {
    const o = header(parseJson(bytes, MAX_QUERY_ANSWER_BYTES));
    if (o.t !== 'answer' || typeof o.ok !== 'boolean') throw new WireError('t', 'expected answer with ok');
    const a: QueryAnswer = { v: 1, t: 'answer', ok: o.ok, body: o.body };
    if (o.error !== undefined) a.error = str(o.error, 'error', 1024);
    return a;
  });
