/**
 * What this host owns, persisted in the state directory: its local endpoints, its IPAM block claims and
 * the addresses still to give back. Every change is saved at once (one atomic write).
 */
import type { PortMapping } from '../core/port-mappings.js';

export interface LocalEndpoint {
  id: string;
  network: string;
  vni: number;
  netns: string;
  ifname: string;
  mac: string;
  /** Its IPv4 address and prefix length (absent on an IPv6-only network). */
  ip?: string;
  prefix?: number;
  /** Its IPv6 address (canonical) and prefix length. */
  ip6?: string;
  prefix6?: number;
  createdAt: string;
  /** Host ports published to this endpoint (egress/rules.ts). */
  publish?: PortMapping[];
  /** DNS name and aliases (labels, lower case). */
  name?: string;
  aliases?: string[];
  /** Attached through CNI: the runtime's container id (with `ifname`, the attachment's key). */
  containerId?: string;
  /** The host routes the network's subnets through its gateway link while such an endpoint is here. */
  hostRoute?: boolean;
  /** Docker moves the container end here (its SandboxKey), renamed: found there by its MAC. */
  sandbox?: string;
}

export interface AddressToReturn {
  network: string;
  ip: string;
}

export interface AgentState {
  version: 1;
  endpoints: LocalEndpoint[];
  ipamBlocks: Array<{ network: string; block: string }>;
  /** Addresses of gone endpoints not yet given back (the store did not answer). */
  addressesToReturn?: AddressToReturn[];
}

export const EMPTY_AGENT_STATE = (): AgentState => ({ version: 1, endpoints: [], ipamBlocks: [] });

export interface StateSink {
  save(state: AgentState): void;
}

export class LocalState {
  endpoints: LocalEndpoint[];
  addressesToReturn: AddressToReturn[];
  /** The allocator's own block claims (set once the allocator exists). */
  ipamClaims: () => Array<{ network: string; block: string }>;

  constructor(
    private readonly sink: StateSink,
    initial: AgentState,
  ) {
    this.endpoints = [...initial.endpoints];
    this.addressesToReturn = [...(initial.addressesToReturn ?? [])];
    const blocks = initial.ipamBlocks;
    this.ipamClaims = () => blocks;
  }

  save(): void {
    this.sink.save({
      version: 1,
      endpoints: this.endpoints,
      ipamBlocks: this.ipamClaims(),
      addressesToReturn: this.addressesToReturn,
    });
  }

  /** VNIs with at least one local endpoint. */
  vnis(): number[] {
    return [...new Set(this.endpoints.map((e) => e.vni))];
  }

  inNetwork(network: string): LocalEndpoint[] {
    return this.endpoints.filter((e) => e.network === network);
  }
}
