/**
 * The narrow interfaces the agent's parts are given. The daemon wires the real ones (discovery, the
 * data plane, IPAM); unit tests give in-memory fakes (test/fixtures/agent-fakes.ts).
 */
import type { Dataplane } from '../dataplane/dataplane.js';
import type { Egress } from '../egress/egress.js';
import type { PortProtocol } from '../core/port-mappings.js';
import type { ClusterEvents, EndpointEntry, IpamBlockEntry, MemberView, TableEntry } from '../discovery/views.js';
import type { EndpointValue, IpamBlockValue, NetworkValue } from '../core/records.js';

export type { ClusterEvents, EndpointEntry, IpamBlockEntry, MemberView, TableEntry } from '../discovery/views.js';

/** What the agent reads from and writes to the replicated table and membership. */
export interface ClusterView {
  readonly peerId: string;
  /** The first anti-entropy exchange has completed (or there was nobody to join). */
  readonly synced: boolean;
  networkRecords(): Array<TableEntry<NetworkValue>>;
  endpointRecords(): Array<TableEntry<EndpointValue>>;
  endpoints(): EndpointEntry[];
  ipamBlocks(): IpamBlockEntry[];
  members(): MemberView[];
  member(peerId: string): MemberView | undefined;
  isLive(peerId: string): boolean;
  putNetwork(v: NetworkValue): Promise<unknown>;
  deleteNetwork(name: string): Promise<unknown>;
  putEndpoint(v: EndpointValue): Promise<unknown>;
  deleteEndpoint(network: string, id: string): Promise<unknown>;
  putIpamBlock(v: IpamBlockValue): Promise<unknown>;
  deleteIpamBlock(network: string, block: string): Promise<unknown>;
  on<E extends keyof ClusterEvents>(event: E, listener: (...args: ClusterEvents[E]) => void): unknown;
  /** Questions to other members (absent in fakes that have no peers to ask). */
  readonly queries?: {
    answer(q: string, handler: (from: string) => Promise<unknown>): void;
    ask(peerId: string, q: string, timeoutMs: number): Promise<unknown>;
  };
}

/** The kernel side the agent drives: overlays, veths, and the fdb/neighbour reconcile. */
export type OverlayDriver = Pick<
  Dataplane,
  | 'ensureNetwork'
  | 'attach'
  | 'detach'
  | 'removeNetwork'
  | 'removeStale'
  | 'reconcile'
  | 'dump'
  | 'maxMtu'
  | 'overlayNetnsPath'
  | 'ensureGatewayLink'
> &
  /** Kernel notifications of the overlay namespaces (absent: drift is found by the periodic run only), and the namespace check. */
  Partial<Pick<Dataplane, 'watchKernel' | 'netnsExists'>>;

/** The packet filter of egress and published ports (egress/egress.ts), and the host-port check. */
export interface EgressPort {
  reconcile: Egress['reconcile'];
  drift: Egress['drift'];
  readonly counters: Egress['counters'];
  /** Whether nothing on this host uses the port (a trial bind). */
  hostPortFree(protocol: PortProtocol, port: number): Promise<boolean>;
}

/** Whether a VTEP answers on the underlay (the dead-agent hold asks it). */
export type VtepProbe = (vtep: string) => Promise<boolean>;
