/** What discovery shows its users: members, table entries with their owner, and the events it emits. */
import type { EndpointValue, IpamBlockValue } from '../core/records.js';
import type { MemberState } from './wire.js';

export interface MemberView {
  name: string;
  peerId: string;
  vtep: string;
  addrs: string[];
  incarnation: number;
  state: MemberState;
  /** The protocol generation it announced (absent: the first release). */
  proto?: number;
  /** Its WireGuard public key and tunnel address, as its signed statement says (encrypted networks). */
  wgKey?: string;
  tunnel?: string;
  /** Ids of the cluster keys it holds, as its statement says (the WireGuard pre-shared key's choice). */
  clusterKeys?: string[];
  /** The agent's version, as its statement says (absent: a release before 0.2). */
  version?: string;
  /**
   * When this host first saw the member with its current VTEP, as an order (smaller = earlier): a VTEP
   * stays with the member that held it first (agent/owners.ts).
   */
  vtepOrder: number;
  since: number;
  lastAck: number;
  self: boolean;
}

/** A live record's value with its owner and Lamport time. */
export interface TableEntry<V> {
  value: V;
  owner: string;
  lamport: number;
}

export type EndpointEntry = EndpointValue & { owner: string; ownerLive: boolean; local: boolean };
export type IpamBlockEntry = IpamBlockValue & { owner: string; lamport: number; ownerLive: boolean };

/**
 * Change counters of the views: each moves when what it counts has changed, so a reader can tell
 * whether something it derived is still current without comparing contents.
 */
export interface ViewVersions {
  /** Any record or member state. */
  table: number;
  /** The ipam-block claims (an endpoint record arriving leaves it). */
  claims: number;
  /** The members' identities: peer id, name, VTEP, incarnation, state. */
  members: number;
}

export interface ClusterEvents {
  /** The table or membership changed (coalesced). */
  change: [];
  /** A member changed state: every member as now known. */
  members: [MemberView[]];
  /** The first anti-entropy exchange with a member completed. */
  synced: [];
}
