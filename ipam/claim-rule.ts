/**
 * The claim rule every host applies to the same table: among claims of one block the smaller
 * (Lamport time, owner) wins; an address belongs to the owner of the most specific winning claim
 * containing it (a borrowed or explicit /32 inside another host's block belongs to the borrower).
 */
import { parseCidr, parseIPv4, prefixMask } from '../core/addresses.js';

export interface BlockClaim {
  network: string;
  block: string;
  owner: string;
  lamport: number;
}

/** A block claimed by more than one host: who keeps it, who lost it. */
export interface BlockConflict {
  block: string;
  winner: string;
  losers: string[];
}

export const rankLess = (a: { lamport: number; owner: string }, b: { lamport: number; owner: string }): boolean =>
  a.lamport < b.lamport || (a.lamport === b.lamport && a.owner < b.owner);

/** The winning claim of each claimed block of a network. */
export function winningClaims(claims: Iterable<BlockClaim>, network: string): Map<string, BlockClaim> {
  const best = new Map<string, BlockClaim>();
  for (const c of claims) {
    if (c.network !== network) continue;
    const b = best.get(c.block);
    if (!b || rankLess(c, b)) best.set(c.block, c);
  }
  return best;
}

/** The winning claims of every network, indexed for many lookups (one table, many endpoints). */
export class ClaimIndex {
  private readonly byNetwork = new Map<string, Array<{ owner: string; base: number; prefix: number }>>();

  constructor(claims: Iterable<BlockClaim>) {
    const all = [...claims];
    for (const network of new Set(all.map((c) => c.network))) {
      const list: Array<{ owner: string; base: number; prefix: number }> = [];
      for (const c of winningClaims(all, network).values()) {
        try {
          const cidr = parseCidr(c.block, 'block', 32);
          list.push({ owner: c.owner, base: parseIPv4(cidr.network), prefix: cidr.prefix });
        } catch {
          /* a malformed claim claims nothing */
        }
      }
      this.byNetwork.set(network, list);
    }
  }

  /** The owner of the most specific winning claim containing `ip`, or undefined. */
  claimant(network: string, ip: string): string | undefined {
    let addr: number;
    try {
      addr = parseIPv4(ip);
    } catch {
      return undefined;
    }
    let best: { owner: string; prefix: number } | undefined;
    for (const c of this.byNetwork.get(network) ?? []) {
      if ((addr & prefixMask(c.prefix)) >>> 0 !== c.base) continue;
      if (!best || c.prefix > best.prefix) best = c;
    }
    return best?.owner;
  }
}

/** The owner of the address `ip` of `network` under the claim rule, or undefined if nobody claims it. */
export function claimantOf(claims: Iterable<BlockClaim>, network: string, ip: string): string | undefined {
  return new ClaimIndex([...claims].filter((c) => c.network === network)).claimant(network, ip);
}
