/**
 * Discovery: membership + replicated table over libp2p, behind one facade.
 *
 *   - gossip.ts: gossipsub carries membership changes and our own record writes, signed by us;
 *   - prober.ts: a probe loop (UDP probes, udp-probe.ts; libp2p ping for members of the previous
 *     release; indirect probes through other members) feeds suspicion;
 *   - anti-entropy.ts: push-pull sync (a stream protocol) on join and periodically repairs anything
 *     gossip missed; records relayed that way carry their owner's signature;
 *   - connections.ts: joins through seeds and keeps connections to enough members for the mesh;
 *   - record-intake.ts: incoming records (either path) merged, network writes guarded;
 *   - record-budget.ts: one per-owner budget for records new to this host (a flooding member);
 *   - persistence.ts: clocks and the last known table in the state directory;
 *   - own-writes.ts: this member's own records, signed and broadcast; options.ts: addresses and keys;
 *   - interests.ts, scope.ts: the networks whose records this host holds (those it has endpoints in).
 *
 * Output: the views (members, records with their owners) and events ('change', 'members', 'synced').
 */
import { withConnected, type PolicyRecords } from '../core/policy-records.js';
import './with-resolvers-shim.js';
import { EventEmitter } from 'node:events';
import type { PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ValidationError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import { parseName } from '../core/names.js';
import { isVtepAddress } from '../core/addresses.js';
import { OWNER_BOUND, type EndpointValue, type IpamBlockValue, type NetworkValue } from '../core/records.js';
import { AntiEntropy } from './anti-entropy.js';
import { Connections } from './connections.js';
import {
  DEFAULT_TIMERS,
  emptyStats,
  type DiscoveryContext,
  type DiscoveryStats,
  type DiscoveryTimers,
} from './context.js';
import { Gossip } from './gossip.js';
import { Membership } from './membership.js';
import { memberEventHandler } from './member-events.js';
import { MemberIntake } from './member-intake.js';
import { Housekeeping } from './housekeeping.js';
import { OwnStatement, ownMemberInfo } from './own-statement.js';
import { loadOrCreateWireguardKey, type WireguardIdentity } from './wireguard-identity.js';
import { pskBytes } from './key-protector.js';
import { createNode, loadOrCreatePeerKey, type HostPort, type VxmeshLibp2p } from './node.js';
import { loadPersisted, Persistence, rememberedSeeds, type PersistedClocks } from './persistence.js';
import { PreviousLife } from './previous-life.js';
import { Prober } from './prober.js';
import { FLOODING_RECENT_MS, RecordBudget } from './record-budget.js';
import { RecordIntake } from './record-intake.js';
import { NETWORK_USER_GRACE_MS } from './network-guard.js';
import { ClusterQueries } from './queries.js';
import { UdpProbe } from './udp-probe.js';
import { TableViews } from './table-views.js';
import { OwnWrites } from './own-writes.js';
import { ReplicatedTable, type TableRecord } from './table.js';
import { Interests } from './interests.js';
import { Scope } from './scope.js';
import type { EndpointEntry, IpamBlockEntry, MemberView, TableEntry, ViewVersions } from './views.js';

export { DEFAULT_TIMERS, type DiscoveryStats, type DiscoveryTimers } from './context.js';
export type { DiscoveryOptions } from './options.js';
import { logStarted, resolveOptions, type DiscoveryOptions } from './options.js';
export type { MemberView } from './views.js';

export class Discovery extends EventEmitter {
  readonly peerId: string;
  readonly name: string;
  readonly vtep: string;
  readonly table: ReplicatedTable;
  readonly membership: Membership;
  readonly timers: DiscoveryTimers;
  readonly stats: DiscoveryStats = emptyStats();
  private node?: VxmeshLibp2p;
  private readonly listen: HostPort;
  private readonly announce: HostPort[];
  private readonly seeds: HostPort[];
  private readonly clusterKey?: Uint8Array;
  private readonly acceptedKeys: Uint8Array[];
  private readonly log: Logger;
  private readonly loops: NodeJS.Timeout[] = [];
  private changeScheduled = false;
  private stopped = false;
  private readonly persistence: Persistence;
  private readonly gossip: Gossip;
  private readonly prober: Prober;
  private readonly udpProbe: UdpProbe;
  private readonly antiEntropy: AntiEntropy;
  private readonly budget: RecordBudget;
  private readonly intake: RecordIntake;
  private readonly previousLife = new PreviousLife();
  private readonly connections: Connections;
  private readonly views: TableViews;
  private readonly own: OwnWrites;
  private readonly memberIntake: MemberIntake;
  private readonly keeper: Housekeeping;
  private readonly statement: OwnStatement;
  private readonly scope: Scope;
  readonly interests: Interests;
  readonly queries: ClusterQueries; // questions to and from other members (diagnostics)

  private constructor(
    private readonly privateKey: PrivateKey,
    opts: DiscoveryOptions,
    clocks: PersistedClocks,
    wireguard: Pick<WireguardIdentity, 'publicKey'>,
  ) {
    super();
    this.peerId = peerIdFromPrivateKey(privateKey).toString();
    this.name = opts.name;
    this.vtep = opts.vtep;
    this.log = opts.log ?? silentLogger;
    this.timers = { ...DEFAULT_TIMERS, ...(opts.timers ?? {}) };
    ({
      listen: this.listen,
      announce: this.announce,
      seeds: this.seeds,
      clusterKey: this.clusterKey,
      acceptedKeys: this.acceptedKeys,
    } = resolveOptions(opts));
    this.table = new ReplicatedTable(this.peerId, clocks.lamport);
    this.membership = new Membership(
      ownMemberInfo({
        peerId: this.peerId,
        name: opts.name,
        vtep: opts.vtep,
        addrs: this.announce.map((a) => `${a.host}:${a.port}`),
        persistedIncarnation: clocks.incarnation,
        wgKey: wireguard.publicKey,
        keys: this.clusterKey ? [this.clusterKey, ...this.acceptedKeys] : [],
      }),
      this.timers,
    );
    this.statement = new OwnStatement(privateKey, this.membership.self);
    this.views = new TableViews(this.peerId, this.table, this.membership);
    // Networks connected to ours too: routing to them needs their records (policy-records.ts).
    this.interests = new Interests(
      () => withConnected(this.table.ownNetworks(), this.views.policyRecords().connections),
      undefined,
      this.timers.interestHoldMs,
    );
    const ctx: DiscoveryContext = {
      interests: this.interests,
      peerId: this.peerId,
      membership: this.membership,
      table: this.table,
      stats: this.stats,
      timers: this.timers,
      log: this.log,
      node: () => this.node,
      stopped: () => this.stopped,
    };
    this.persistence = new Persistence(opts.stateDir, this.table, this.membership, this.log);
    this.intake = new RecordIntake(ctx, {
      networks: () => this.networks(),
      endpoints: () => this.endpoints(),
      recentlyDead: (owner) => this.membership.recentlyDead(owner, NETWORK_USER_GRACE_MS),
      // Users of a network this host holds no records of: the members that say they hold it.
      interested: (n) =>
        this.interests.has(n) ? [] : this.scope.holders(n, ['alive', 'suspect']).map((m) => m.peerId),
      writeOwn: (kind, key, value) => this.own.write(kind, key, value),
      changed: (definitions) => {
        this.scheduleChange();
        this.persistence.scheduleTable(definitions);
        if (definitions) this.scope.schedule(); // a connection changes the networks of interest
      },
      merged: (r) => this.emit('record', r),
    });
    this.budget = new RecordBudget(ctx);
    this.keeper = new Housekeeping(ctx, this.budget);
    this.memberIntake = new MemberIntake(ctx);
    this.gossip = new Gossip(ctx, (records) => this.intake.apply(records), this.budget, this.memberIntake);
    this.own = new OwnWrites({
      peerId: this.peerId,
      privateKey,
      table: this.table,
      previousLife: this.previousLife,
      gossip: this.gossip,
      persistence: this.persistence,
      invalidate: () => this.views.invalidate(),
      changed: () => {
        this.scheduleChange();
        this.scope.schedule();
      },
    });
    const clusterKey = this.clusterKey ? pskBytes(this.clusterKey) : undefined;
    this.udpProbe = new UdpProbe(ctx, privateKey, this.listen, {
      send: clusterKey,
      accept: clusterKey ? [clusterKey, ...this.acceptedKeys.map(pskBytes)] : [],
    });
    this.prober = new Prober(ctx, (m) => this.gossip.publishMember(m), this.udpProbe);
    this.antiEntropy = new AntiEntropy(
      ctx,
      (records) => this.intake.apply(records),
      () => this.countSync(),
      this.budget,
      this.memberIntake,
    );
    const flooding = (p: string) => this.budget.overRecently(p, FLOODING_RECENT_MS);
    const remembered = rememberedSeeds(clocks);
    this.connections = new Connections(ctx, this.seeds, this.announce, this.antiEntropy, flooding, remembered);
    this.queries = new ClusterQueries(ctx);
    this.scope = new Scope(ctx, {
      gossip: this.gossip,
      antiEntropy: this.antiEntropy,
      persistence: this.persistence,
      selfInfo: () => this.statement.info(),
      changed: () => this.scheduleChange(),
    });
    this.membership.onEvent((e) => e.type !== 'refute' && this.scope.memberHolds(e.member));
    this.membership.onEvent(
      memberEventHandler({
        log: this.log,
        peerId: this.peerId,
        prober: this.prober,
        gossip: this.gossip,
        persistence: this.persistence,
        connections: this.connections,
        node: () => this.node,
        selfInfo: () => this.statement.info(),
        changed: () => {
          this.emit('members', this.members());
          this.scheduleChange();
        },
      }),
    );
  }

  /** Loads the peer key and persisted clocks; nothing touches the network until start(). */
  static async create(opts: DiscoveryOptions): Promise<Discovery> {
    parseName(opts.name, 'name');
    if (!isVtepAddress(opts.vtep))
      throw new ValidationError('vtep', `invalid VTEP address ${JSON.stringify(opts.vtep)}`);
    if (typeof opts.stateDir !== 'string' || opts.stateDir === '') throw new ValidationError('stateDir', 'required');
    const key = await loadOrCreatePeerKey(opts.stateDir);
    const { clocks, records } = loadPersisted(opts.stateDir);
    const d = new Discovery(key, opts, clocks, loadOrCreateWireguardKey(opts.stateDir));
    // The last known table: network definitions and other members' records survive a restart even
    // when no peer is reachable (a single-host cluster). Our own owned records come from the agent.
    // Our own records of the last life are only kept to be taken again unchanged (previous-life.ts).
    for (const r of records) if (!(OWNER_BOUND.has(r.kind) && r.owner === d.peerId)) d.table.merge(r);
    d.previousLife.load(records.filter((r) => OWNER_BOUND.has(r.kind) && r.owner === d.peerId));
    return d;
  }

  // -------------------------------------------------------------------------------------------
  // Local writes (own-writes.ts)

  readonly putNetwork = (v: NetworkValue): Promise<TableRecord> => this.own.putNetwork(v);
  readonly deleteNetwork = (name: string): Promise<TableRecord> => this.own.deleteNetwork(name);
  readonly putEndpoint = (v: EndpointValue): Promise<TableRecord> => this.own.putEndpoint(v);
  readonly deleteEndpoint = (network: string, id: string): Promise<TableRecord> => this.own.deleteEndpoint(network, id);
  readonly putIpamBlock = (v: IpamBlockValue): Promise<TableRecord> => this.own.putIpamBlock(v);
  readonly deleteIpamBlock = (network: string, block: string) => this.own.deleteIpamBlock(network, block);
  readonly putPolicyRecord: OwnWrites['putPolicyRecord'] = (kind, v, key) => this.own.putPolicyRecord(kind, v, key);

  /**
   * Takes an interest in a network before an attach or allocation in it: the first time, its endpoint
   * records and claims are fetched from members holding it before this returns (scope.ts).
   */
  readonly interest = (network: string): Promise<void> => this.scope.join(network);
  /** Whether this host holds a network's records, and the members that say they do (by name). */
  readonly networkScope = (network: string) => this.scope.describe(network);
  /** The time the last first attach took to fetch its network's records, and how many there were. */
  readonly scopeFetches = (): Scope['fetches'] => this.scope.fetches;

  // -------------------------------------------------------------------------------------------
  // Events

  private countSync(): void {
    this.stats.syncRuns++;
    if (this.stats.syncRuns === 1) this.emit('synced');
  }

  private scheduleChange(): void {
    this.views.invalidate();
    if (this.changeScheduled) return;
    this.changeScheduled = true;
    setImmediate(() => {
      this.changeScheduled = false;
      this.emit('change');
    });
  }

  // -------------------------------------------------------------------------------------------
  // Views

  readonly members = (): MemberView[] => this.views.members();
  member(peerId: string): MemberView | undefined {
    return this.members().find((m) => m.peerId === peerId);
  }

  /** The first anti-entropy exchange has completed (or there are no seeds, nor members remembered, that answered). */
  get synced(): boolean {
    return (this.seeds.length === 0 && !this.connections.rejoining) || this.stats.syncRuns > 0;
  }

  // Views of the table, built once per change (table-views.ts): callers must not mutate them.

  /** Change counters of the views (views.ts). */
  readonly versions = (): ViewVersions => this.views.versions();
  readonly networkRecords = (): Array<TableEntry<NetworkValue>> => this.views.networkRecords();
  readonly endpointRecords = (): Array<TableEntry<EndpointValue>> => this.views.endpointRecords();
  readonly policyRecords = (): PolicyRecords => this.views.policyRecords();
  networks(): NetworkValue[] {
    return this.networkRecords().map((r) => r.value);
  }

  /** All live endpoint records, with whether their owner is live. */
  readonly endpoints = (): EndpointEntry[] => this.views.endpoints();
  readonly ipamBlocks = (): IpamBlockEntry[] => this.views.ipamBlocks();

  /** The libp2p node (after start), for diagnostics and tests. */
  get libp2p(): VxmeshLibp2p | undefined {
    return this.node;
  }

  /** libp2p addresses we listen on (after start). */
  listenAddrs(): string[] {
    return this.node?.getMultiaddrs().map(String) ?? [];
  }

  // -------------------------------------------------------------------------------------------
  // Start / stop

  async start(): Promise<void> {
    const node = await createNode({
      privateKey: this.privateKey,
      listen: this.listen,
      announce: this.announce,
      clusterKeys: this.clusterKey
        ? { send: pskBytes(this.clusterKey), accept: [this.clusterKey, ...this.acceptedKeys].map(pskBytes) }
        : undefined,
      meshDegree: this.timers.meshDegree,
    });
    this.node = node;
    this.scope.refresh();
    this.scope.dropUnwanted();
    await this.udpProbe.start();
    this.gossip.attach(node);
    await this.antiEntropy.attach(node);
    await this.prober.attach(node);
    await this.queries.attach(node);
    node.addEventListener('peer:disconnect', (evt) => {
      const id = evt.detail.toString();
      if (this.membership.isLive(id) && !this.stopped) void this.prober.probe(id);
    });
    logStarted(this.log, {
      peerId: this.peerId,
      listen: this.listenAddrs(),
      seeds: this.seeds,
      clusterKey: this.clusterKey,
      acceptedKeys: this.acceptedKeys,
    });
    this.every(this.timers.probeIntervalMs, () => this.prober.probeNext());
    this.every(this.timers.connectIntervalMs, () => this.connections.maintain());
    this.every(this.timers.pushPullIntervalMs, () => this.connections.syncRandom());
    this.every(this.timers.reconnectIntervalMs, () => this.connections.reconnectDead());
    this.every(Math.min(60_000, this.timers.tombstoneTtlMs, this.timers.reapMs), () => this.housekeeping());
    this.every(Math.min(10_000, this.timers.interestHoldMs), () => this.scope.refresh()); // holds run out
    await this.connections.join();
    await this.connections.maintain();
    // Everything we wrote before start goes out once by gossip too (the seed got it by sync).
    for (const r of this.table.all()) if (r.owner === this.peerId) this.gossip.enqueue(r);
    this.gossip.publishMember({ v: 1, t: 'alive', member: this.statement.info() });
  }

  /** Tombstones, members gone for good and records of owners that are no member (housekeeping.ts). */
  housekeeping(): void {
    if (this.keeper.run(this.stats.syncRuns > 0)) this.scheduleChange();
  }

  private every(ms: number, fn: () => unknown): void {
    const t = setInterval(() => {
      if (!this.stopped)
        void Promise.resolve(fn()).catch((e: unknown) => this.log.debug({ err: String(e) }, 'loop error'));
    }, ms);
    t.unref();
    this.loops.push(t);
  }

  /** Graceful leave: announce it, give gossip a moment to carry it, stop. */
  async stop(opts: { leave?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    if (opts.leave !== false && this.node) {
      const { incarnation } = this.membership.self;
      const signed = this.statement.leaving();
      this.gossip.publishMember({ v: 1, t: 'leave', peerId: this.peerId, incarnation, signed });
      await new Promise((r) => setTimeout(r, 150));
    }
    this.stopped = true;
    for (const t of this.loops) clearInterval(t);
    this.prober.stop();
    this.udpProbe.stop();
    this.membership.stop();
    this.persistence.flush();
    await this.node?.stop();
  }
}
