/**
 * The agent: local intent (networks, local endpoints) → the cluster's replicated table; the table →
 * desired state → data plane reconcile. A facade over its parts (networks, endpoints, desired state,
 * hold, reconcile loop, store mirror, diagnostics); the daemon wires the real cluster, data plane and
 * store into it (daemon/start-agent.ts), tests give fakes.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../core/logger.js';
import type { ReconcileResult, RemoteEndpoint } from '../dataplane/dataplane.js';
import type { AddressAllocator, BlockConflict } from '../ipam/block-ipam.js';
import type { AddressStore } from '../ipam/store-ipam.js';
import { AddressReturns } from './address-returns.js';
import { createAllocator } from './allocator.js';
import { desiredRemotes } from './desired.js';
import { fdbReports, type FdbReport } from './diagnostics.js';
import { Endpoints, type AttachRequest, type DetachRequest } from './endpoints.js';
import { DeadAgentHold } from './hold.js';
import { isProgrammed, ownerStatuses, peerRows, type OwnerStatus } from './owners.js';
import { CLUSTER_FDB_TIMEOUT_MS, clusterFdb, type HostFdbReport } from './cluster-fdb.js';
import { LocalState, type AgentState, type LocalEndpoint, type StateSink } from './local-state.js';
import { Networks, type CreateNetworkRequest, type NetworkStore, type NetworkView } from './networks.js';
import { Overlays } from './overlays.js';
import type { ClusterView, EgressPort, MemberView, OverlayDriver, VtepProbe } from './ports.js';
import { EgressSync, egressView } from './egress-sync.js';
import { DnsSync, type DnsPort } from './dns-sync.js';
import { networkDomain } from '../dns/zone.js';
import { ReconcileLoop, type ReconcileCounters, type ReconcileSummary } from './reconcile-loop.js';
import { StoreMirror, type DefinitionStore } from './store-mirror.js';
import { Admissions, type Admission } from './claims.js';
import { RefusalLog } from './refusals.js';
import { endpointRows, type EndpointRow } from './endpoint-list.js';
import { NameConflictLog, nameConflicts, type NameConflict } from './names.js';

export type { AttachRequest, DetachRequest } from './endpoints.js';
export type { CreateNetworkRequest, NetworkConflict, NetworkView } from './networks.js';
export type { FdbReport, FdbRow, FdbStatus } from './diagnostics.js';
export type { HostFdbReport } from './cluster-fdb.js';
export type { LocalEndpoint } from './local-state.js';
export type { ReconcileSummary } from './reconcile-loop.js';

export interface AgentSettings {
  /** Member name of this host. */
  name: string;
  vtep: string;
  reconcileIntervalMs: number;
  ipamSettleMs: number;
  deadAgentHoldMs: number;
  /** Repair drift at the kernel's notifications, not only at the periodic run (default on). */
  kernelEvents?: boolean;
}

/** The optional consistent store, as far as the agent uses it. */
export type AgentStore = NetworkStore &
  DefinitionStore &
  AddressStore & {
    readonly endpoints: string[];
    allocations(network: string): Promise<Map<string, { host: string; at: string }>>;
    close(): void;
  };

/** The cluster node: the view plus its life cycle and counters. */
export interface ClusterNode extends ClusterView {
  start(): Promise<void>;
  stop(): Promise<void>;
  listenAddrs(): string[];
  readonly stats: object;
}

export interface AgentParts {
  settings: AgentSettings;
  log: Logger;
  cluster: ClusterNode;
  driver: OverlayDriver;
  probe: VtepProbe;
  stateSink: StateSink;
  /** The state as loaded, with the endpoints whose interface is gone already removed. */
  initialState: AgentState;
  store?: AgentStore;
  /** The packet filter for egress and published ports; undefined: egress off. */
  egress?: EgressPort;
  /** DNS servers for the networks' names; undefined: names are not served. */
  dns?: DnsPort;
}

export class Agent extends EventEmitter {
  readonly vtep: string;
  readonly ipam: AddressAllocator;
  readonly cluster: ClusterNode;
  private readonly settings: AgentSettings;
  private readonly log: Logger;
  private readonly driver: OverlayDriver;
  private readonly store?: AgentStore;
  private readonly state: LocalState;
  private readonly returns: AddressReturns;
  private readonly networks: Networks;
  private readonly endpointsOf: Endpoints;
  private readonly hold: DeadAgentHold;
  private readonly loop: ReconcileLoop;
  private readonly mirror?: StoreMirror;
  private readonly egress?: EgressSync;
  private readonly dns?: DnsSync;
  readonly refusals: RefusalLog;
  private readonly nameLog: NameConflictLog;
  private readonly initialClaims: ReadonlyArray<{ network: string; block: string }>;
  private vtepConflicts = new Set<string>();
  private readonly admissions = new Admissions();
  private tick?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly parts: AgentParts) {
    super();
    const { settings, log, cluster, driver, store } = parts;
    this.settings = settings;
    this.vtep = settings.vtep;
    this.log = log;
    this.cluster = cluster;
    this.driver = driver;
    this.store = store;
    this.state = new LocalState(parts.stateSink, parts.initialState);
    this.initialClaims = parts.initialState.ipamBlocks;
    this.ipam = createAllocator({
      cluster,
      state: this.state,
      initial: parts.initialState,
      host: settings.name,
      settleMs: settings.ipamSettleMs,
      log,
      store,
    });
    this.returns = new AddressReturns(this.ipam, this.state, log);
    const overlays = new Overlays(driver, parts.egress !== undefined);
    this.networks = new Networks(cluster, driver, overlays, this.state, log, store);
    this.endpointsOf = new Endpoints(
      { vtep: settings.vtep, host: settings.name },
      cluster,
      driver,
      overlays,
      this.networks,
      this.ipam,
      this.returns,
      this.state,
      log,
      parts.egress,
    );
    if (parts.dns)
      this.dns = new DnsSync(
        {
          networks: () => this.networks.definitions(),
          localEndpoints: () => this.state.endpoints,
          rows: () => this.endpoints(undefined, true),
        },
        driver,
        parts.dns,
        log,
      );
    if (parts.egress)
      this.egress = new EgressSync(
        { networks: () => this.networks.definitions(), endpoints: () => this.state.endpoints },
        driver,
        overlays,
        parts.egress,
        log,
      );
    this.hold = new DeadAgentHold({
      probe: parts.probe,
      holdMs: settings.deadAgentHoldMs,
      vtepOf: (p) => cluster.member(p)?.vtep,
      onChange: () => this.loop.schedule(),
      log,
    });
    this.loop = new ReconcileLoop(
      {
        networks: () => this.networks.definitions(),
        desired: () => this.desired(true),
        localVnis: () => this.state.vnis(),
        keepVnis: () => [...this.state.vnis(), ...overlays.attachingVnis()],
        synced: () => this.cluster.synced,
      },
      driver,
      overlays,
      log,
      (r: ReconcileResult) => this.emit('reconciled', r),
    );
    this.mirror = store ? new StoreMirror(store, cluster, log) : undefined;
    this.refusals = new RefusalLog(log, (p) => this.memberName(p));
    this.nameLog = new NameConflictLog(log);
  }

  /**
   * Announces the local endpoints, gives back the addresses of those that vanished, starts the
   * cluster node, mirrors the store, reconciles, and starts the periodic tick.
   */
  async start(vanished: LocalEndpoint[] = []): Promise<void> {
    const { cluster, log } = this;
    for (const e of this.state.endpoints) await cluster.putEndpoint(this.endpointsOf.recordOf(e));
    // Our address claims as saved (the table holds none of ours yet: a fresh cluster node learns its own
    // records only from its agent, and would delete those that peers send back). Before the give-backs,
    // which release claims found in the table.
    for (const b of this.initialClaims) await cluster.putIpamBlock(b);
    // Their addresses go back (a borrowed /32, or the allocation in the store).
    for (const e of vanished) await this.returns.giveBack(e.network, e.ip);
    await this.returns.retry();
    this.state.save();
    cluster.on('change', () => {
      this.loop.schedule();
      this.dns?.schedule();
    });
    cluster.on('members', (members: MemberView[]) => this.hold.onMembers(members));
    // Deletions become allowed with the first sync: reconcile then, not only at the next change.
    cluster.on('synced', () => this.loop.schedule());
    await cluster.start();
    if (!cluster.synced) log.warn({}, 'no seed answered: reconciles add entries but remove none until the first sync');
    await this.mirror?.start();
    if (this.settings.kernelEvents !== false) this.loop.watchKernel(this.driver);
    cluster.queries?.answer('fdb', () => this.fdbReport());
    await this.loop.run('start');
    await this.runEgress();
    await this.dns?.run();
    // The periodic tick: drift repair (tables, then egress: every few ticks), addresses still to give back, the store's definitions.
    this.tick = setInterval(() => {
      void this.loop
        .run('periodic')
        .then(() => this.runEgress(true))
        .catch(() => undefined);
      void this.returns.retry().catch((e: unknown) => log.warn({ err: String(e) }, 'giving addresses back failed'));
      void this.mirror?.mirror();
    }, this.settings.reconcileIntervalMs);
    this.tick.unref();
  }

  /** Gateway links and packet-filter rules for the networks with local endpoints (never throws). */
  private async runEgress(periodic = false): Promise<void> {
    await (periodic ? this.egress?.periodic() : this.egress?.run())?.catch((e: unknown) =>
      this.log.error({ err: (e as Error).message }, 'egress reconcile failed'),
    );
  }

  get counters(): ReconcileCounters {
    return this.loop.counters;
  }
  readonly dnsCounters = () => this.parts.dns?.counters;
  /** Egress reconcile runs, rule changes and errors (undefined: egress off). */
  readonly egressCounters = (): EgressPort['counters'] | undefined => this.parts.egress?.counters;

  /** Endpoint records that may be programmed at all (claims.ts: VTEP, address claim, MAC), and the refused. */
  admission(): Admission {
    const members = this.cluster.members();
    const mirror = this.mirror;
    const claims = this.cluster.ipamBlocks();
    // What a record's admission depends on besides the record: claims, members' VTEPs and names, the store read.
    const context = [
      claims.map((b) => `${b.network}/${b.block}/${b.owner}/${b.lamport}`).join(' '),
      members.map((m) => `${m.peerId}=${m.vtep}=${m.name}`).join(' '),
      mirror?.holdersVersion,
    ].join('|');
    return this.admissions.admit(this.cluster.endpointRecords(), context, () => {
      const vteps = new Map(members.map((m) => [m.peerId, m.vtep]));
      return {
        claims,
        vtepOf: (p) => vteps.get(p),
        storeHolds: mirror
          ? (network, ip, owner) => mirror.leaves(network, ip, owner, (p) => this.cluster.member(p)?.name)
          : undefined,
      };
    });
  }

  /** Per network, the remote endpoints that belong in the kernel (admitted, of live or held owners). */
  desired(report = false): Map<string, RemoteEndpoint[]> {
    const owners = this.owners();
    const admission = this.admission();
    const d = desiredRemotes({
      self: this.cluster.peerId,
      selfVtep: this.vtep,
      endpoints: admission.admitted,
      local: this.state.endpoints,
      programmed: (p) => isProgrammed(owners.get(p)),
    });
    if (report)
      this.refusals.report(
        admission.refused,
        d.conflicts.map((c) => ({ ...c, reason: 'local-conflict' as const })),
        this.cluster.peerId,
      );
    return d.byNetwork;
  }

  /** Each member's status as an owner of endpoints (live, withdrawn, held, suspended, vtep-conflict). */
  owners(): Map<string, OwnerStatus> {
    const statuses = ownerStatuses(this.cluster.members(), this.hold);
    for (const [peerId, s] of statuses) {
      if (s === 'vtep-conflict' && !this.vtepConflicts.has(peerId)) {
        const m = this.cluster.member(peerId);
        this.log.warn(
          { member: m?.name, peerId, vtep: m?.vtep },
          'member announces the VTEP of another live member: its endpoints are refused until that member is dead',
        );
      }
    }
    this.vtepConflicts = new Set([...statuses].filter(([, s]) => s === 'vtep-conflict').map(([p]) => p));
    return statuses;
  }

  // Networks
  listNetworks(): NetworkView[] {
    return this.networks.list();
  }
  network(name: string): NetworkView {
    return this.networks.get(name);
  }
  networkBySubnet(subnet: string): NetworkView | undefined {
    return this.networks.bySubnet(subnet);
  }
  async createNetwork(req: CreateNetworkRequest): Promise<NetworkView> {
    const view = await this.networks.create(req);
    this.prepareAddresses(view.name);
    return view;
  }

  /**
   * A network was created on this host (admin API, or this host's Docker engine): its address block is
   * claimed now, in the background, so the first container does not wait for the claim to settle.
   */
  prepareAddresses(network: string): void {
    const view = this.networks.list().find((n) => n.name === network);
    if (!view || !view.usable) return;
    this.ipam
      .prepare(view)
      .catch((e: unknown) =>
        this.log.warn({ network, err: (e as Error).message }, 'could not claim an address block ahead'),
      );
  }
  removeNetwork(name: string): Promise<void> {
    return this.networks.remove(name);
  }

  async inspectNetwork(name: string) {
    const n = this.networks.get(name);
    // With a store: who holds which address there (null when the store does not answer).
    let storeAddresses: Array<{ ip: string; host: string; at: string; peer?: string }> | null | undefined;
    if (this.store) {
      storeAddresses = await this.store.allocations(name).then(
        (m) =>
          [...m]
            .map(([ip, h]) => ({ ip, ...h }))
            .sort((a, b) => a.ip.localeCompare(b.ip, undefined, { numeric: true })),
        () => null,
      );
    }
    return {
      ...(storeAddresses !== undefined ? { storeAddresses } : {}),
      ...n,
      netns: this.state.inNetwork(name).length > 0 ? this.driver.overlayNetnsPath(n.vni) : null,
      endpointList: this.endpoints(name),
      ipamBlocks: this.cluster
        .ipamBlocks()
        .filter((b) => b.network === name)
        .map((b) => ({ block: b.block, owner: this.memberName(b.owner), lamport: b.lamport })),
      ipamConflicts: this.ipam.conflicts(name).map((c: BlockConflict) => ({
        block: c.block,
        winner: this.memberName(c.winner),
        losers: c.losers.map((l) => this.memberName(l)),
      })),
      egress: egressView(n, this.egress !== undefined, this.egress?.current ?? []),
      dns:
        this.dns && n.gateway
          ? { server: n.gateway, domain: networkDomain(n.name), dockerFlag: `--dns ${n.gateway}` }
          : null,
    };
  }

  private memberName(peerId: string): string {
    return this.cluster.member(peerId)?.name ?? peerId;
  }

  // Endpoints
  async attach(req: AttachRequest): Promise<LocalEndpoint> {
    const ep = await this.endpointsOf.attach(req);
    this.dns?.attached(ep, this.networks.get(ep.network).gateway);
    await this.dns?.run();
    // Docker's endpoints (configure: false) leave through docker_gwbridge: their Join does not wait.
    if (req.configure === false) void this.runEgress();
    else await this.runEgress();
    return ep;
  }
  async detach(req: DetachRequest): Promise<LocalEndpoint> {
    const ep = await this.endpointsOf.detach(req);
    this.dns?.detached(ep);
    void this.dns?.run();
    await this.runEgress();
    return ep;
  }
  /** Names an endpoint of this host after the fact (Docker: its container name and aliases). */
  renameEndpoint(network: string, id: string, name: string | undefined, aliases: string[]): Promise<LocalEndpoint> {
    return this.endpointsOf.rename(network, id, name, aliases);
  }
  returnAddress(network: string, ip: string): Promise<void> {
    return this.returns.giveBack(network, ip);
  }
  localEndpoints(): LocalEndpoint[] {
    return [...this.state.endpoints];
  }

  /** `named`: only endpoints with a name or aliases (what DNS needs: cheap with many unnamed records). */
  endpoints(network?: string, named = false): EndpointRow[] {
    const entries = this.cluster
      .endpoints()
      .filter(
        (e) =>
          (network === undefined || e.network === network) &&
          (!named || e.name !== undefined || (e.aliases?.length ?? 0) > 0),
      );
    return endpointRows(
      entries,
      this.owners(),
      (e) => this.refusals.reasonOf({ network: e.network, id: e.id, owner: e.owner }),
      this.nameConflicts(),
    );
  }

  /** Endpoints whose name another endpoint holds (agent/names.ts); new ones are logged. */
  nameConflicts(): NameConflict[] {
    const conflicts = nameConflicts(
      this.cluster.endpointRecords(),
      (p) => p === this.cluster.peerId || this.cluster.isLive(p),
    );
    this.nameLog.update(conflicts);
    return conflicts;
  }

  peers() {
    return peerRows(this.cluster.members(), this.owners());
  }

  // Reconcile and diagnostics
  scheduleReconcile(): void {
    this.loop.schedule();
  }
  reconcileAll(reason: string): Promise<ReconcileSummary[]> {
    return this.loop.run(reason);
  }

  /** Kernel tables beside the desired ones, row by row. */
  fdbReport(network?: string): Promise<FdbReport[]> {
    const nets = [...this.networks.table().values()].filter((n) => network === undefined || n.name === network);
    return fdbReports(nets, this.state.vnis(), this.desired(), this.cluster.endpoints(), this.driver, this.egress);
  }

  /** Every live member's fdb report, asked over the cluster's connections (cluster-fdb.ts). */
  clusterFdbReport(): Promise<HostFdbReport[]> {
    const ask = (p: string) =>
      this.cluster.queries?.ask(p, 'fdb', CLUSTER_FDB_TIMEOUT_MS) ??
      Promise.reject(new Error('this agent cannot ask members'));
    return clusterFdb({ members: this.cluster.members(), local: () => this.fdbReport(), ask });
  }

  status() {
    return {
      name: this.settings.name,
      peerId: this.cluster.peerId,
      vtep: this.vtep,
      listen: this.cluster.listenAddrs(),
      store: this.store ? this.store.endpoints.join(',') : null,
      initialSyncDone: this.cluster.synced,
      networks: this.networks.list().length,
      localEndpoints: this.state.endpoints.length,
      members: this.cluster.members().length,
      counters: this.counters,
      discovery: this.cluster.stats,
    };
  }

  /** Stops: graceful leave, sockets closed. Kernel state stays as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    this.dns?.stop();
    this.hold.stop();
    await this.loop.stop();
    await this.mirror?.stop();
    this.store?.close();
    await this.cluster.stop();
  }
}
