/**
 * The dead-agent hold: when a member's agent is dead or gone but its host's VTEP still answers, its
 * endpoints stay in the kernel (for `holdMs`), so an agent restart or crash never interrupts traffic.
 * The VTEP is re-checked while the member stays gone; a change of answer asks for a reconcile.
 */
import type { Logger } from '../core/logger.js';
import type { MemberView, VtepProbe } from './ports.js';

export interface HoldOptions {
  probe: VtepProbe;
  holdMs: number;
  /** The member's current VTEP (undefined once it is forgotten). */
  vtepOf(peerId: string): string | undefined;
  /** A member's hold started or ended. */
  onChange(): void;
  log: Logger;
  now?: () => number;
  recheckAliveMs?: number;
  recheckDeadMs?: number;
}

interface HoldCheck {
  alive: boolean;
  checkedAt: number;
  deadSince: number;
  checking: boolean;
}

export class DeadAgentHold {
  private readonly checks = new Map<string, HoldCheck>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: HoldOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts a check for every member that is newly dead or gone; ends it for members alive again. */
  onMembers(members: MemberView[]): void {
    for (const m of members) {
      const gone = m.state === 'dead' || m.state === 'left';
      const h = this.checks.get(m.peerId);
      if (!gone) {
        if (h) this.checks.delete(m.peerId);
        continue;
      }
      if (!h) {
        // Assume the data plane is up until the first check says otherwise (an agent restart must not flap).
        this.checks.set(m.peerId, { alive: true, checkedAt: 0, deadSince: this.now(), checking: false });
        void this.check(m.peerId, m.vtep);
      }
    }
  }

  isHeld(peerId: string): boolean {
    const h = this.checks.get(peerId);
    return !!h && h.alive && this.now() - h.deadSince < this.opts.holdMs;
  }

  /** One check now; it schedules the next while the member stays gone. */
  async check(peerId: string, vtep: string): Promise<void> {
    const h = this.checks.get(peerId);
    if (!h || h.checking || this.stopped) return;
    h.checking = true;
    const alive = await this.opts.probe(vtep).catch(() => false);
    h.checking = false;
    const was = h.alive;
    h.alive = alive;
    h.checkedAt = this.now();
    if (was !== alive) {
      this.opts.log.info({ peerId, vtep, dataplaneUp: alive }, alive ? 'agent gone but its host answers: keeping its endpoints' : 'host of a gone agent does not answer: withdrawing its endpoints');
      this.opts.onChange();
    }
    if (this.checks.get(peerId) === h && !this.stopped) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        const v = this.opts.vtepOf(peerId);
        if (v !== undefined) void this.check(peerId, v);
      }, alive ? (this.opts.recheckAliveMs ?? 2000) : (this.opts.recheckDeadMs ?? 5000));
      t.unref();
      this.timers.add(t);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
