/**
 * IPAM through the optional etcd store: every address is created in the store only if absent
 * (compare-and-swap), so allocations are conflict-free without settle periods or blocks. The same
 * checks as the block IPAM apply first (subnet, gateway, endpoint records of the cluster).
 */
import type { NetworkValue } from '../core/records.js';
import { KeyedQueue } from '../core/keyed-queue.js';
import type { BlockConflict } from './claim-rule.js';
import { checkExplicitAddress, type EndpointUse } from './explicit-address.js';
import { PendingAddresses } from './pending-addresses.js';

/** The store's address operations (compare-and-swap create, reserve, release); the etcd store has them. */
export interface AddressStore {
  allocate(net: NetworkValue, host: string, exclude?: Iterable<string>, peer?: string): Promise<string>;
  reserve(network: string, ip: string, host: string, peer?: string): Promise<void>;
  release(network: string, ip: string, host: string, peer?: string): Promise<boolean>;
}

export class StoreIpam {
  /** Addresses handed out but not yet visible as endpoint records. */
  private readonly pending = new PendingAddresses();
  private readonly queue = new KeyedQueue<string>();

  constructor(
    private readonly store: AddressStore,
    /** This host's name: the holder recorded in the store. */
    private readonly host: string,
    private readonly endpointsUsing: (network: string) => EndpointUse[],
    /** This host's peer id, recorded beside its name: what other hosts check endpoint records against. */
    private readonly peer?: string,
  ) {}

  /** Nothing to prepare: the store gives an address at once (compare-and-swap, no settle period). */
  async prepare(_net: NetworkValue): Promise<void> {}

  allocate(net: NetworkValue): Promise<string> {
    // One allocation per network at a time on this host; other hosts race through the store.
    return this.queue.run(net.name, () => this.allocateLocked(net));
  }

  private async allocateLocked(net: NetworkValue): Promise<string> {
    // Endpoint records made before the store was used still hold their addresses.
    const inUse = [...this.endpointsUsing(net.name).map((e) => e.ip), ...this.pending.of(net.name)];
    const ip = await this.store.allocate(net, this.host, inUse, this.peer);
    this.pending.add(net.name, ip);
    return ip;
  }

  async reserveExplicit(net: NetworkValue, ip: string, reservedHere = false): Promise<void> {
    checkExplicitAddress(net, ip, this.endpointsUsing(net.name), this.pending, reservedHere);
    await this.store.reserve(net.name, ip, this.host, this.peer);
  }

  settle(network: string, ip: string): void {
    this.pending.delete(network, ip);
  }

  async returnAddress(network: string, ip: string): Promise<void> {
    if (this.pending.has(network, ip)) return;
    await this.store.release(network, ip, this.host, this.peer);
  }

  conflicts(): BlockConflict[] {
    return []; // the store never lets two hosts hold one address
  }

  ownClaims(): Array<{ network: string; block: string }> {
    return [];
  }
}
