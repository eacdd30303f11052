/**
 * Whose endpoints belong in the kernel: a pure function of the membership and the VTEP watch.
 *
 *   live           alive, or suspect with a VTEP not known to be silent
 *   withdrawn      suspect and its VTEP silent: the host is gone
 *   held           dead or gone, VTEP answering, within the hold time
 *   suspended      dead or gone otherwise, or replaced: a live member now has its VTEP
 *   vtep-conflict  live, but another live member has the same VTEP and precedence: the one this host
 *                  saw with it first (vtepOrder; ties, by peer id). Refused until that one is dead. Not
 *                  the incarnation, which a newcomer chooses: a new identity announcing a live host's
 *                  VTEP at incarnation 1 is the one refused.
 */
import type { MemberView } from './ports.js';

export type OwnerStatus = 'live' | 'withdrawn' | 'held' | 'suspended' | 'vtep-conflict';

export interface VtepWatchView {
  isHeld(peerId: string): boolean;
  isSilent(peerId: string): boolean;
}

const isUp = (m: MemberView) => m.state === 'alive' || m.state === 'suspect';

export function ownerStatuses(members: MemberView[], watch: VtepWatchView): Map<string, OwnerStatus> {
  const holderOf = new Map<string, MemberView>();
  for (const m of members.filter(isUp)) {
    const h = holderOf.get(m.vtep);
    if (!h || m.vtepOrder < h.vtepOrder || (m.vtepOrder === h.vtepOrder && m.peerId < h.peerId))
      holderOf.set(m.vtep, m);
  }
  const out = new Map<string, OwnerStatus>();
  for (const m of members) {
    if (isUp(m)) {
      if (holderOf.get(m.vtep) !== m) out.set(m.peerId, 'vtep-conflict');
      else out.set(m.peerId, m.state === 'suspect' && watch.isSilent(m.peerId) ? 'withdrawn' : 'live');
    } else {
      out.set(m.peerId, !holderOf.has(m.vtep) && watch.isHeld(m.peerId) ? 'held' : 'suspended');
    }
  }
  return out;
}

/** Endpoints of these owners are programmed. */
export const isProgrammed = (s: OwnerStatus | undefined): boolean => s === 'live' || s === 'held';

/** Members as `vxmesh peers` lists them, with their status as owners of endpoints. */
export function peerRows(members: MemberView[], owners: Map<string, OwnerStatus>) {
  return members.map((m) => ({
    ...m,
    lastAck: m.lastAck ? new Date(m.lastAck).toISOString() : null,
    since: new Date(m.since).toISOString(),
    dataplaneHeld: !m.self && owners.get(m.peerId) === 'held',
    dataplane: m.self ? 'self' : (owners.get(m.peerId) ?? 'suspended'),
  }));
}
