/**
 * The claim rule every host applies to the same table: among claims of one block the smaller
 * (Lamport time, owner) wins; an address belongs to the owner of the most specific winning claim
 * containing it (a borrowed or explicit /32 inside another host's block belongs to the borrower).
 */
import { addressToBigInt, familyOf, parsePrefix, type Family, type Prefix } from '../core/prefix.js';

/** Whether the address (as a number, of `family`) lies in the prefix: one conversion per lookup. */
const holds = (p: Prefix, family: Family, n: bigint): boolean =>
  p.family === family && n >> BigInt(p.bits - p.prefix) === p.first >> BigInt(p.bits - p.prefix);

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
type IndexedClaim = { owner: string; prefix: Prefix };

function indexed(c: BlockClaim): IndexedClaim | undefined {
  try {
    return { owner: c.owner, prefix: parsePrefix(c.block, 'block', true) };
  } catch {
    return undefined; // a malformed claim claims nothing
  }
}

export class ClaimIndex {
  private readonly byNetwork = new Map<string, IndexedClaim[]>();
  /** Every claim, winning or not, by network and owner. */
  private readonly everyClaim = new Map<string, IndexedClaim[]>();

  constructor(claims: Iterable<BlockClaim>) {
    const all = [...claims];
    for (const network of new Set(all.map((c) => c.network))) {
      const list: IndexedClaim[] = [];
      for (const c of winningClaims(all, network).values()) {
        const i = indexed(c);
        if (i) list.push(i);
      }
      this.byNetwork.set(network, list);
    }
    for (const c of all) {
      const i = indexed(c);
      if (!i) continue;
      const k = `${c.network}\u0000${c.owner}`;
      const list = this.everyClaim.get(k);
      if (list) list.push(i);
      else this.everyClaim.set(k, [i]);
    }
  }

  /** Whether `owner` has any claim (winning or not) containing `ip`. */
  hasClaim(network: string, ip: string, owner: string): boolean {
    const family = familyOf(ip);
    if (family === undefined) return false;
    const n = addressToBigInt(ip);
    return (this.everyClaim.get(`${network}\u0000${owner}`) ?? []).some((c) => holds(c.prefix, family, n));
  }

  /** The owner of the most specific winning claim containing `ip`, or undefined. */
  claimant(network: string, ip: string): string | undefined {
    const family = familyOf(ip);
    if (family === undefined) return undefined;
    const n = addressToBigInt(ip);
    let best: IndexedClaim | undefined;
    for (const c of this.byNetwork.get(network) ?? []) {
      if (!holds(c.prefix, family, n)) continue;
      if (!best || c.prefix.prefix > best.prefix.prefix) best = c;
    }
    return best?.owner;
  }
}

/** The owner of the address `ip` of `network` under the claim rule, or undefined if nobody claims it. */
export function claimantOf(claims: Iterable<BlockClaim>, network: string, ip: string): string | undefined {
  return new ClaimIndex([...claims].filter((c) => c.network === network)).claimant(network, ip);
}
