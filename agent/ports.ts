/**
 * The ports of the agent: what its parts need from the world, each declared here, where its users
 * live, as an interface of its own. The daemon wires the real implementations (discovery/, dataplane/,
 * ipam/, store/, egress/, dns/: each matches its port structurally, none imports it); unit tests give
 * in-memory fakes (test/fixtures/agent-fakes.ts).
 */
import type { ConnectionValue, PolicyRecords, PolicyValue } from '../core/policy-records.js';
import type { WireguardPeer, WireguardPeerState } from '../dataplane/wireguard.js';
import type { PortProtocol } from '../core/port-mappings.js';
import type { EndpointValue, IpamBlockValue, NetworkValue } from '../core/records.js';
import type {
  AttachResult,
  AttachSpec,
  ContainerInterface,
  GatewayLinkInfo,
  KernelChange,
  NetworkPolicyState,
  NetworkSpec,
  OverlayInfo,
  OverlayTables,
  ReconcileResult,
  RemoteEndpoint,
  RemotesDelta,
} from '../dataplane/dataplane.js';
import type { DnsCounters, DnsNetwork } from '../dns/dns-service.js';
import type { EgressResult } from '../egress/egress.js';
import type { EgressNetwork, GuardedNetwork, VxlanGuard } from '../egress/rules.js';
import type { BlockConflict } from '../ipam/claim-rule.js';
import type { AddressStore } from '../ipam/store-ipam.js';
import type { AddressHolder } from '../store/etcd-store.js';
import type {
  ClusterEvents,
  EndpointEntry,
  IpamBlockEntry,
  MemberView,
  TableEntry,
  ViewVersions,
} from '../discovery/views.js';

export type * from '../discovery/views.js';

/** What the agent reads of the replicated table and the membership. Views must not be mutated. */
export interface ClusterReader {
  readonly peerId: string;
  /** The first anti-entropy exchange has completed (or there was nobody to join). */
  readonly synced: boolean;
  /** Change counters of the views below: equal counters, equal contents. */
  versions(): ViewVersions;
  networkRecords(): Array<TableEntry<NetworkValue>>;
  endpointRecords(): Array<TableEntry<EndpointValue>>;
  /** Endpoint records with whether their owner is live and whether they are this host's. */
  endpoints(): EndpointEntry[];
  ipamBlocks(): IpamBlockEntry[];
  members(): MemberView[];
  member(peerId: string): MemberView | undefined;
  /**
   * Whether this host holds a network's endpoint records and claims (it has endpoints in it), and the
   * members that say they do. Absent: a node that holds everything.
   */
  networkScope?(network: string): { held: boolean; members: string[]; unscoped: string[] };
  /** Connections of networks and policy rules (absent: a node without them, none). */
  policyRecords?(): PolicyRecords;
}

/** What the agent writes into the replicated table: its own records only. */
export interface ClusterWriter {
  putNetwork(v: NetworkValue): Promise<unknown>;
  deleteNetwork(name: string): Promise<unknown>;
  putEndpoint(v: EndpointValue): Promise<unknown>;
  deleteEndpoint(network: string, id: string): Promise<unknown>;
  putIpamBlock(v: IpamBlockValue): Promise<unknown>;
  deleteIpamBlock(network: string, block: string): Promise<unknown>;
  /** Writes (or with null deletes, by key) a connection or a policy rule: shared records. */
  putPolicyRecord?(
    kind: 'connection' | 'policy',
    v: ConnectionValue | PolicyValue | null,
    key?: string,
  ): Promise<unknown>;
  /**
   * Takes an interest in a network before an address is chosen or an endpoint attached in it: the
   * cluster node holds only the records of networks this host has endpoints in, and fetches a
   * network's records the first time (discovery/scope.ts). Absent: a node that holds everything.
   */
  interest?(network: string): Promise<void>;
}

/** Questions to other members and answers to theirs (discovery/queries.ts). */
export interface ClusterQueries {
  answer(q: string, handler: (from: string) => Promise<unknown>): void;
  ask(peerId: string, q: string, timeoutMs: number): Promise<unknown>;
}

/** The replicated table and membership as the agent sees them. */
export interface ClusterView extends ClusterReader, ClusterWriter {
  on<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): unknown;
  /** Absent in fakes that have no peers to ask. */
  readonly queries?: ClusterQueries;
}

/** The cluster node: the view plus its life cycle and counters. */
export interface ClusterNode extends ClusterView {
  start(): Promise<void>;
  stop(): Promise<void>;
  listenAddrs(): string[];
  readonly stats: object;
}

/** The kernel side the agent drives (dataplane/): overlays, veths, and the fdb/neighbour reconcile. */
export interface OverlayDriver {
  ensureNetwork(spec: NetworkSpec): Promise<OverlayInfo>;
  removeNetwork(vni: number): Promise<boolean>;
  /** Removes the overlays of VNIs not in `wanted`; returns those removed. */
  removeStale(wanted: Iterable<number>): Promise<number[]>;
  attach(spec: AttachSpec): Promise<AttachResult>;
  detach(vni: number, mac: string): Promise<boolean>;
  reconcile(vni: number, remotes: RemoteEndpoint[], opts?: { allowDelete?: boolean }): Promise<ReconcileResult>;
  /** Writes only a difference (diffRemotes) from what the last clean reconcile wrote; reads nothing. */
  reconcileDelta?(vni: number, delta: RemotesDelta, opts?: { allowDelete?: boolean }): Promise<ReconcileResult>;
  dump(vni: number): Promise<OverlayTables>;
  /** The largest overlay MTU this host's underlay allows (an encrypted network's: inside WireGuard). */
  maxMtu(encrypted?: boolean): Promise<number>;
  /** The underlay device and its MTU (for `vxmesh status`). */
  underlay?(): Promise<{ name: string; mtu: number }>;
  overlayNetnsPath(vni: number): string;
  /** A container's interface as its namespace has it now (CNI CHECK). */
  containerInterface?(netns: string, ifname: string): Promise<ContainerInterface | undefined>;
  /** Built or repaired when `enabled`, removed when not; undefined: none. */
  ensureGatewayLink(vni: number, enabled: boolean, hostRoute?: boolean): Promise<GatewayLinkInfo | undefined>;
  /** Kernel notifications of the overlay namespaces (absent: drift is found by the periodic run only). */
  watchKernel?(onChange: (c: KernelChange) => void, onError: (vni: number, err: Error) => void): void;
  /** Whether a namespace (name or path) exists (absent: not checked before an attach). */
  netnsExists?(nameOrPath: string): boolean;
  /** An overlay's links to connected networks' overlays and its policy filter (`verify`: read the kernel back). */
  ensureNetworkPolicy?(vni: number, want: NetworkPolicyState, verify?: boolean, dryRun?: boolean): Promise<number>;
  /** A container's routes through its network's gateways on `ifname` made exactly `want` (none if its default route goes there). */
  ensureContainerRoutes?(
    netns: string,
    ifname: string,
    gateways: string[],
    want: Array<{ dst: string; len: number; via: string }>,
    mac?: string,
  ): Promise<number | undefined>;
}

/** The packet filter of egress and published ports (egress/egress.ts), and the host-port check. */
export interface EgressPort {
  /** `guarded`: networks whose overlay namespace holds a DNS server here (its kernel guard). */
  /** `vxlan`: which VXLAN frames the host accepts on its data port (members' VTEPs; plain networks' VNIs). */
  reconcile(networks: EgressNetwork[], guarded: GuardedNetwork[], vxlan?: VxlanGuard): Promise<EgressResult>;
  /** Rule changes a reconcile would make now for this network (empty: the kernel matches). */
  drift(networks: EgressNetwork[], vni: number, guarded: GuardedNetwork[]): Promise<string[]>;
  readonly counters: { runs: number; changes: number; errors: number; filterEvents?: number };
  /** Reports packet-filter changes where it writes, from now on; false: it cannot here (legacy iptables). */
  watchChanges?(onChange: () => void): Promise<boolean>;
  stopWatching?(): void;
  /** Plain networks' VXLAN dropped because it came from no member's VTEP. */
  vxlanDrops?(): Promise<number>;
  /** Whether nothing on this host uses the port (a trial bind). */
  hostPortFree(protocol: PortProtocol, port: number): Promise<boolean>;
}

/** A WireGuard peer as the agent wants it: its pre-shared key named by the id of the cluster key it derives from. */
export type WantedPeer = Omit<WireguardPeer, 'psk'> & { pskId?: string };

/** The host's WireGuard interface (dataplane/wireguard.ts): built or repaired with exactly these peers. */
export interface WireguardPort {
  /** Throws what stops it (a missing package is named). */
  ensure(
    peers: WantedPeer[],
    opts: { removeOthers: boolean },
  ): Promise<{ created?: 'kernel' | 'userspace'; changes: string[][] }>;
  /** The interface's peers now (undefined: no interface). */
  show(): Promise<WireguardPeerState[] | undefined>;
  /** Encrypted-network VXLAN dropped because it did not arrive through WireGuard. */
  cleartextDrops?(): Promise<number>;
}

/** The DNS side the agent drives (dns/): servers per network, and the resolver files of namespaces. */
export interface DnsPort {
  ensure(networks: DnsNetwork[]): Promise<void>;
  readonly counters: DnsCounters;
  /** Writes /etc/netns/NETNS/resolv.conf; false when the namespace is not a named one. */
  writeResolvConf(netns: string, server: string, network: string): boolean;
  removeResolvConf(netns: string): void;
}

/** Whether a VTEP answers on the underlay (the dead-agent hold asks it). */
export type VtepProbe = (vtep: string) => Promise<boolean>;

/** Where the agent gets addresses: the block IPAM over the table, or the store's (ipam/). */
export interface AddressAllocator {
  /** A free address of the network for this host (held as pending until `settle`). */
  allocate(net: NetworkValue): Promise<string>;
  /** The network was created on this host: get ready to give its first address without waiting. */
  prepare(net: NetworkValue): Promise<void>;
  /** Refuses an address another endpoint holds (and, with a store, reserves it for this host). */
  reserveExplicit(net: NetworkValue, ip: string, reservedHere?: boolean): Promise<void>;
  /** The endpoint record of an allocated address exists now (or the attach failed). */
  settle(network: string, ip: string): void;
  /** The local endpoint holding the address is gone. */
  returnAddress(network: string, ip: string): Promise<void>;
  /** Standing allocation conflicts of a network (for `network inspect`). */
  conflicts(network: string): BlockConflict[];
  /** This host's claims, for the state directory. */
  ownClaims(): Array<{ network: string; block: string }>;
}

/** The store's part in network definitions: compare-and-swap create, remove. */
export interface NetworkStore {
  createNetwork(v: NetworkValue): Promise<{ network: NetworkValue; created: boolean }>;
  removeNetwork(name: string): Promise<unknown>;
}

/** The store's definitions and allocations, read by the store mirror. */
export interface DefinitionStore {
  networks(): Promise<NetworkValue[]>;
  /** Calls `onChange` on every change of a definition; resolves to a stop function. */
  watchNetworks(onChange: () => void): Promise<() => Promise<void>>;
  /** Who holds each address of a network. */
  allocations(network: string): Promise<Map<string, AddressHolder>>;
}

/** The optional consistent store (store/etcd-store.ts), as far as the agent uses it. */
export interface AgentStore extends NetworkStore, DefinitionStore, AddressStore {
  readonly endpoints: string[];
  close(): void;
}
