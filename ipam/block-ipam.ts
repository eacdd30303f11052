/**
 * Cluster-wide IP address management without a central store.
 *
 * A network's subnet is cut into blocks (/28, or the whole subnet if it is smaller). A host claims a
 * block by writing an `ipam-block` record (owned by it) and allocates only from blocks whose claim
 * has stood uncontested for a settle period. Two claims on one block are resolved the same way on
 * every host: the claim with the smaller (Lamport time, owner) wins; the loser withdraws its claim and
 * picks another block. Every endpoint record of the network (any host) marks its address as used, so
 * explicit addresses are checked against the whole cluster.
 *
 * When every block is claimed, a host borrows single addresses: it claims `ip/32` inside another
 * host's block (one of its highest free addresses, far from the owner's lowest-first allocation), waits the
 * settle period, and uses it only if its /32 claim won and no endpoint took the address meanwhile.
 * Block owners skip addresses that others borrowed. A borrowed address is returned (its /32 claim
 * withdrawn) when its endpoint goes. So a network's addresses are usable by any host, even when there
 * are more hosts than blocks.
 */
import { ValidationError, VxmeshError } from '../core/errors.js';
import { randomBytes } from 'node:crypto';
import { ipv4ToString, parseCidr, parseIPv4 } from '../core/addresses.js';
import { addressAt, bigIntToAddress, familyOf, parsePrefix, prefixHas, prefixSize } from '../core/prefix.js';
import { KeyedQueue } from '../core/keyed-queue.js';
import type { NetworkValue } from '../core/records.js';
import { allocatable } from '../core/address-range.js';
import { claimantOf, rankLess, winningClaims, type BlockClaim, type BlockConflict } from './claim-rule.js';
import { checkExplicitAddress, type EndpointUse } from './explicit-address.js';
import { PendingAddresses } from './pending-addresses.js';
import { monotonicMs } from '../core/clock.js';

export type { BlockClaim, BlockConflict } from './claim-rule.js';
export type { EndpointUse } from './explicit-address.js';

export const BLOCK_PREFIX = 28;
export const BLOCK_PREFIX6 = 112;
const BLOCK_LIST6 = 256n;
const BLOCK_SAMPLE6 = 16;
/** A borrower picks at random among this many of the highest free addresses of each block. */
const BORROW_CHOICES = 4;

/** What IPAM needs from discovery (kept narrow, so it can be tested with plain data). */
export interface IpamSource {
  self: string;
  claims(): BlockClaim[];
  endpointsUsing(network: string): EndpointUse[];
  claim(network: string, block: string): Promise<void>;
  release(network: string, block: string): Promise<void>;
  /** A member's name for messages (its peer id if unknown). */
  nameOf?(peerId: string): string;
}

export function blocksOf(subnet: string): string[] {
  const c = parseCidr(subnet);
  const size = Math.max(c.prefix, BLOCK_PREFIX);
  const base = parseIPv4(c.network);
  const count = 2 ** (size - c.prefix);
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(`${ipv4ToString((base + i * 2 ** (32 - size)) >>> 0)}/${size}`);
  return out;
}

/**
 * The blocks a host may claim in a network: IPv4, every /28 of the subnet; IPv6, /112 blocks (65,536
 * addresses, one is enough for a host) of the range IPAM hands out from, every one when there are at
 * most BLOCK_LIST6 of them, else BLOCK_SAMPLE6 drawn at random (a /64 holds 2^48: never listed).
 */
function candidateBlocks(net: NetworkValue): string[] {
  const subnet = subnetOf(net);
  if (!subnet.includes(':')) return blocksOf(subnet);
  const range = parsePrefix(net.ipRange ?? subnet, 'ipRange', true);
  const size = Math.max(range.prefix, BLOCK_PREFIX6);
  const count = 1n << BigInt(size - range.prefix);
  const step = 1n << BigInt(128 - size);
  const block = (i: bigint) => `${bigIntToAddress(range.first + i * step, 6)}/${size}`;
  if (count <= BLOCK_LIST6) return Array.from({ length: Number(count) }, (_, i) => block(BigInt(i)));
  const picked = new Set<string>();
  while (picked.size < BLOCK_SAMPLE6) picked.add(block(BigInt(`0x${randomBytes(8).toString('hex')}`) % count));
  return [...picked];
}

/** The addresses of a block, lowest first (or highest first), one at a time: a block is never listed. */
function* addressesOf(block: string, highestFirst = false): Generator<string> {
  const p = parsePrefix(block, 'block', true);
  const n = prefixSize(p);
  for (let i = 0n; i < n; i++) yield addressAt(p, highestFirst ? n - 1n - i : i);
}

function someOf<T>(items: Iterable<T>, test: (x: T) => boolean): boolean {
  for (const x of items) if (test(x)) return true;
  return false;
}

/** The subnet IPAM allocates from (the IPv6 view's is its subnet6: records.ts ipv6View). */
function subnetOf(net: NetworkValue): string {
  if (net.subnet === undefined) throw new VxmeshError(`network ${net.name} has no subnet of that family`);
  return net.subnet;
}

const isSingle = (block: string): boolean => block.endsWith('/32') || block.endsWith('/128');
const singleOf = (ip: string): string => `${ip}/${ip.includes(':') ? 128 : 32}`;
const addressOf = (block: string): string => block.slice(0, block.indexOf('/'));
const contains = (cidr: string, ip: string): boolean => prefixHas(parsePrefix(cidr, 'block', true), ip);

export class Ipam {
  /** Local time at which we wrote each of our claims (network/block). */
  private readonly claimedAt = new Map<string, number>();
  private readonly queue = new KeyedQueue<string>();
  /** Addresses handed out but not yet visible as endpoint records. */
  private readonly pending = new PendingAddresses();

  constructor(
    private readonly src: IpamSource,
    private readonly settleMs: number,
    private readonly now: () => number = monotonicMs,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
    private readonly onConflict: (c: { network: string; block: string; winner: string }) => void = () => undefined,
  ) {}

  /** Marks claims restored from the state directory as settled long ago. */
  restoreClaim(network: string, block: string): void {
    this.claimedAt.set(`${network}/${block}`, 0);
  }

  /** The winning claim of each contested or claimed block of a network. */
  private winners(network: string): Map<string, BlockClaim> {
    return winningClaims(this.src.claims(), network);
  }

  conflicts(network: string): BlockConflict[] {
    const byBlock = new Map<string, BlockClaim[]>();
    for (const c of this.src.claims())
      if (c.network === network) byBlock.set(c.block, [...(byBlock.get(c.block) ?? []), c]);
    const out: BlockConflict[] = [];
    for (const [block, claims] of byBlock) {
      if (claims.length < 2) continue;
      const sorted = [...claims].sort((a, b) => (rankLess(a, b) ? -1 : 1));
      out.push({ block, winner: sorted[0]?.owner ?? '', losers: sorted.slice(1).map((c) => c.owner) });
    }
    return out;
  }

  /** Our blocks of a network that won and stood for the settle period. */
  settledBlocks(network: string): string[] {
    const out: string[] = [];
    for (const [block, c] of this.winners(network)) {
      if (c.owner !== this.src.self) continue;
      const at = this.claimedAt.get(`${network}/${block}`) ?? 0;
      if (this.now() - at >= this.settleMs) out.push(block);
    }
    return out.sort();
  }

  private used(net: NetworkValue): Set<string> {
    const c = parsePrefix(subnetOf(net));
    // The first address (IPv4's network address, IPv6's subnet-router anycast) and the last: never handed out.
    const used = new Set<string>([addressAt(c, 0n), addressAt(c, prefixSize(c) - 1n), ...this.pending.of(net.name)]);
    if (net.gateway) used.add(net.gateway);
    for (const e of this.src.endpointsUsing(net.name)) used.add(e.ip);
    // Addresses other hosts borrowed (a /32 claim inside someone's block).
    for (const b of this.src.claims())
      if (b.network === net.name && b.owner !== this.src.self && isSingle(b.block)) used.add(addressOf(b.block));
    return used;
  }

  /** Refuses an explicit address that another endpoint of the network holds anywhere in the cluster. */
  checkExplicit(net: NetworkValue, ip: string, reservedHere = false): void {
    checkExplicitAddress(net, ip, this.src.endpointsUsing(net.name), this.pending, reservedHere);
  }

  /**
   * An explicit address is claimed like a borrowed one before it is used: unless it already belongs to
   * this host (in its settled block, or its /32), a /32 claim is written and must stand for the settle
   * period. Two hosts asking for one address at once: the claim rule picks one, the other is refused
   * naming `ip`. `reservedHere`: claimed already by this host (Docker's RequestAddress, then CreateEndpoint).
   */
  async reserveExplicit(net: NetworkValue, ip: string, reservedHere = false): Promise<void> {
    this.checkExplicit(net, ip, reservedHere);
    if (reservedHere) return;
    await this.queue.run(net.name, async () => {
      this.checkExplicit(net, ip);
      const mine = claimantOf(this.src.claims(), net.name, ip) === this.src.self;
      if (
        mine &&
        (this.settledBlocks(net.name).some((b) => contains(b, ip)) || this.claimedAt.has(`${net.name}/${singleOf(ip)}`))
      ) {
        this.pending.add(net.name, ip);
        return;
      }
      const r = await this.claimSingle(net, ip);
      if (r !== 'won')
        throw new ValidationError(
          'ip',
          `${ip} was claimed at the same time by another host (${this.src.nameOf?.(r) ?? r}); choose another address`,
        );
    });
  }

  /**
   * Claims `ip/32` and waits the settle period: 'won' (the address is pending here) when the claim won
   * and no endpoint took the address meanwhile; else the claim is withdrawn and the other holder returned.
   */
  private async claimSingle(net: NetworkValue, ip: string): Promise<string> {
    const block = singleOf(ip);
    this.claimedAt.set(`${net.name}/${block}`, this.now());
    await this.src.claim(net.name, block);
    await this.sleep(this.settleMs);
    const winner = this.winners(net.name).get(block);
    const taken = this.src.endpointsUsing(net.name).find((e) => e.ip === ip);
    if (winner?.owner === this.src.self && !taken) {
      this.pending.add(net.name, ip);
      return 'won';
    }
    const other = winner?.owner !== this.src.self ? (winner?.owner ?? '?') : (taken?.host ?? '?');
    this.onConflict({ network: net.name, block, winner: other });
    this.claimedAt.delete(`${net.name}/${block}`);
    await this.src.release(net.name, block);
    return other;
  }

  /** Allocates a free address of the network for this host; claims (and waits for) a block if needed. */
  allocate(net: NetworkValue): Promise<string> {
    return this.queue.run(net.name, () => this.allocateLocked(net));
  }

  /**
   * The network was created on this host (admin API, or this host's Docker engine): claim a block
   * now, so that its settle period runs while the first container is being started and its first
   * address does not wait for it. Only the host that creates the network claims (not every host that
   * learns of it: a /24 has 16 blocks). Nothing when this host holds a block with a free address.
   * A claim that loses is withdrawn once the settle period is over.
   */
  prepare(net: NetworkValue): Promise<void> {
    return this.queue.run(net.name, async () => {
      if (this.firstFree(net) !== undefined || this.settling(net) !== undefined) return;
      const block = this.unclaimedBlock(net);
      if (block === undefined) return;
      this.claimedAt.set(`${net.name}/${block}`, this.now());
      await this.src.claim(net.name, block);
      void this.sleep(this.settleMs).then(() => this.queue.run(net.name, () => this.dropIfLost(net, block)));
    });
  }

  /** Our winning block of the network that is still settling and has a free address, with when we claimed it. */
  private settling(net: NetworkValue): { block: string; at: number } | undefined {
    const used = this.used(net);
    for (const [block, c] of this.winners(net.name)) {
      const at = this.claimedAt.get(`${net.name}/${block}`);
      if (c.owner !== this.src.self || at === undefined || this.now() - at >= this.settleMs) continue;
      if (someOf(addressesOf(block), (ip) => !used.has(ip) && allocatable(net)(ip))) return { block, at };
    }
    return undefined;
  }

  /** A block nobody claims, with a free address (a random one: concurrent claimers rarely collide). */
  private unclaimedBlock(net: NetworkValue): string | undefined {
    const claimed = this.winners(net.name);
    const used = this.used(net);
    const candidates = candidateBlocks(net).filter(
      (b) => !claimed.has(b) && someOf(addressesOf(b), (ip) => !used.has(ip) && allocatable(net)(ip)),
    );
    return candidates[Math.floor(Math.random() * candidates.length)];
  }

  /** After the settle period: a claim of ours that another host's claim beat is withdrawn. */
  private async dropIfLost(net: NetworkValue, block: string): Promise<void> {
    const winner = this.winners(net.name).get(block);
    if (winner?.owner === this.src.self || !this.claimedAt.has(`${net.name}/${block}`)) return;
    this.onConflict({ network: net.name, block, winner: winner?.owner ?? '?' });
    this.claimedAt.delete(`${net.name}/${block}`);
    await this.src.release(net.name, block);
  }

  /** Call once the endpoint record of an allocated address exists (or the attach failed). */
  settle(network: string, ip: string): void {
    this.pending.delete(network, ip);
  }

  private firstFree(net: NetworkValue): string | undefined {
    const used = this.used(net);
    for (const block of this.settledBlocks(net.name)) {
      for (const ip of addressesOf(block)) {
        if (!used.has(ip) && allocatable(net)(ip)) return ip;
      }
    }
    return undefined;
  }

  private async allocateLocked(net: NetworkValue): Promise<string> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const free = this.firstFree(net);
      if (free) {
        this.pending.add(net.name, free);
        return free;
      }
      // A block claimed ahead (prepare) and still settling: wait only for the rest of its settle period.
      const ahead = this.settling(net);
      if (ahead !== undefined) {
        await this.sleep(Math.max(0, ahead.at + this.settleMs - this.now()));
        await this.dropIfLost(net, ahead.block);
        continue;
      }
      const block = this.unclaimedBlock(net);
      if (block === undefined) {
        const borrowed = await this.borrow(net);
        if (borrowed === 'none')
          throw new VxmeshError(`network ${net.name} (${subnetOf(net)}) has no free address left`);
        if (borrowed !== 'lost') return borrowed;
        continue;
      }
      this.claimedAt.set(`${net.name}/${block}`, this.now());
      await this.src.claim(net.name, block);
      await this.sleep(this.settleMs);
      await this.dropIfLost(net, block);
    }
    throw new VxmeshError(`could not claim an address block of ${net.name} after 8 attempts (heavy contention)`);
  }

  /**
   * Every block is claimed: claim one free address of another host's block as `ip/32`. Returns the
   * address once the claim stood for the settle period, 'lost' when another host took it meanwhile
   * (the claim is withdrawn; try again), 'none' when the network has no free address at all.
   */
  private async borrow(net: NetworkValue): Promise<string | 'lost' | 'none'> {
    const used = this.used(net);
    // The few highest free addresses of each block: far from the owner's lowest-first allocation, and
    // enough choice that concurrent borrowers rarely pick the same one.
    const offers: string[] = [];
    for (const [block, c] of this.winners(net.name)) {
      if (
        c.owner === this.src.self ||
        isSingle(block) ||
        familyOf(addressOf(block)) !== familyOf(addressOf(subnetOf(net)))
      )
        continue;
      let taken = 0;
      for (const ip of addressesOf(block, true)) {
        if (taken === BORROW_CHOICES) break;
        if (used.has(ip) || !allocatable(net)(ip)) continue;
        offers.push(ip);
        taken++;
      }
    }
    if (offers.length === 0) return 'none';
    const ip = offers[Math.floor(Math.random() * offers.length)] as string;
    return (await this.claimSingle(net, ip)) === 'won' ? ip : 'lost';
  }

  /** The local endpoint holding `ip` is gone (and the address is not pending): a borrowed address
   * goes back to its block's owner. Addresses of our own blocks stay in them. */
  async returnAddress(network: string, ip: string): Promise<void> {
    if (this.pending.has(network, ip)) return;
    const block = singleOf(ip);
    if (!this.src.claims().some((c) => c.network === network && c.block === block && c.owner === this.src.self)) return;
    this.claimedAt.delete(`${network}/${block}`);
    await this.src.release(network, block);
  }

  /** Our claims, for the state directory. */
  ownClaims(): Array<{ network: string; block: string }> {
    return this.src
      .claims()
      .filter((c) => c.owner === this.src.self)
      .map((c) => ({ network: c.network, block: c.block }));
  }
}
