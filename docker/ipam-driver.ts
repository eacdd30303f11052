/**
 * Docker's IPAM driver calls (RequestPool, RequestAddress, ReleaseAddress) against vxmesh's
 * cluster-wide IPAM, for IPv4 pools and, with `docker network create --ipv6`, IPv6 pools: a pool is
 * the subnet itself (its canonical text is the PoolID), an address comes from the vxmesh network
 * that has that subnet (its IPv6 view for an IPv6 pool, core/records.ts ipv6View).
 */
import { NotFoundError } from '../core/errors.js';
import { addressAt, parsePrefix, type Prefix } from '../core/prefix.js';
import { ipv6View, type NetworkValue } from '../core/records.js';
import type { Agent } from '../agent/agent.js';
import type { RequestAddressCall, RequestPoolCall } from './requests.js';

/** The part of the driver's state the IPAM calls keep (docker.json). */
export interface IpamState {
  /** Addresses handed out by RequestAddress and not released: pool → ips. */
  addresses: Record<string, string[]>;
  /** `--ip-range` of a pool (RequestPool's SubPool), until CreateNetwork puts it in the network. */
  ipRanges?: Record<string, string>;
}

/** A network's definition for the pool's family: the network itself for IPv4, its IPv6 view for IPv6. */
function forPool(n: NetworkValue, pool: Prefix): NetworkValue | undefined {
  return pool.family === 6 ? ipv6View(n) : n;
}

export class DockerIpam {
  constructor(
    private readonly agent: Agent,
    private readonly state: IpamState,
    private readonly save: () => void,
  ) {}

  requestPool(call: RequestPoolCall): unknown {
    const subnet = call.pool.text;
    if (call.subPool !== undefined) {
      // --ip-range: kept until CreateNetwork puts it into the (cluster-wide) network definition.
      this.state.ipRanges = { ...this.state.ipRanges, [subnet]: call.subPool };
      this.save();
    } else if (this.state.ipRanges?.[subnet] !== undefined) {
      // A pool requested again without a range (a network created anew): the old range does not apply.
      delete this.state.ipRanges[subnet];
      this.save();
    }
    return { PoolID: subnet, Pool: subnet, Data: {} };
  }

  async requestAddress(call: RequestAddressCall): Promise<unknown> {
    const { pool, address: requested } = call;
    const found = this.agent.networkBySubnet(pool.text);
    const n = found && forPool(found, pool);
    if (call.gateway) {
      const gw = requested ?? n?.gateway ?? addressAt(pool, 1n);
      return { Address: `${gw}/${pool.prefix}`, Data: {} };
    }
    if (requested && (!n || n.reserved?.includes(requested))) {
      // An --aux-address (Docker reserves them before CreateNetwork): CreateNetwork makes it reserved cluster-wide.
      return { Address: `${requested}/${pool.prefix}`, Data: {} };
    }
    if (!n) throw new NotFoundError('PoolID', `no single vxmesh network has the subnet ${pool.text}`);
    let ip: string;
    if (requested) {
      await this.agent.ipam.reserveExplicit(n, requested);
      ip = requested;
    } else ip = await this.agent.ipam.allocate(n);
    const list = (this.state.addresses[pool.text] ??= []);
    if (!list.includes(ip)) list.push(ip);
    this.save();
    return { Address: `${ip}/${pool.prefix}`, Data: {} };
  }

  async releaseAddress(call: { pool: { text: string }; address: string }): Promise<unknown> {
    const { pool, address: ip } = call;
    const list = this.state.addresses[pool.text] ?? [];
    this.state.addresses[pool.text] = list.filter((x) => x !== ip);
    const found = this.agent.networkBySubnet(pool.text);
    const n = found && forPool(found, parsePrefix(pool.text));
    if (n) this.agent.ipam.settle(n.name, ip);
    this.save();
    const inUse = (name: string) =>
      this.agent.localEndpoints().some((e) => e.network === name && (e.ip === ip || e.ip6 === ip));
    if (n && !n.reserved?.includes(ip) && !inUse(n.name)) await this.agent.returnAddress(n.name, ip);
    return {};
  }

  /** Whether Docker's IPAM handed this address out (RequestAddress) and has not released it. */
  holds(pool: string | undefined, ip: string | undefined): boolean {
    return pool !== undefined && ip !== undefined && (this.state.addresses[pool] ?? []).includes(ip);
  }
}
