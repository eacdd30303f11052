/**
 * The table as discovery's users read it (records with their owners, endpoints with their owner's
 * liveness), built once per change: a reconcile reads these views several times, each O(records).
 * Callers must not mutate what they get.
 */
import type { ConnectionValue, PolicyRecords, PolicyValue } from '../core/policy-records.js';
import type { EndpointValue, IpamBlockValue, NetworkValue } from '../core/records.js';
import type { Membership } from './membership.js';
import type { ReplicatedTable, TableRecord } from './table.js';
import type { EndpointEntry, IpamBlockEntry, MemberView, TableEntry, ViewVersions } from './views.js';

export class TableViews {
  /** Bumped on every change of the table or of a member's state. */
  private generation = 0;
  private readonly cache = new Map<string, { generation: number; value: unknown }>();
  private readonly entries = new WeakMap<TableRecord, TableEntry<EndpointValue>>();
  private readonly endpointEntries = new WeakMap<TableEntry<EndpointValue>, EndpointEntry>();
  /** The versions as last counted, with what they were counted from. */
  private readonly counted = {
    generation: -1,
    claimRecords: [] as TableRecord[],
    claims: 0,
    members: [] as Array<Pick<MemberView, 'peerId' | 'name' | 'vtep' | 'incarnation' | 'state' | 'tunnel'>>,
    memberVersion: 0,
  };

  constructor(
    private readonly self: string,
    private readonly table: ReplicatedTable,
    private readonly membership: Pick<Membership, 'isLive' | 'list'>,
  ) {}

  members(): MemberView[] {
    return this.membership.list().map((m) => ({
      name: m.name,
      peerId: m.peerId,
      vtep: m.vtep,
      addrs: m.addrs,
      incarnation: m.incarnation,
      state: m.state,
      ...(m.proto !== undefined ? { proto: m.proto } : {}),
      ...(m.wgKey !== undefined ? { wgKey: m.wgKey } : {}),
      ...(m.tunnel !== undefined ? { tunnel: m.tunnel } : {}),
      ...(m.clusterKeys !== undefined ? { clusterKeys: m.clusterKeys } : {}),
      ...(m.version !== undefined ? { version: m.version } : {}),
      vtepOrder: m.vtepOrder,
      since: m.since,
      lastAck: m.lastAck,
      self: m.peerId === this.self,
    }));
  }

  /**
   * The change counters (views.ts): the claims' counter moves when the set of stored claim records
   * changed (the table replaces a record's object when it changes), counted once per generation; the
   * members' when an identity or a state did, compared at every call (a member's update need not
   * come with a change event), O(members).
   */
  versions(): ViewVersions {
    const c = this.counted;
    if (c.generation !== this.generation) {
      c.generation = this.generation;
      const claimRecords = this.table.liveList('ipam-block');
      if (claimRecords.length !== c.claimRecords.length || claimRecords.some((r, i) => r !== c.claimRecords[i]))
        c.claims++;
      c.claimRecords = claimRecords;
    }
    const members = this.membership.list();
    const same =
      members.length === c.members.length &&
      members.every((m, i) => {
        const was = c.members[i];
        return (
          was !== undefined &&
          was.peerId === m.peerId &&
          was.name === m.name &&
          was.vtep === m.vtep &&
          was.incarnation === m.incarnation &&
          was.state === m.state &&
          was.tunnel === m.tunnel
        );
      });
    if (!same) {
      c.memberVersion++;
      c.members = members.map(({ peerId, name, vtep, incarnation, state, tunnel }) => ({
        peerId,
        name,
        vtep,
        incarnation,
        state,
        tunnel,
      }));
    }
    return { table: this.generation, claims: c.claims, members: c.memberVersion };
  }

  /** The table or a member's state changed: every view is built again when next read. */
  invalidate(): void {
    this.generation++;
  }

  private cached<T>(name: string, compute: () => T): T {
    const hit = this.cache.get(name);
    if (hit && hit.generation === this.generation) return hit.value as T;
    const value = compute();
    this.cache.set(name, { generation: this.generation, value });
    return value;
  }

  private liveOwner(owner: string): boolean {
    return owner === this.self || this.membership.isLive(owner);
  }

  networkRecords(): Array<TableEntry<NetworkValue>> {
    return this.cached('networkRecords', () =>
      this.table.liveList('network').map((r) => ({
        value: r.value as NetworkValue,
        owner: r.owner,
        lamport: r.lamport,
      })),
    );
  }

  /** Connections of networks and policy rules (shared records, routing and policy between networks). */
  policyRecords(): PolicyRecords {
    return this.cached('policyRecords', () => ({
      connections: this.table.liveList('connection').map((r) => ({
        value: r.value as ConnectionValue,
        owner: r.owner,
        lamport: r.lamport,
      })),
      rules: this.table.liveList('policy').map((r) => ({
        value: r.value as PolicyValue,
        owner: r.owner,
        lamport: r.lamport,
      })),
    }));
  }

  endpointRecords(): Array<TableEntry<EndpointValue>> {
    return this.cached('endpointRecords', () => this.table.liveList('endpoint').map((r) => this.entryOf(r)));
  }

  /** All live endpoint records, with whether their owner is live. */
  endpoints(): EndpointEntry[] {
    return this.cached('endpoints', () =>
      this.endpointRecords().map((r) => {
        const live = this.liveOwner(r.owner);
        const hit = this.endpointEntries.get(r);
        if (hit?.ownerLive === live) return hit;
        const e = { ...r.value, owner: r.owner, ownerLive: live, local: r.owner === this.self };
        this.endpointEntries.set(r, e);
        return e;
      }),
    );
  }

  /**
   * The same entry object for the same stored record (the table replaces a record's object when it
   * changes): rebuilding a view after one change then allocates only for what changed, and readers can
   * remember per-record results (a large table under churn made the views' garbage a tenth of the CPU).
   */
  private entryOf(r: TableRecord): TableEntry<EndpointValue> {
    let e = this.entries.get(r);
    if (!e) {
      e = { value: r.value as EndpointValue, owner: r.owner, lamport: r.lamport };
      this.entries.set(r, e);
    }
    return e;
  }

  ipamBlocks(): IpamBlockEntry[] {
    return this.cached('ipamBlocks', () =>
      this.table.liveList('ipam-block').map((r) => ({
        ...(r.value as IpamBlockValue),
        owner: r.owner,
        lamport: r.lamport,
        ownerLive: this.liveOwner(r.owner),
      })),
    );
  }
}
