/**
 * The agent: local intent (networks, local endpoints) → discovery; discovery's table → desired state →
 * data plane reconcile. Owns the state directory. Never touches the kernel except through dataplane/.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { Dataplane, type ReconcileResult, type RemoteEndpoint } from '../dataplane/dataplane.js';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { detectVtep } from '../dataplane/host-info.js';
import { planReconcile } from '../dataplane/reconcile-plan.js';
import { vtepAnswers } from '../dataplane/vtep-probe.js';
import { parseCidr, parseIfName, parseMac, parseMtu, parseVni, requireHostIn, ipv4ToString, parseIPv4 } from '../core/addresses.js';
import { Discovery, type MemberView } from '../discovery/discovery.js';
import { type Logger } from '../core/logger.js';
import { EtcdStore } from '../store/etcd-store.js';
import type { EndpointValue, NetworkValue } from '../core/records.js';
import { fnv1a } from '../core/hash.js';
import { parseName } from '../core/names.js';
import type { AgentConfig } from '../daemon/config.js';
import { Ipam, type AddressAllocator, type BlockConflict, type EndpointUse } from '../ipam/block-ipam.js';
import { StoreIpam } from '../ipam/store-ipam.js';
import { StateFile } from '../core/state-file.js';

export interface LocalEndpoint {
  id: string;
  network: string;
  vni: number;
  netns: string;
  ifname: string;
  mac: string;
  ip: string;
  prefix: number;
  createdAt: string;
}

interface AgentState {
  version: 1;
  endpoints: LocalEndpoint[];
  ipamBlocks: Array<{ network: string; block: string }>;
  /** Addresses of gone endpoints not yet given back (the store did not answer). */
  addressesToReturn?: Array<{ network: string; ip: string }>;
}

export interface CreateNetworkRequest {
  name: string;
  subnet: string;
  vni?: number;
  gateway?: string;
  mtu?: number;
  options?: Record<string, string>;
}

export interface AttachRequest {
  network: string;
  netns: string;
  ifname?: string;
  ip?: string;
  mac?: string;
  /** Endpoint id (Docker gives its own); generated when absent. */
  id?: string;
  /** false: create the veth only (Docker configures the interface itself). Default true. */
  configure?: boolean;
  /** The address was handed out by this agent's IPAM (Docker's RequestAddress) and is still reserved. */
  preallocated?: boolean;
}

export interface NetworkConflict {
  kind: 'vni' | 'definition';
  detail: string;
  at: string;
}

export interface NetworkView extends NetworkValue {
  endpoints: number;
  localEndpoints: number;
  /** false when another network holds the same VNI with precedence. */
  usable: boolean;
  conflicts: NetworkConflict[];
}

export type FdbStatus = 'ok' | 'missing' | 'stale' | 'wrong-vtep' | 'wrong-mac';

export interface FdbRow {
  table: 'fdb' | 'neigh';
  mac: string;
  ip?: string;
  desiredVtep?: string;
  kernelVtep?: string;
  kernelMac?: string;
  state?: string;
  status: FdbStatus;
  host?: string;
}

export interface FdbReport {
  network: string;
  vni: number;
  netns: string;
  rows: FdbRow[];
  drift: number;
}

export interface ReconcileSummary {
  network: string;
  vni: number;
  changes: number;
  errors: number;
  durationMs: number;
}

const randomId = (): string => crypto.randomBytes(6).toString('hex');

/** 02:42 + the IPv4 address: deterministic and unique within a network, like Docker's. */
export function macFromIp(ip: string): string {
  return `02:42:${ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0')).join(':')}`;
}

export class Agent extends EventEmitter {
  readonly dataplane: Dataplane;
  readonly discovery: Discovery;
  readonly ipam: AddressAllocator;
  /** The optional consistent store (etcd): network definitions and addresses by compare-and-swap. */
  readonly store?: EtcdStore;
  private stopStoreWatch?: () => Promise<void>;
  /** Addresses to give back once the allocator answers (persisted with the state). */
  private addressesToReturn: Array<{ network: string; ip: string }> = [];
  private returning = false;
  readonly vtep: string;
  private readonly state: StateFile<AgentState>;
  private local: LocalEndpoint[];
  private readonly ensured = new Set<number>();
  /** VNIs with an attach in progress: their overlay must not be removed meanwhile. */
  private readonly attaching = new Map<number, number>();
  private initialSyncDone: boolean;
  private reconcileTimer?: NodeJS.Timeout;
  private reconcileScheduled = false;
  private reconciling?: Promise<ReconcileSummary[]>;
  private reconcileAgain = false;
  private readonly holdCheck = new Map<string, { alive: boolean; checkedAt: number; deadSince: number; checking: boolean }>();
  private readonly definitionSeen = new Map<string, NetworkValue>();
  private readonly conflicts = new Map<string, NetworkConflict[]>();
  private stopped = false;
  readonly counters = { reconcileRuns: 0, reconcileChanges: 0, reconcileErrors: 0, lastReconcileMs: 0, endpointConflicts: 0 };

  private constructor(
    readonly cfg: AgentConfig,
    readonly log: Logger,
    dataplane: Dataplane,
    discovery: Discovery,
    vtep: string,
    state: StateFile<AgentState>,
    initial: AgentState,
    store?: EtcdStore,
  ) {
    super();
    this.dataplane = dataplane;
    this.discovery = discovery;
    this.vtep = vtep;
    this.state = state;
    this.local = initial.endpoints;
    this.addressesToReturn = initial.addressesToReturn ?? [];
    this.initialSyncDone = cfg.join.length === 0;
    const d = discovery;
    const endpointsUsing = (network: string): EndpointUse[] => d.endpoints().filter((e) => e.network === network).map((e) => ({ network: e.network, ip: e.ip, id: e.id, host: e.host }));
    this.store = store;
    if (store) {
      this.ipam = new StoreIpam(store, cfg.name, endpointsUsing);
      return;
    }
    const blocks = new Ipam(
      {
        self: d.peerId,
        claims: () => d.ipamBlocks().map((b) => ({ network: b.network, block: b.block, owner: b.owner, lamport: b.lamport })),
        endpointsUsing,
        claim: async (network, block) => {
          await d.putIpamBlock({ network, block });
          this.saveState();
        },
        release: async (network, block) => {
          await d.deleteIpamBlock(network, block);
          this.saveState();
        },
      },
      cfg.ipamSettleMs,
      undefined,
      undefined,
      (c) => log.warn({ network: c.network, block: c.block, winner: this.memberName(c.winner) }, 'IPAM block claimed by another host too: it keeps it (earlier claim), choosing another'),
    );
    for (const b of initial.ipamBlocks) blocks.restoreClaim(b.network, b.block);
    this.ipam = blocks;
  }

  /** Starts the agent: adopt kernel state, announce local endpoints, join, reconcile. */
  static async start(cfg: AgentConfig, log: Logger): Promise<Agent> {
    const vtep = cfg.vtep ?? (await detectVtep());
    // The store first: an agent configured for one must not run without it (it would allocate alone).
    const store = cfg.store !== undefined ? await EtcdStore.connect(cfg.store, { prefix: cfg.storePrefix }) : undefined;
    const dataplane = new Dataplane({ prefix: cfg.netnsPrefix, vtep, underlayDev: cfg.underlayDev, vxlanPort: cfg.vxlanPort });
    const state = new StateFile<AgentState>(path.join(cfg.stateDir, 'agent-state.json'), () => ({ version: 1, endpoints: [], ipamBlocks: [] }));
    const initial = state.load();
    // Adopt what the kernel has: nothing is changed; endpoints whose veth vanished while we were down are dropped.
    const adopted = await dataplane.adopt();
    const present = new Set(adopted.flatMap((o) => o.localMacs.map((m) => `${o.vni}/${m}`)));
    const kept = initial.endpoints.filter((e) => present.has(`${e.vni}/${e.mac}`));
    if (kept.length !== initial.endpoints.length) {
      log.warn({ dropped: initial.endpoints.filter((e) => !kept.includes(e)).map((e) => e.id) }, 'local endpoints whose interface disappeared while the agent was down are withdrawn');
    }
    const discovery = await Discovery.create({
      name: cfg.name,
      vtep,
      listen: cfg.listen,
      seeds: cfg.join,
      stateDir: cfg.stateDir,
      clusterKeyFile: cfg.clusterKey,
      timers: cfg.discovery,
      log,
    });
    const agent = new Agent(cfg, log, dataplane, discovery, vtep, state, { ...initial, endpoints: kept }, store);
    for (const e of kept) await discovery.putEndpoint(agent.recordOf(e));
    // Their addresses go back (a borrowed /32, or the allocation in the store).
    for (const e of initial.endpoints.filter((x) => !kept.includes(x))) await agent.returnAddress(e.network, e.ip);
    await agent.retryAddressReturns();
    for (const b of initial.ipamBlocks) await discovery.putIpamBlock(b);
    agent.saveState();
    discovery.on('change', () => agent.scheduleReconcile());
    discovery.on('members', (members: MemberView[]) => agent.onMembers(members));
    await discovery.start();
    if (!agent.initialSyncDone) {
      agent.initialSyncDone = discovery.stats.syncRuns > 0;
      if (!agent.initialSyncDone) {
        log.warn({ join: cfg.join }, 'no seed answered: reconciles add entries but remove none until the first sync');
        const wait = setInterval(() => {
          if (discovery.stats.syncRuns > 0) {
            agent.initialSyncDone = true;
            clearInterval(wait);
            agent.scheduleReconcile();
          }
        }, 500);
        wait.unref();
      }
    }
    if (store) await agent.startStoreMirror();
    await agent.reconcileAll('start');
    // The periodic tick: drift repair, addresses still to give back, the store's definitions.
    agent.reconcileTimer = setInterval(() => {
      void agent.reconcileAll('periodic').catch(() => undefined);
      void agent.retryAddressReturns().catch((e: unknown) => log.warn({ err: String(e) }, 'giving addresses back failed'));
      if (store) void agent.mirrorStore();
    }, cfg.reconcileIntervalMs);
    agent.reconcileTimer.unref();
    return agent;
  }

  /**
   * With a store, its network definitions are the truth: they are copied into the replicated table
   * (where every agent reads them) at start, on every change the store reports, and with every
   * periodic tick.
   */
  private async startStoreMirror(): Promise<void> {
    const store = this.store as EtcdStore;
    await this.mirrorStore();
    this.stopStoreWatch = await store.watchNetworks(() => void this.mirrorStore());
  }

  /** Never throws: a store that does not answer leaves the definitions known so far. */
  private async mirrorStore(): Promise<void> {
    if (!this.store || this.stopped) return;
    try {
      const known = new Map([...this.discovery.table.live('network')].map((r) => [(r.value as NetworkValue).name, r.value as NetworkValue]));
      for (const v of await this.store.networks()) {
        const have = known.get(v.name);
        if (have && JSON.stringify(have) === JSON.stringify(v)) continue;
        await this.discovery.putNetwork(v);
        this.log.info({ network: v }, 'network definition from the store');
      }
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'store unreachable: keeping the network definitions known so far');
    }
  }

  private recordOf(e: LocalEndpoint): EndpointValue {
    return { network: e.network, id: e.id, mac: e.mac, ip: e.ip, vtep: this.vtep, host: this.cfg.name };
  }

  private saveState(): void {
    this.state.save({ version: 1, endpoints: this.local, ipamBlocks: this.ipam.ownClaims(), addressesToReturn: this.addressesToReturn });
  }

  /**
   * Gives an address back; if the allocator cannot be reached (the store is down) it is kept in the
   * state directory and retried with every periodic reconcile, so no address stays allocated forever.
   */
  async returnAddress(network: string, ip: string): Promise<void> {
    try {
      await this.ipam.returnAddress(network, ip);
    } catch (e) {
      if (!this.addressesToReturn.some((a) => a.network === network && a.ip === ip)) this.addressesToReturn.push({ network, ip });
      this.saveState();
      this.log.warn({ network, ip, err: (e as Error).message }, 'could not give the address back yet: will retry');
    }
  }

  private async retryAddressReturns(): Promise<void> {
    if (this.addressesToReturn.length === 0 || this.returning) return;
    this.returning = true;
    try {
      const todo = [...this.addressesToReturn];
      const left: typeof todo = [];
      for (const a of todo) {
        // Re-used meanwhile by a local endpoint (an explicit --ip): not ours to give back any more.
        if (this.local.some((e) => e.network === a.network && e.ip === a.ip)) continue;
        try {
          await this.ipam.returnAddress(a.network, a.ip);
        } catch {
          left.push(a);
        }
      }
      // Keep what failed again, and what was queued while this ran.
      this.addressesToReturn = [...left, ...this.addressesToReturn.filter((a) => !todo.includes(a))];
      this.saveState();
      if (left.length < todo.length) this.log.info({ returned: todo.length - left.length, left: left.length }, 'gave addresses back');
    } finally {
      this.returning = false;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Networks

  /** Networks by name, with VNI precedence resolved: the definition with the smallest (lamport, owner) keeps a VNI. */
  private networkTable(): Map<string, NetworkView> {
    const recs = [...this.discovery.table.live('network')];
    const byVni = new Map<number, typeof recs>();
    for (const r of recs) {
      const v = r.value as NetworkValue;
      byVni.set(v.vni, [...(byVni.get(v.vni) ?? []), r]);
    }
    const endpoints = this.discovery.endpoints();
    const out = new Map<string, NetworkView>();
    for (const r of recs) {
      const v = r.value as NetworkValue;
      const rivals = (byVni.get(v.vni) ?? []).filter((x) => x !== r);
      const beaten = rivals.some((x) => x.lamport < r.lamport || (x.lamport === r.lamport && x.owner < r.owner));
      const conflicts = [...(this.conflicts.get(v.name) ?? [])];
      for (const x of rivals) conflicts.push({ kind: 'vni', detail: `VNI ${v.vni} is also used by network ${(x.value as NetworkValue).name}${beaten ? ' (which has precedence: this network is unusable)' : ''}`, at: new Date().toISOString() });
      out.set(v.name, {
        ...v,
        endpoints: endpoints.filter((e) => e.network === v.name).length,
        localEndpoints: this.local.filter((e) => e.network === v.name).length,
        usable: !beaten,
        conflicts,
      });
      this.noteDefinition(v);
    }
    return out;
  }

  /** Records a change of subnet or VNI under an existing name: that is a conflict, never a silent merge. */
  private noteDefinition(v: NetworkValue): void {
    const prev = this.definitionSeen.get(v.name);
    this.definitionSeen.set(v.name, v);
    if (prev && (prev.subnet !== v.subnet || prev.vni !== v.vni)) {
      const c: NetworkConflict = { kind: 'definition', detail: `network ${v.name} was redefined from ${prev.subnet} vni ${prev.vni} to ${v.subnet} vni ${v.vni} (concurrent create on another host)`, at: new Date().toISOString() };
      this.conflicts.set(v.name, [...(this.conflicts.get(v.name) ?? []), c].slice(-10));
      this.log.warn({ network: v.name, previous: prev, current: v }, 'network definition conflict');
    }
  }

  listNetworks(): NetworkView[] {
    return [...this.networkTable().values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  network(name: string): NetworkView {
    const n = this.networkTable().get(name);
    if (!n) throw new NotFoundError('network', `no network named ${JSON.stringify(name)}`);
    return n;
  }

  /** A VNI derived from the name (stable across hosts), moved on if taken. */
  private autoVni(name: string, taken: Set<number>): number {
    const h = fnv1a(name);
    let vni = 4096 + (h % (16777215 - 4096));
    while (taken.has(vni)) vni = vni >= 16777215 ? 4096 : vni + 1;
    return vni;
  }

  async createNetwork(req: CreateNetworkRequest): Promise<NetworkView> {
    if (req === null || typeof req !== 'object') throw new ValidationError('body', 'must be a JSON object');
    parseName(req.name, 'name');
    const subnet = parseCidr(req.subnet);
    const existing = this.networkTable();
    const same = existing.get(req.name);
    const gateway = req.gateway === undefined ? ipv4ToString((parseIPv4(subnet.network) + 1) >>> 0) : requireHostIn(req.gateway, subnet, 'gateway');
    if (req.mtu !== undefined) {
      parseMtu(req.mtu);
      const max = await this.dataplane.maxMtu();
      if (req.mtu > max) throw new ValidationError('mtu', `${req.mtu} exceeds the largest overlay MTU of this host's underlay (${max})`);
    }
    if (same) {
      if (same.subnet !== subnet.text || (req.vni !== undefined && same.vni !== req.vni)) {
        throw new ValidationError('name', `network ${req.name} exists with subnet ${same.subnet} vni ${same.vni}`);
      }
      return same;
    }
    const taken = new Set([...existing.values()].map((n) => n.vni));
    let vni: number;
    if (req.vni !== undefined) {
      vni = parseVni(req.vni);
      const holder = [...existing.values()].find((n) => n.vni === vni);
      if (holder) throw new ValidationError('vni', `VNI ${vni} is used by network ${holder.name}`);
    } else vni = this.autoVni(req.name, taken);
    let value: NetworkValue = { name: req.name, vni, subnet: subnet.text, gateway };
    if (req.mtu !== undefined) value.mtu = req.mtu;
    if (req.options !== undefined) value.options = req.options;
    if (this.store) value = await this.createInStore(value, req.vni === undefined, taken);
    await this.discovery.putNetwork(value);
    this.log.info({ network: value }, 'network created');
    return this.network(req.name);
  }

  /** Creates the definition in the store (compare-and-swap); an auto-assigned VNI taken there moves on. */
  private async createInStore(value: NetworkValue, autoVni: boolean, taken: Set<number>): Promise<NetworkValue> {
    const store = this.store as EtcdStore;
    for (let attempt = 0; ; attempt++) {
      try {
        return (await store.createNetwork(value)).network;
      } catch (e) {
        if (!(autoVni && e instanceof ValidationError && e.field === 'vni' && attempt < 16)) throw e;
        taken.add(value.vni);
        value = { ...value, vni: this.autoVni(value.name, taken) };
      }
    }
  }

  async removeNetwork(name: string): Promise<void> {
    const n = this.network(name);
    const users = this.discovery.endpoints().filter((e) => e.network === name && e.ownerLive);
    if (users.length > 0) {
      throw new ValidationError('network', `network ${name} still has ${users.length} endpoint(s) (e.g. ${users[0]?.id} on ${users[0]?.host}); detach them first`);
    }
    if (this.store) await this.store.removeNetwork(name);
    await this.discovery.deleteNetwork(name);
    if (this.ensured.has(n.vni)) {
      await this.dataplane.removeNetwork(n.vni);
      this.ensured.delete(n.vni);
    }
    this.log.info({ network: name }, 'network removed');
  }

  async inspectNetwork(name: string) {
    const n = this.network(name);
    // With a store: who holds which address there (null when the store does not answer).
    let storeAddresses: Array<{ ip: string; host: string; at: string }> | null | undefined;
    if (this.store) {
      storeAddresses = await this.store.allocations(name).then(
        (m) => [...m].map(([ip, h]) => ({ ip, ...h })).sort((a, b) => a.ip.localeCompare(b.ip, undefined, { numeric: true })),
        () => null,
      );
    }
    return {
      ...(storeAddresses !== undefined ? { storeAddresses } : {}),
      ...n,
      netns: this.local.some((e) => e.network === name) ? this.dataplane.overlayNetnsPath(n.vni) : null,
      endpointList: this.endpoints(name),
      ipamBlocks: this.discovery.ipamBlocks().filter((b) => b.network === name).map((b) => ({ block: b.block, owner: this.memberName(b.owner), lamport: b.lamport })),
      ipamConflicts: this.ipam.conflicts(name).map((c: BlockConflict) => ({ block: c.block, winner: this.memberName(c.winner), losers: c.losers.map((l) => this.memberName(l)) })),
    };
  }

  private memberName(peerId: string): string {
    return this.discovery.membership.get(peerId)?.name ?? peerId;
  }

  // -------------------------------------------------------------------------------------------
  // Endpoints

  private async ensureOverlay(n: NetworkView): Promise<void> {
    if (this.ensured.has(n.vni)) return;
    await this.dataplane.ensureNetwork({ vni: n.vni, subnet: n.subnet, gateway: n.gateway, mtu: n.mtu });
    this.ensured.add(n.vni);
  }

  async attach(req: AttachRequest): Promise<LocalEndpoint> {
    if (req === null || typeof req !== 'object') throw new ValidationError('body', 'must be a JSON object');
    if (typeof req.network !== 'string') throw new ValidationError('network', 'required');
    const n = this.network(req.network);
    if (!n.usable) throw new ValidationError('network', `network ${n.name} cannot be used: ${n.conflicts.map((c) => c.detail).join('; ')}`);
    if (typeof req.netns !== 'string' || req.netns === '') throw new ValidationError('netns', 'required: a namespace name or path');
    const ifname = parseIfName(req.ifname ?? 'eth0', 'ifname');
    const existing = this.local.find((e) => e.network === n.name && e.netns === req.netns && e.ifname === ifname);
    if (existing) return existing;
    if (req.id !== undefined && (typeof req.id !== 'string' || !/^[A-Za-z0-9_.-]{1,128}$/.test(req.id))) throw new ValidationError('id', 'must be 1-128 characters of A-Z a-z 0-9 _ . -');
    const id = req.id ?? randomId();
    if (this.local.some((e) => e.network === n.name && e.id === id)) throw new ValidationError('id', `endpoint ${id} exists in ${n.name}`);
    // The address is reserved from here on; returned if the attach fails (Docker's reservation included).
    let ip: string;
    if (req.ip !== undefined) {
      await this.ipam.reserveExplicit(n, req.ip, req.preallocated === true);
      ip = req.ip;
    } else ip = await this.ipam.allocate(n);
    let counted = false;
    let attached = false;
    try {
      const mac = req.mac !== undefined ? parseMac(req.mac, 'mac') : macFromIp(ip);
      const holder = this.discovery.endpoints().find((e) => e.network === n.name && e.mac === mac);
      if (holder) throw new ValidationError('mac', `${mac} is in use by endpoint ${holder.id} on host ${holder.host}`);
      // While this runs, neither a reconcile nor a detach may remove the overlay.
      this.attaching.set(n.vni, (this.attaching.get(n.vni) ?? 0) + 1);
      counted = true;
      await this.ensureOverlay(n);
      const r = await this.dataplane.attach({ vni: n.vni, netns: req.netns, ifname, mac, ip, gateway: n.gateway, configure: req.configure });
      const ep: LocalEndpoint = { id, network: n.name, vni: n.vni, netns: req.netns, ifname, mac, ip, prefix: r.prefix, createdAt: new Date().toISOString() };
      this.local.push(ep);
      this.saveState();
      await this.discovery.putEndpoint(this.recordOf(ep));
      this.log.info({ endpoint: ep }, 'attached');
      attached = true;
      return ep;
    } finally {
      if (counted) this.doneAttaching(n.vni);
      this.ipam.settle(ip);
      if (!attached) await this.returnAddress(n.name, ip);
    }
  }

  private doneAttaching(vni: number): void {
    const k = (this.attaching.get(vni) ?? 1) - 1;
    if (k <= 0) this.attaching.delete(vni);
    else this.attaching.set(vni, k);
  }

  /** The network with this subnet, if exactly one has it. */
  networkBySubnet(subnet: string): NetworkView | undefined {
    const matches = this.listNetworks().filter((n) => n.subnet === subnet);
    return matches.length === 1 ? matches[0] : undefined;
  }

  async detach(req: { network: string; netns?: string; ifname?: string; id?: string }): Promise<LocalEndpoint> {
    if (req === null || typeof req !== 'object') throw new ValidationError('body', 'must be a JSON object');
    const n = this.network(req.network);
    const ifname = req.ifname ?? 'eth0';
    const ep = this.local.find((e) => e.network === n.name && (req.id !== undefined ? e.id === req.id : e.netns === req.netns && e.ifname === ifname));
    if (!ep) throw new NotFoundError(req.id !== undefined ? 'id' : 'netns', `no endpoint of ${n.name} ${req.id !== undefined ? `with id ${req.id}` : `at ${req.netns ?? '?'} ${ifname}`} on this host`);
    await this.dataplane.detach(ep.vni, ep.mac);
    this.local = this.local.filter((e) => e !== ep);
    this.saveState();
    await this.discovery.deleteEndpoint(ep.network, ep.id);
    await this.returnAddress(ep.network, ep.ip);
    this.log.info({ endpoint: ep }, 'detached');
    if (!this.local.some((e) => e.vni === ep.vni) && !this.attaching.has(ep.vni)) {
      await this.dataplane.removeNetwork(ep.vni);
      this.ensured.delete(ep.vni);
    }
    return ep;
  }

  localEndpoints(): LocalEndpoint[] {
    return [...this.local];
  }

  endpoints(network?: string) {
    const held = (owner: string) => this.isHeld(owner);
    return this.discovery
      .endpoints()
      .filter((e) => network === undefined || e.network === network)
      .map((e) => ({
        network: e.network,
        id: e.id,
        mac: e.mac,
        ip: e.ip,
        vtep: e.vtep,
        host: e.host,
        status: e.local ? 'local' : e.ownerLive ? 'remote' : held(e.owner) ? 'held' : 'suspended',
      }))
      .sort((a, b) => a.network.localeCompare(b.network) || a.ip.localeCompare(b.ip, undefined, { numeric: true }));
  }

  peers() {
    return this.discovery.members().map((m) => ({ ...m, lastAck: m.lastAck ? new Date(m.lastAck).toISOString() : null, since: new Date(m.since).toISOString(), dataplaneHeld: !m.self && this.isHeld(m.peerId) }));
  }

  // -------------------------------------------------------------------------------------------
  // Dead agents whose hosts are up

  private onMembers(members: MemberView[]): void {
    const now = Date.now();
    for (const m of members) {
      const gone = m.state === 'dead' || m.state === 'left';
      const h = this.holdCheck.get(m.peerId);
      if (!gone) {
        if (h) this.holdCheck.delete(m.peerId);
        continue;
      }
      if (!h) {
        // Assume the data plane is up until the first check says otherwise (an agent restart must not flap).
        this.holdCheck.set(m.peerId, { alive: true, checkedAt: 0, deadSince: now, checking: false });
        void this.checkHold(m.peerId, m.vtep);
      }
    }
  }

  private async checkHold(peerId: string, vtep: string): Promise<void> {
    const h = this.holdCheck.get(peerId);
    if (!h || h.checking || this.stopped) return;
    h.checking = true;
    const alive = await vtepAnswers(vtep);
    h.checking = false;
    const was = h.alive;
    h.alive = alive;
    h.checkedAt = Date.now();
    if (was !== alive) {
      this.log.info({ peerId, vtep, dataplaneUp: alive }, alive ? 'agent gone but its host answers: keeping its endpoints' : 'host of a gone agent does not answer: withdrawing its endpoints');
      this.scheduleReconcile();
    }
    if (this.holdCheck.has(peerId) && !this.stopped) {
      setTimeout(() => {
        const m = this.discovery.membership.get(peerId);
        if (m) void this.checkHold(peerId, m.vtep);
      }, alive ? 2000 : 5000).unref();
    }
  }

  private isHeld(peerId: string): boolean {
    const h = this.holdCheck.get(peerId);
    return !!h && h.alive && Date.now() - h.deadSince < this.cfg.deadAgentHoldMs;
  }

  // -------------------------------------------------------------------------------------------
  // Reconcile

  /** Per network: the remote endpoints that belong in the kernel (live owners, or held ones). */
  desiredRemotes(): Map<string, RemoteEndpoint[]> {
    const byNet = new Map<string, Array<RemoteEndpoint & { rank: [number, string]; id: string }>>();
    for (const r of this.discovery.table.live('endpoint')) {
      if (r.owner === this.discovery.peerId) continue;
      if (!this.discovery.membership.isLive(r.owner) && !this.isHeld(r.owner)) continue;
      const v = r.value as EndpointValue;
      if (v.vtep === this.vtep) continue;
      const list = byNet.get(v.network) ?? [];
      list.push({ mac: v.mac, ip: v.ip, vtep: v.vtep, rank: [r.lamport, r.owner], id: v.id });
      byNet.set(v.network, list);
    }
    const out = new Map<string, RemoteEndpoint[]>();
    for (const [net, list] of byNet) {
      // Two endpoints claiming one MAC or IP (a race): the earlier write keeps it, the other is left out.
      list.sort((a, b) => a.rank[0] - b.rank[0] || (a.rank[1] < b.rank[1] ? -1 : 1));
      const macs = new Set(this.local.filter((e) => e.network === net).map((e) => e.mac));
      const ips = new Set(this.local.filter((e) => e.network === net).map((e) => e.ip));
      const keep: RemoteEndpoint[] = [];
      for (const e of list) {
        if (macs.has(e.mac) || ips.has(e.ip)) {
          this.counters.endpointConflicts++;
          this.log.warn({ network: net, endpoint: e.id, mac: e.mac, ip: e.ip }, 'endpoint conflicts with another (same MAC or IP): left out');
          continue;
        }
        macs.add(e.mac);
        ips.add(e.ip);
        keep.push({ mac: e.mac, ip: e.ip, vtep: e.vtep });
      }
      out.set(net, keep);
    }
    return out;
  }

  scheduleReconcile(): void {
    if (this.reconcileScheduled || this.stopped) return;
    this.reconcileScheduled = true;
    setTimeout(() => {
      this.reconcileScheduled = false;
      void this.reconcileAll('change').catch((e: unknown) => this.log.error({ err: String(e) }, 'reconcile failed'));
    }, 10).unref();
  }

  /** Reconciles every network with local endpoints. Runs one at a time; a request during a run queues one more. */
  async reconcileAll(reason: string): Promise<ReconcileSummary[]> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = this.reconcileOnce(reason).finally(() => {
      this.reconciling = undefined;
      if (this.reconcileAgain && !this.stopped) {
        this.reconcileAgain = false;
        this.scheduleReconcile();
      }
    });
    return this.reconciling;
  }

  private async reconcileOnce(reason: string): Promise<ReconcileSummary[]> {
    if (this.stopped) return [];
    const nets = this.networkTable();
    // Decide about deletions from the same moment as the desired set: a first sync that completes
    // while this run awaits the kernel must not let a desired set computed before it delete entries.
    const allowDelete = this.initialSyncDone;
    const desired = this.desiredRemotes();
    const out: ReconcileSummary[] = [];
    const localVnis = new Set(this.local.map((e) => e.vni));
    for (const vni of localVnis) {
      const n = [...nets.values()].find((x) => x.vni === vni && x.usable);
      if (!n) continue; // definition not (yet) known: keep the kernel as it is
      const t0 = performance.now();
      let r: ReconcileResult;
      try {
        await this.ensureOverlay(n);
        r = await this.dataplane.reconcile(vni, desired.get(n.name) ?? [], { allowDelete });
      } catch (e) {
        this.counters.reconcileErrors++;
        this.log.error({ network: n.name, err: (e as Error).message }, 'reconcile failed');
        continue;
      }
      const ms = performance.now() - t0;
      this.counters.reconcileRuns++;
      this.counters.reconcileChanges += r.changes;
      this.counters.reconcileErrors += r.errors.length;
      this.counters.lastReconcileMs = ms;
      if (r.changes > 0 || r.errors.length > 0) this.log.info({ reason, network: n.name, vni, result: r, ms: +ms.toFixed(1) }, 'reconciled');
      for (const e of r.errors) this.log.warn({ network: n.name, error: e }, 'reconcile entry failed');
      out.push({ network: n.name, vni, changes: r.changes, errors: r.errors.length, durationMs: +ms.toFixed(2) });
      this.emit('reconciled', r);
    }
    // Overlays with our prefix that no local endpoint needs any more (only once we know the cluster).
    if (this.initialSyncDone) {
      // Read the local endpoints now, not at the start of the run: an attach may have finished meanwhile.
      const removed = await this.dataplane.removeStale([...this.local.map((e) => e.vni), ...this.attaching.keys()]);
      if (removed.length) this.log.info({ vnis: removed }, 'removed overlays no local endpoint uses');
    }
    return out;
  }

  /** Kernel tables beside the desired ones, row by row. */
  async fdbReport(network?: string): Promise<FdbReport[]> {
    const nets = this.networkTable();
    const desired = this.desiredRemotes();
    const hostOf = new Map(this.discovery.endpoints().map((e) => [`${e.network}/${e.mac}`, e.host]));
    const out: FdbReport[] = [];
    for (const vni of new Set(this.local.map((e) => e.vni))) {
      const n = [...nets.values()].find((x) => x.vni === vni);
      if (!n || (network !== undefined && n.name !== network)) continue;
      const t = await this.dataplane.dump(vni);
      const want = desired.get(n.name) ?? [];
      const rows: FdbRow[] = [];
      const selfFdb = new Map(t.fdb.filter((e) => e.self).map((e) => [e.mac, e]));
      const neigh = new Map(t.neighbours.map((x) => [x.ip, x]));
      for (const w of want) {
        const f = selfFdb.get(w.mac);
        rows.push({ table: 'fdb', mac: w.mac, ip: w.ip, desiredVtep: w.vtep, kernelVtep: f?.dst, status: !f ? 'missing' : f.dst !== w.vtep ? 'wrong-vtep' : 'ok', host: hostOf.get(`${n.name}/${w.mac}`) });
        const nb = neigh.get(w.ip);
        rows.push({ table: 'neigh', mac: w.mac, ip: w.ip, kernelMac: nb?.mac, status: !nb ? 'missing' : nb.mac !== w.mac ? 'wrong-mac' : 'ok', host: hostOf.get(`${n.name}/${w.mac}`) });
      }
      const wantMacs = new Set(want.map((w) => w.mac));
      const wantIps = new Set(want.map((w) => w.ip));
      for (const [mac, f] of selfFdb) if (!wantMacs.has(mac)) rows.push({ table: 'fdb', mac, kernelVtep: f.dst, status: 'stale' });
      // Bridge (master) entries on the VXLAN port: stale exactly when reconcile would remove them.
      for (const mac of planReconcile(t.fdb, [], want).masterDelete) rows.push({ table: 'fdb', mac, status: 'stale', state: 'learned' });
      for (const [ip, nb] of neigh) if (!wantIps.has(ip)) rows.push({ table: 'neigh', mac: nb.mac ?? '', ip, kernelMac: nb.mac, status: 'stale' });
      out.push({ network: n.name, vni, netns: t.netns, rows, drift: rows.filter((r) => r.status !== 'ok').length });
    }
    return out;
  }

  status() {
    return {
      name: this.cfg.name,
      peerId: this.discovery.peerId,
      vtep: this.vtep,
      listen: this.discovery.listenAddrs(),
      store: this.store ? this.store.endpoints.join(',') : null,
      initialSyncDone: this.initialSyncDone,
      networks: this.listNetworks().length,
      localEndpoints: this.local.length,
      members: this.discovery.members().length,
      counters: this.counters,
      discovery: this.discovery.stats,
    };
  }

  /** Stops: graceful leave, sockets closed. Kernel state stays as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.reconciling?.catch(() => undefined);
    await this.stopStoreWatch?.();
    this.store?.close();
    await this.discovery.stop();
    this.dataplane.close();
  }
}

