/**
 * Membership statements as they arrive (gossip and anti-entropy), checked before the membership sees
 * them: a member's own statement (name, VTEP, addresses, incarnation, left) counts only with its
 * signature (member-statement.ts), or from the member itself (its gossip, which gossipsub signs; the
 * sync partner about itself); what others say without it is a suspect or dead statement at most. And
 * members new to this host are taken from one delivering peer at a bounded rate (NEWCOMERS_*): one
 * sync frame can no longer add 100,000 members that every host then probes and dials.
 *
 * Members of the previous release sign nothing: while they relay, an unsigned entry about a member
 * this host knows only unsigned (or not at all) is taken as they would take it, so a rolling upgrade
 * keeps working; a member that has signed is never changed by an unsigned entry.
 */
import { countDrop, type DiscoveryContext } from './context.js';
import { sameStatement, verifyStatement, type MemberStatement } from './member-statement.js';
import type { Member } from './membership.js';
import { PROTO_SIGNED_MEMBERS, WireError, type MemberInfo, type MemberState } from './wire.js';

/** New members one peer may introduce: a burst (a host joining a large cluster) and a rate after it. */
export const NEWCOMERS_BURST = 1024;
export const NEWCOMERS_PER_S = 16;

type Entry = MemberInfo & { state: MemberState };

export class MemberIntake {
  private readonly newcomerTokens = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly ctx: Pick<DiscoveryContext, 'peerId' | 'membership' | 'stats' | 'log'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** An `alive` the member published itself (gossipsub checked that the signer is the member). */
  alive(info: MemberInfo, via: string): void {
    const st = this.statementOf(info, 'member.signed');
    if (st === null) return;
    if (!this.admitNewcomer(info.peerId, via)) return;
    if (st?.left) this.ctx.membership.leave(st.peerId, st.incarnation, info.signed);
    else this.ctx.membership.alive(st ? withStatement(st, info) : info);
  }

  /** A `leave` the member published itself. */
  leave(peerId: string, incarnation: number, signed: MemberInfo['signed']): void {
    if (signed !== undefined) {
      const st = this.statementOf({ peerId, signed } as MemberInfo, 'signed');
      if (!st?.left) return;
      this.ctx.membership.leave(peerId, st.incarnation, signed);
      return;
    }
    this.ctx.membership.leave(peerId, incarnation);
  }

  /** The member entries of a sync frame from `via`. */
  learnFrom(via: string, entries: Entry[]): void {
    const { membership } = this.ctx;
    const legacyRelay = (membership.get(via)?.proto ?? 1) < PROTO_SIGNED_MEMBERS;
    for (const e of entries) {
      const known = membership.get(e.peerId);
      if (!known && !this.admitNewcomer(e.peerId, via)) continue;
      if (e.signed !== undefined) {
        const st = this.statementOf(e, `members[${e.peerId}].signed`);
        if (!st) continue;
        // The relay's word on the state: left only if the member said so, suspect/dead at its incarnation.
        const state: MemberState = st.left ? 'left' : e.state === 'left' ? 'alive' : e.state;
        membership.learn({ ...withStatement(st, e), state }, true);
      } else if (e.peerId === via || (legacyRelay && known?.signed === undefined)) {
        membership.learn(e, true);
      } else if (known) {
        membership.learn(e, false);
      } else countDrop(this.ctx, 'unsigned-member', `${e.peerId} from ${via}`);
    }
  }

  /**
   * The checked statement carried with `info` (undefined: none carried; null: refused, counted). A
   * statement identical to the one held for the member is not checked again.
   */
  private statementOf(info: MemberInfo, field: string): MemberStatement | undefined | null {
    if (info.signed === undefined) return undefined;
    const held = this.ctx.membership.get(info.peerId);
    try {
      if (held && sameStatement(held.signed, info.signed)) return { ...heldFields(held), left: held.state === 'left' };
      return verifyStatement(info.signed, info.peerId, field);
    } catch (e) {
      countDrop(this.ctx, e instanceof WireError ? 'bad-member-statement' : 'error', (e as Error).message);
      return null;
    }
  }

  /** Whether `via` may introduce one more member new to this host now (a token bucket per peer). */
  private admitNewcomer(peerId: string, via: string): boolean {
    if (this.ctx.membership.get(peerId) || peerId === this.ctx.peerId || peerId === via) return true;
    const now = this.now();
    const b = this.newcomerTokens.get(via) ?? { tokens: NEWCOMERS_BURST, at: now };
    b.tokens = Math.min(NEWCOMERS_BURST, b.tokens + ((now - b.at) / 1000) * NEWCOMERS_PER_S);
    b.at = now;
    if (this.newcomerTokens.size > 10_000) this.newcomerTokens.clear();
    this.newcomerTokens.set(via, b);
    if (b.tokens < 1) {
      countDrop(this.ctx, 'newcomer-budget', `${peerId} from ${via}`);
      return false;
    }
    b.tokens -= 1;
    return true;
  }
}

const heldFields = (m: Member): MemberInfo => {
  const out: MemberInfo = { peerId: m.peerId, name: m.name, vtep: m.vtep, addrs: m.addrs, incarnation: m.incarnation };
  if (m.proto !== undefined) out.proto = m.proto;
  if (m.wgKey !== undefined) out.wgKey = m.wgKey;
  if (m.tunnel !== undefined) out.tunnel = m.tunnel;
  if (m.clusterKeys !== undefined) out.clusterKeys = m.clusterKeys;
  if (m.version !== undefined) out.version = m.version;
  if (m.nets !== undefined) out.nets = m.nets;
  return out;
};

/** The member's own fields from its statement, the statement kept to relay. */
function withStatement(st: MemberStatement, carrier: MemberInfo): MemberInfo {
  const out: MemberInfo = {
    peerId: st.peerId,
    name: st.name,
    vtep: st.vtep,
    addrs: st.addrs,
    incarnation: st.incarnation,
  };
  if (st.proto !== undefined) out.proto = st.proto;
  if (st.wgKey !== undefined) out.wgKey = st.wgKey;
  if (st.tunnel !== undefined) out.tunnel = st.tunnel;
  if (st.clusterKeys !== undefined) out.clusterKeys = st.clusterKeys;
  if (st.version !== undefined) out.version = st.version;
  if (st.nets !== undefined) out.nets = st.nets;
  if (carrier.signed !== undefined) out.signed = carrier.signed;
  return out;
}
