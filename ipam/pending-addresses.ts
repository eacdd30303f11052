/**
 * Addresses this host has handed out whose endpoint record does not exist yet, per network: two
 * networks may share a subnet, so an address being handed out in one says nothing about the other.
 */
export class PendingAddresses {
  private readonly byNetwork = new Map<string, Set<string>>();

  add(network: string, ip: string): void {
    let set = this.byNetwork.get(network);
    if (!set) this.byNetwork.set(network, (set = new Set()));
    set.add(ip);
  }

  has(network: string, ip: string): boolean {
    return this.byNetwork.get(network)?.has(ip) ?? false;
  }

  delete(network: string, ip: string): void {
    const set = this.byNetwork.get(network);
    if (!set) return;
    set.delete(ip);
    if (set.size === 0) this.byNetwork.delete(network);
  }

  /** The pending addresses of one network. */
  of(network: string): ReadonlySet<string> {
    return this.byNetwork.get(network) ?? EMPTY;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
