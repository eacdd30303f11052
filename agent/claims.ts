/**
 * Which endpoint records may be programmed at all, whatever their owner announces: an address is
 * bound to a claim. Every host applies the same pure rule to the same table, so all agree.
 *
 * An endpoint of owner O is admitted only if
 *   - its VTEP is O's member VTEP (nobody points traffic for its endpoints at another host);
 *   - its IP lies in a claim of O (gossip mode): the most specific winning `ipam-block` claim (a block,
 *     or a /32 for a borrowed or explicit address) that contains the IP belongs to O, or O has another
 *     claim containing it; or the store does not give the address to another host (store mode, as
 *     last read);
 *   - its IP is not held by an endpoint of another owner: when endpoints of several owners, each inside
 *     a claim of its own, announce one address, the one this host's table holds first keeps it (the
 *     table keeps arrival order, across restarts through its snapshot). Not the claim's specificity or
 *     Lamport time, which a writer chooses: a key holder that claims `ip/32` (or the victim's block at
 *     Lamport 1) and announces a live endpoint's address is the one refused ('ip-in-use'). Honest hosts
 *     never get here but in the explicit-address race, which the borrower resolves by backing off;
 *   - its MAC is not held by an admitted endpoint of another owner. Between two owners announcing one
 *     MAC, the one whose MAC is derived from its own IP (vxmesh's and the Docker plugin's rule) keeps
 *     it; if that does not decide, the one the table holds first does.
 * Refused endpoints are reported with their reason (`vxmesh endpoints`, logs, metrics).
 */
import { macFromIp } from '../core/addresses.js';
import { ClaimIndex, type BlockClaim } from '../ipam/claim-rule.js';
import { endpointAddresses, primaryAddress, type EndpointValue } from '../core/records.js';
import type { TableEntry } from './ports.js';

/** Why an endpoint record is not programmed ('local-conflict': a local endpoint of this host has its IP or MAC). */
export type RefusalReason = 'vtep-not-owner' | 'ip-not-claimed' | 'ip-in-use' | 'mac-in-use' | 'local-conflict';

export interface Refusal {
  network: string;
  id: string;
  owner: string;
  ip: string;
  mac: string;
  reason: RefusalReason;
}

export interface ClaimInput {
  /** In the table's order (arrival order: the first holder of an address keeps it). */
  endpoints: Array<TableEntry<EndpointValue>>;
  /** Gossip mode: every ipam-block claim in the table. */
  claims: BlockClaim[];
  /** Each member's VTEP by peer id (members whose VTEP is unknown admit nothing). */
  vtepOf(owner: string): string | undefined;
  /** Store mode: whether the store holds the address for this owner; replaces the gossip claims. */
  storeHolds?: (network: string, ip: string, owner: string) => boolean;
  /** Remembered first-stage outcomes (VTEP, claim) per entry, valid for the claims, VTEPs and store read given here. */
  memo?: StageOneMemo;
  /** Remembered facts of each entry's own value (its address and MAC keys, whether its MAC is derived). */
  facts?: EntryFactsMemo;
}

/** What the second stage reads of an entry, a function of its value alone: kept as long as the entry. */
export interface EntryFacts {
  /** `network/address` of each of its addresses. */
  addressKeys: string[];
  /** `network/mac` (lower case). */
  macKey: string;
  /** Its MAC is the one derived from its IP (vxmesh's and the Docker plugin's rule). */
  derived: boolean;
}
export type EntryFactsMemo = WeakMap<TableEntry<EndpointValue>, EntryFacts>;

/** Per endpoint entry, its first-stage refusal or null (bound to a claim of its owner). */
export type StageOneMemo = WeakMap<TableEntry<EndpointValue>, Refusal | null>;

/** The entries admitted and no longer since the admission numbered `from` (admission-step.ts). */
export interface AdmissionStep {
  from: number;
  removed: Array<TableEntry<EndpointValue>>;
  added: Array<TableEntry<EndpointValue>>;
}

export interface Admission {
  admitted: Array<TableEntry<EndpointValue>>;
  refused: Refusal[];
  /** The refusal of an entry of this admission's list (undefined: admitted). */
  refusalOf: ReadonlyMap<TableEntry<EndpointValue>, Refusal>;
  /** Its number among one host's admissions (Admissions). */
  serial?: number;
  /** Set when it was taken from the admission numbered `step.from` by a few records (admission-step.ts). */
  step?: AdmissionStep;
}

const derived = (v: EndpointValue) => {
  try {
    return v.ip !== undefined && macFromIp(v.ip) === v.mac.toLowerCase();
  } catch {
    return false;
  }
};

/** Builds a refusal of `r` for `reason`. */
export const refusalFor = (r: TableEntry<EndpointValue>, reason: RefusalReason): Refusal => ({
  network: r.value.network,
  id: r.value.id,
  owner: r.owner,
  ip: primaryAddress(r.value),
  mac: r.value.mac,
  reason,
});

/** The first stage (VTEP, claim) of an entry: its refusal, or null when bound to a claim of its owner. Remembered in `input.memo`. */
export function stageOne(input: Omit<ClaimInput, 'endpoints'>): (r: TableEntry<EndpointValue>) => Refusal | null {
  let index: ClaimIndex | undefined;
  const claims = () => (index ??= new ClaimIndex(input.claims));
  const inClaimOf = (r: TableEntry<EndpointValue>, ip: string) =>
    claims().claimant(r.value.network, ip) === r.owner || claims().hasClaim(r.value.network, ip, r.owner);
  // Every address of the endpoint (IPv4 and IPv6) is bound to a claim of its owner.
  const claimed = (r: TableEntry<EndpointValue>) =>
    endpointAddresses(r.value).every((ip) =>
      input.storeHolds ? input.storeHolds(r.value.network, ip, r.owner) : inClaimOf(r, ip),
    );
  return (r) => {
    let verdict = input.memo?.get(r);
    if (verdict === undefined) {
      if (input.vtepOf(r.owner) !== r.value.vtep) verdict = refusalFor(r, 'vtep-not-owner');
      else if (!claimed(r)) verdict = refusalFor(r, 'ip-not-claimed');
      else verdict = null;
      input.memo?.set(r, verdict);
    }
    return verdict;
  };
}

/** What the second stage reads of an entry (remembered in `memo` while the entry lives). */
export function factsOf(r: TableEntry<EndpointValue>, memo?: EntryFactsMemo): EntryFacts {
  let f = memo?.get(r);
  if (!f) {
    f = {
      addressKeys: endpointAddresses(r.value).map((ip) => `${r.value.network}/${ip}`),
      macKey: `${r.value.network}/${r.value.mac.toLowerCase()}`,
      derived: derived(r.value),
    };
    memo?.set(r, f);
  }
  return f;
}

export function admitEndpoints(input: ClaimInput): Admission {
  const refused: Refusal[] = [];
  const refusalOf = new Map<TableEntry<EndpointValue>, Refusal>();
  const refuse = (r: TableEntry<EndpointValue>, verdict: Refusal) => {
    refused.push(verdict);
    refusalOf.set(r, verdict);
  };
  const firstStage = stageOne(input);
  // Bound entries whose MAC is derived, then the others, each in the table's order.
  const bound: Array<TableEntry<EndpointValue>> = [];
  const boundOther: Array<TableEntry<EndpointValue>> = [];
  const addressHolder = new Map<string, string>();
  for (const r of input.endpoints) {
    const verdict = firstStage(r);
    if (verdict) {
      refuse(r, verdict);
      continue;
    }
    // One owner per address: the first in the table's order.
    const facts = factsOf(r, input.facts);
    if (facts.addressKeys.some((a) => (addressHolder.get(a) ?? r.owner) !== r.owner))
      refuse(r, refusalFor(r, 'ip-in-use'));
    else {
      for (const a of facts.addressKeys) addressHolder.set(a, r.owner);
      (facts.derived ? bound : boundOther).push(r);
    }
  }
  // One MAC per network: the derived one first, then the table's order.
  const macOwner = new Map<string, string>();
  const admitted: Array<TableEntry<EndpointValue>> = [];
  for (const r of bound.concat(boundOther)) {
    const key = factsOf(r, input.facts).macKey;
    const holder = macOwner.get(key);
    if (holder !== undefined && holder !== r.owner) {
      refuse(r, refusalFor(r, 'mac-in-use'));
      continue;
    }
    macOwner.set(key, r.owner);
    admitted.push(r);
  }
  return { admitted, refused, refusalOf };
}
