/** The JSON messages' types (their checks and codecs: wire.ts). */
import type { RecordKind, RecordValue } from '../core/records.js';

export interface WireRecord {
  kind: RecordKind;
  key: string;
  /** Peer id of the writer. For owner-bound kinds, only this peer may write the record. */
  owner: string;
  lamport: number;
  /** Tombstone: the record was deleted at this Lamport time. */
  deleted?: boolean;
  value?: RecordValue;
  /** The owner's Ed25519 signature over the record's canonical JSON bytes (format 1, base64). */
  sig?: string;
  /**
   * Format 2: the record body exactly as its owner encoded it, and the owner's signature of it. Bytes
   * wherever they are held; base64 text only inside JSON (sync frames, the table snapshot: toJson).
   */
  b2?: Uint8Array;
  s2?: Uint8Array;
}

export interface MemberInfo {
  peerId: string;
  name: string;
  vtep: string;
  /** host:port addresses where the member listens. */
  addrs: string[];
  incarnation: number;
  /** The protocol generation the member speaks (PROTO_VERSION); absent for the first release. */
  proto?: number;
  /**
   * The member's own signed statement of these fields (member-statement.ts); absent from agents of
   * the previous release. Where present, it is what counts.
   */
  signed?: { b: Uint8Array; s: Uint8Array };
  /** WireGuard public key (base64) and tunnel address: only from the member's statement (keys 8, 9). */
  wgKey?: string;
  tunnel?: string;
  /**
   * Ids of the cluster keys the member holds (the one it sends with first; 16 hex digits of SHA-256
   * of the key), from its statement (key 11): peers pick the WireGuard pre-shared key of a key both hold.
   */
  clusterKeys?: string[];
  /** The agent's version, from its statement (key 10). */
  version?: string;
  /**
   * Tags of the networks the member holds the records of (interests.ts `networkTag`), from its
   * statement (key 12): members of a network dial each other. Absent: a release before scoping (it
   * holds every record).
   */
  nets?: number[];
}

export type MemberMessage =
  | { v: 1; t: 'alive'; member: MemberInfo }
  | { v: 1; t: 'suspect' | 'dead'; peerId: string; incarnation: number; from: string }
  | { v: 1; t: 'leave'; peerId: string; incarnation: number; signed?: { b: Uint8Array; s: Uint8Array } };

export interface TableMessage {
  v: 1;
  t: 'records';
  records: WireRecord[];
}

export type MemberState = 'alive' | 'suspect' | 'dead' | 'left';

export interface PartitionSummary {
  count: number;
  max: number;
  hash: number;
}

export interface SyncSummary {
  v: 1;
  t: 'sync-summary';
  members: Array<MemberInfo & { state: MemberState }>;
  partitions: Record<string, PartitionSummary>;
  /**
   * The initiator's networks of interest (interests.ts): present, the partitions are per owner and
   * network (`owner/network`, table.ts scopedPartitionOf) and only these networks are compared;
   * absent (a release before scoping), per owner.
   */
  scope?: string[];
  /**
   * Two-level form (both members of generation PROTO_SYNC_BUCKETS; sync-buckets.ts): `members` and
   * `partitions` are empty and these hold one summary per bucket (bucket number → summary) of the
   * partitions both would compare and of the members.
   */
  buckets?: Record<string, PartitionSummary>;
  memberBuckets?: Record<string, PartitionSummary>;
}

export interface SyncDigest {
  v: 1;
  t: 'sync-digest';
  members: Array<MemberInfo & { state: MemberState }>;
  /** For each partition whose summary differed: [kind, key, owner, lamport] of every record held. */
  versions: Record<string, Array<[RecordKind, string, string, number]>>;
  /**
   * Two-level form: the partition buckets that differed (`versions` then holds every partition of
   * them the responder compares) and the member buckets that differed (`members` holds its members
   * of them).
   */
  differing?: number[];
  memberDiffering?: number[];
}

export interface SyncPush {
  v: 1;
  t: 'sync-push';
  records: WireRecord[];
  /** Records the sender wants: [kind, key, owner]. */
  want: Array<[RecordKind, string, string]>;
  /** Two-level form: the initiator's members of the member buckets the digest named. */
  members?: Array<MemberInfo & { state: MemberState }>;
}

export interface SyncRecords {
  v: 1;
  t: 'sync-records';
  records: WireRecord[];
}

export type SyncFrame = SyncSummary | SyncDigest | SyncPush | SyncRecords;

export interface ProbeRequest {
  v: 1;
  t: 'probe-req';
  target: string;
  addrs: string[];
}

export interface ProbeReply {
  v: 1;
  t: 'probe-reply';
  ok: boolean;
}

export interface QueryRequest {
  v: 1;
  t: 'query';
  /** What is asked, e.g. `fdb`. */
  q: string;
}

export interface QueryAnswer {
  v: 1;
  t: 'answer';
  ok: boolean;
  body?: unknown;
  error?: string;
}
