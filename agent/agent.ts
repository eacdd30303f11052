/**
 * The agent: local intent (networks, local endpoints) → the cluster's replicated table; the table →
 * desired state → data plane reconcile. A facade over its parts (assembly.ts wires them: networks,
 * endpoints, derived state, change report, hold, reconcile loop, store mirror, egress, DNS); the
 * daemon gives the real cluster, data plane and store (daemon/start-agent.ts), tests give fakes.
 * Requests arrive decoded (requests.ts).
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../core/logger.js';
import type { ReconcileResult } from '../dataplane/dataplane.js';
import { assemble, type AgentCore, type AgentParts, type AgentSettings } from './assembly.js';
import type { Admission } from './claims.js';
import { CLUSTER_FDB_TIMEOUT_MS, clusterFdb, type HostFdbReport } from './cluster-fdb.js';
import type { DesiredState } from './desired.js';
import { fdbReports, type FdbReport } from './diagnostics.js';
import type { EndpointRow } from './endpoint-list.js';
import type { LocalEndpoint } from './local-state.js';
import type { NameConflict } from './names.js';
import { inspectNetwork } from './network-inspect.js';
import type { NetworkView } from './networks.js';
import type { Policy } from './policy.js';
import { peerRows, type OwnerStatus } from './owners.js';
import { statusReport, type StatusReport } from './status-report.js';
import { vxmeshVersion } from '../core/version.js';
import { PROTO_VERSION } from '../discovery/wire.js';
import type { WireguardPeerState } from '../dataplane/wireguard.js';
import type { AddressAllocator, ClusterNode, DnsPort, EgressPort, MemberView } from './ports.js';
import type { ReconcileCounters, ReconcileSummary } from './reconcile-loop.js';
import type { RefusalLog } from './refusals.js';
import type { AttachRequest, CreateNetworkRequest, DetachRequest } from './requests.js';
import type { ContainerInterface } from '../dataplane/dataplane.js';

export type { AgentParts, AgentSettings } from './assembly.js';
export type { AttachRequest, CreateNetworkRequest, DetachRequest } from './requests.js';
export type { NetworkConflict, NetworkView } from './networks.js';
export type { FdbReport, FdbRow, FdbStatus } from './diagnostics.js';
export type { HostFdbReport } from './cluster-fdb.js';
export type { LocalEndpoint } from './local-state.js';
export type { ReconcileSummary } from './reconcile-loop.js';
export type { AgentStore, ClusterNode } from './ports.js';

export class Agent extends EventEmitter {
  readonly vtep: string;
  readonly ipam: AddressAllocator;
  readonly cluster: ClusterNode;
  /** Refused endpoint records as last reported. */
  readonly refusals: RefusalLog;
  private readonly settings: AgentSettings;
  private readonly log: Logger;
  private readonly core: AgentCore;
  private tick?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly parts: AgentParts) {
    super();
    this.settings = parts.settings;
    this.vtep = parts.settings.vtep;
    this.log = parts.log;
    this.cluster = parts.cluster;
    this.core = assemble(parts, (r: ReconcileResult) => this.emit('reconciled', r));
    this.ipam = this.core.ipam;
    this.refusals = this.core.report.refusals;
  }

  /**
   * Announces the local endpoints, gives back the addresses of those that vanished, starts the
   * cluster node, mirrors the store, reconciles, and starts the periodic tick.
   */
  async start(vanished: LocalEndpoint[] = []): Promise<void> {
    const { cluster, log } = this;
    const { state, endpoints, returns, loop, hold, mirror, dns } = this.core;
    for (const e of state.endpoints) await cluster.putEndpoint(endpoints.recordOf(e));
    // Our address claims as saved (the table holds none of ours yet: a fresh cluster node learns its own
    // records only from its agent, and would delete those that peers send back). Before the give-backs,
    // which release claims found in the table.
    for (const b of this.parts.initialState.ipamBlocks) await cluster.putIpamBlock(b);
    // Their addresses go back (a borrowed /32, or the allocation in the store).
    for (const e of vanished) for (const a of [e.ip, e.ip6]) if (a !== undefined) await returns.giveBack(e.network, a);
    await returns.retry();
    state.save();
    cluster.on('change', () => {
      loop.schedule();
      dns?.schedule();
    });
    cluster.on('members', (members: MemberView[]) => {
      hold.onMembers(members);
      void this.core.wireguard?.run();
      // The VXLAN guard follows membership.
      void this.core.egress
        ?.onMembers()
        .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'egress reconcile failed'));
    });
    // Deletions become allowed with the first sync: reconcile then, not only at the next change.
    cluster.on('synced', () => loop.schedule());
    await cluster.start();
    if (!cluster.synced) log.warn({}, 'no seed answered: reconciles add entries but remove none until the first sync');
    await mirror?.start();
    if (this.settings.kernelEvents !== false) loop.watchKernel(this.parts.driver);
    cluster.queries?.answer('fdb', () => this.fdbReport());
    await loop.run('start');
    await this.core.wireguard?.run(true);
    await this.runEgress();
    await this.core.egress?.watch().catch((e: unknown) => log.warn({ err: String(e) }, 'egress: no change reports'));
    await dns?.begin();
    // The periodic tick: drift repair (tables, then egress: every few ticks), addresses still to give back, the store's definitions.
    this.tick = setInterval(() => {
      void loop
        .run('periodic')
        .then(() => this.core.wireguard?.periodic())
        .then(() => this.runEgress('periodic'))
        .catch(() => undefined);
      void returns.retry().catch((e: unknown) => log.warn({ err: String(e) }, 'giving addresses back failed'));
      void mirror?.mirror();
    }, this.settings.reconcileIntervalMs);
    this.tick.unref();
  }

  /** Gateway links and packet-filter rules for the networks with local endpoints (never throws). */
  /** `change`: an attach or detach (a run only if it changes what egress is made of); `periodic`: the tick's drift repair. */
  private async runEgress(why: 'start' | 'change' | 'periodic' = 'start'): Promise<void> {
    const { egress } = this.core;
    const run = why === 'periodic' ? egress?.periodic() : why === 'change' ? egress?.runForChange() : egress?.run();
    await run?.catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'egress reconcile failed'));
  }

  get counters(): ReconcileCounters {
    return this.core.loop.counters;
  }
  readonly dnsCounters = (): DnsPort['counters'] | undefined => this.parts.dns?.counters;
  /** Egress reconcile runs, rule changes and errors (undefined: egress off). */
  readonly egressCounters = (): EgressPort['counters'] | undefined => this.parts.egress?.counters;

  /** Endpoint records that may be programmed at all (claims.ts: VTEP, address claim, MAC), and the refused. */
  admission(): Admission {
    return this.core.derived.admission();
  }

  /** Per network, the remote endpoints that belong in the kernel (admitted, of live or held owners). */
  desired(): DesiredState {
    return this.core.derived.desired();
  }

  /** Each member's status as an owner of endpoints (live, withdrawn, held, suspended, vtep-conflict). */
  owners(): Map<string, OwnerStatus> {
    return this.core.derived.owners();
  }

  // Networks
  listNetworks(): NetworkView[] {
    return this.core.networks.list();
  }
  network(name: string): NetworkView {
    return this.core.networks.get(name);
  }
  networkBySubnet(subnet: string): NetworkView | undefined {
    return this.core.networks.bySubnet(subnet);
  }
  async createNetwork(req: CreateNetworkRequest): Promise<NetworkView> {
    const view = await this.core.networks.create(req);
    this.prepareAddresses(view.name);
    return view;
  }

  /**
   * A network was created on this host (admin API, or this host's Docker engine): its address block is
   * claimed now, in the background, so the first container does not wait for the claim to settle.
   */
  prepareAddresses(network: string): void {
    const view = this.core.networks.list().find((n) => n.name === network);
    if (!view || !view.usable) return;
    this.ipam
      .prepare(view)
      .catch((e: unknown) =>
        this.log.warn({ network, err: (e as Error).message }, 'could not claim an address block ahead'),
      );
  }
  removeNetwork(name: string): Promise<void> {
    return this.core.networks.remove(name);
  }
  /** Connections of networks and policy rules (policy.ts); the overlays here with a filter (namespace paths). */
  get policy(): Policy {
    return this.core.policy;
  }
  policyFiltered(): Array<{ network: string; netns: string }> {
    return this.core.policySync
      .filtered()
      .map((f) => ({ network: f.network, netns: this.parts.driver.overlayNetnsPath(f.vni) }));
  }
  inspectNetwork(name: string): ReturnType<typeof inspectNetwork> {
    return inspectNetwork(
      this.core,
      { cluster: this.cluster, driver: this.parts.driver, store: this.parts.store },
      name,
    );
  }

  // Endpoints
  async attach(req: AttachRequest): Promise<LocalEndpoint> {
    const { endpoints, networks, dns } = this.core;
    const ep = await endpoints.attach(req);
    const n = networks.get(ep.network);
    dns?.attached(ep, n.gateway ?? n.gateway6);
    await dns?.run();
    // Docker's endpoints (configure: false) leave through docker_gwbridge: their Join does not wait.
    if (req.configure === false) void this.runEgress('change');
    else await this.runEgress('change');
    return ep;
  }
  async detach(req: DetachRequest): Promise<LocalEndpoint> {
    const ep = await this.core.endpoints.detach(req);
    this.core.dns?.detached(ep);
    void this.core.dns?.run();
    await this.runEgress('change');
    return ep;
  }
  /** Names an endpoint of this host after the fact (Docker: its container name and aliases, as DNS labels). */
  renameEndpoint(network: string, id: string, name: string | undefined, aliases: string[]): Promise<LocalEndpoint> {
    return this.core.endpoints.rename(network, id, name, aliases);
  }
  returnAddress(network: string, ip: string): Promise<void> {
    return this.core.returns.giveBack(network, ip);
  }
  localEndpoints(): LocalEndpoint[] {
    return [...this.core.state.endpoints];
  }
  /** A container's interface as the kernel has it now (undefined: none, or no driver that can tell). */
  containerInterface(netns: string, ifname: string): Promise<ContainerInterface | undefined> {
    return this.parts.driver.containerInterface?.(netns, ifname) ?? Promise.resolve(undefined);
  }

  /** Every endpoint of the table (of one network) with its status. */
  endpoints(network?: string): EndpointRow[] {
    return this.core.derived.endpointRows(network);
  }

  /** Endpoints whose name another endpoint holds (agent/names.ts). */
  nameConflicts(): NameConflict[] {
    return this.core.derived.nameConflicts();
  }

  /** Members with their status as owners of endpoints. */
  peers() {
    return peerRows(this.cluster.members(), this.owners());
  }

  /** Data-plane frames the host's filters dropped, by reason (metrics). */
  async dataPlaneDrops(): Promise<{ 'non-member': number; 'not-through-wireguard': number }> {
    return {
      'non-member': (await this.parts.egress?.vxlanDrops?.()) ?? 0,
      'not-through-wireguard': (await this.parts.wireguard?.port.cleartextDrops?.()) ?? 0,
    };
  }

  /** `vxmesh peers`: the members, and each peer's WireGuard state on this host (encrypted networks). */
  async peersWithWireguard() {
    const wg = (await this.core.wireguard?.peerStates()) ?? new Map<string, WireguardPeerState>();
    return this.peers().map((r) => {
      const s = r.wgKey === undefined ? undefined : wg.get(r.wgKey);
      return s
        ? {
            ...r,
            wireguard: {
              latestHandshake: s.latestHandshake ? new Date(s.latestHandshake * 1000).toISOString() : null,
              rxBytes: s.rxBytes,
              txBytes: s.txBytes,
            },
          }
        : r;
    });
  }

  // Reconcile and diagnostics
  scheduleReconcile(): void {
    this.core.loop.schedule();
  }
  reconcileAll(reason: string): Promise<ReconcileSummary[]> {
    return this.core.loop.run(reason);
  }

  /** Kernel tables beside the desired ones, row by row. */
  fdbReport(network?: string): Promise<FdbReport[]> {
    const { networks, state, egress, wireguard, policySync } = this.core;
    const nets = [...networks.table().values()].filter((n) => network === undefined || n.name === network);
    const desired = this.desired().byNetwork;
    const served = policySync.served(state.vnis());
    const policy = { drift: (vni: number) => policySync.drift(vni, served) };
    const eps = this.cluster.endpoints();
    return fdbReports(nets, state.vnis(), desired, eps, this.parts.driver, egress, wireguard, policy);
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
      store: this.parts.store ? this.parts.store.endpoints.join(',') : null,
      initialSyncDone: this.cluster.synced,
      networks: this.core.networks.list().length,
      localEndpoints: this.core.state.endpoints.length,
      members: this.cluster.members().length,
      counters: this.counters,
      discovery: this.cluster.stats,
    };
  }

  /** Checks of the host whose warnings `vxmesh status` shows (daemon/host-checks.ts). */
  readonly statusChecks: Array<() => Promise<string[]>> = [];

  /** The largest overlay MTU this host's underlay allows (an encrypted network's: inside WireGuard). */
  maxMtu(encrypted = false): Promise<number> {
    return this.parts.driver.maxMtu(encrypted);
  }

  /** Calls `fn` with each network reconcile's duration in ms. */
  onReconcileDuration(fn: (ms: number) => void): void {
    this.core.loop.durationListeners.add(fn);
  }

  /** Ready to serve (the metrics listener's /readyz): started, and the first sync with the cluster done. */
  readiness(): { ready: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.stopped) reasons.push('stopping');
    if (!this.cluster.synced) reasons.push('no member answered yet (first sync pending)');
    return { ready: reasons.length === 0, reasons };
  }

  /** `vxmesh status` (status-report.ts). */
  async statusReport(): Promise<StatusReport> {
    const { networks, state, wireguard, loop } = this.core;
    return statusReport({
      version: vxmeshVersion(),
      name: this.settings.name,
      peerId: this.cluster.peerId,
      vtep: this.vtep,
      overlayMtu: await this.parts.driver.maxMtu().catch(() => 0),
      underlay: await this.underlayInfo(),
      hostWarnings: (await Promise.all(this.statusChecks.map((c) => c().catch(() => [])))).flat(),
      initialSyncDone: this.cluster.synced,
      generation: PROTO_VERSION,
      members: this.cluster.members(),
      fdb: await this.fdbReport(),
      encrypted: new Set(
        networks
          .list()
          .filter((n) => n.encrypted)
          .map((n) => n.name),
      ),
      localEndpoints: state.endpoints.length,
      lastReconcileMs: loop.counters.lastReconcileMs,
      wireguardError: wireguard?.lastError,
    });
  }

  private async underlayInfo(): Promise<{ dev: string; mtu: number } | null> {
    const u = await this.parts.driver.underlay?.().catch(() => undefined);
    return u ? { dev: u.name, mtu: u.mtu } : null;
  }

  /** Stops: graceful leave, sockets closed. Kernel state stays as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    this.core.egress?.stopWatching();
    await this.core.dns?.stop();
    this.core.hold.stop();
    await this.core.loop.stop();
    await this.core.mirror?.stop();
    this.parts.store?.close();
    await this.cluster.stop();
  }
}
