/**
 * The VTEP watch: for every member whose agent is suspect, dead or gone, is its host's VTEP still
 * answering? Checked from the moment a member becomes suspect, then re-checked while it stays so.
 *
 *   - suspect and its VTEP silent → withdrawn at once (a crashed host is gone before the membership
 *     declares it dead); suspect and answering, or not checked yet → kept (an agent stall is not a
 *     host failure).
 *   - dead or left and its VTEP answering → held for `holdMs` (an agent restart or crash never
 *     interrupts traffic); silent → withdrawn.
 * A change of answer asks for a reconcile.
 */
import type { Logger } from '../core/logger.js';
import type { MemberView, VtepProbe } from './ports.js';

export interface HoldOptions {
  probe: VtepProbe;
  holdMs: number;
  /** The member's current VTEP (undefined once it is forgotten). */
  vtepOf(peerId: string): string | undefined;
  /** A member's VTEP started or stopped answering. */
  onChange(): void;
  log: Logger;
  now?: () => number;
  /** Re-check period while the VTEP answers (suspect: fast, a crash may be under way; gone: slow), and while it is silent. */
  recheckSuspectMs?: number;
  recheckAliveMs?: number;
  recheckDeadMs?: number;
}

interface VtepCheck {
  /** undefined until the first check has answered. */
  answers: boolean | undefined;
  /** When the agent was declared dead or gone (undefined while only suspect). */
  goneSince: number | undefined;
  checking: boolean;
}

export class DeadAgentHold {
  private readonly checks = new Map<string, VtepCheck>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: HoldOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts a check for every member newly suspect, dead or gone; ends it for members alive again. */
  onMembers(members: MemberView[]): void {
    for (const m of members) {
      if (m.self) continue;
      const gone = m.state === 'dead' || m.state === 'left';
      const h = this.checks.get(m.peerId);
      if (m.state === 'alive') {
        if (h) this.checks.delete(m.peerId);
        continue;
      }
      if (!h) {
        this.checks.set(m.peerId, { answers: undefined, goneSince: gone ? this.now() : undefined, checking: false });
        void this.check(m.peerId, m.vtep);
      } else if (gone && h.goneSince === undefined) h.goneSince = this.now();
    }
  }

  /** A dead or gone agent whose host still answers, within the hold time. */
  isHeld(peerId: string): boolean {
    const h = this.checks.get(peerId);
    // Not checked yet: assume the data plane is up (an agent restart must not flap).
    return !!h && h.goneSince !== undefined && h.answers !== false && this.now() - h.goneSince < this.opts.holdMs;
  }

  /** A suspect member whose VTEP does not answer: its host is gone, withdraw before it is declared dead. */
  isSilent(peerId: string): boolean {
    return this.checks.get(peerId)?.answers === false;
  }

  /** One check now; it schedules the next while the member is not alive. */
  async check(peerId: string, vtep: string): Promise<void> {
    const h = this.checks.get(peerId);
    if (!h || h.checking || this.stopped) return;
    h.checking = true;
    const answers = await this.opts.probe(vtep).catch((e: unknown) => {
      this.opts.log.error({ vtep, err: String(e) }, 'VTEP probe failed');
      return false;
    });
    h.checking = false;
    const was = h.answers;
    h.answers = answers;
    if (was !== answers && (was !== undefined || !answers)) {
      this.opts.log.info(
        { peerId, vtep, dataplaneUp: answers },
        answers
          ? 'agent silent or gone but its host answers: keeping its endpoints'
          : 'host of a silent or gone agent does not answer: withdrawing its endpoints',
      );
      this.opts.onChange();
    }
    if (this.checks.get(peerId) === h && !this.stopped) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        const v = this.opts.vtepOf(peerId);
        if (v !== undefined) void this.check(peerId, v);
      }, this.recheckDelay(h));
      t.unref();
      this.timers.add(t);
    }
  }

  private recheckDelay(h: VtepCheck): number {
    if (!h.answers) return this.opts.recheckDeadMs ?? 1000;
    return h.goneSince === undefined ? (this.opts.recheckSuspectMs ?? 250) : (this.opts.recheckAliveMs ?? 2000);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
