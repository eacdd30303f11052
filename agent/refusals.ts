/**
 * Refused endpoint records as a set that changes: each refusal is logged and counted once, when it
 * appears (not on every reconcile), and its end is logged too. `vxmesh endpoints` and /metrics read
 * the current set.
 */
import type { Logger } from '../core/logger.js';
import type { Refusal, RefusalReason } from './claims.js';

const keyOf = (r: Pick<Refusal, 'network' | 'id' | 'owner'>) => `${r.owner}/${r.network}/${r.id}`;

export class RefusalLog {
  private active = new Map<string, Refusal>();
  /** Refusals seen since start (each counted once). */
  total = 0;

  constructor(
    private readonly log: Logger,
    private readonly nameOf: (peerId: string) => string,
  ) {}

  update(now: Refusal[]): void {
    const next = new Map(now.map((r) => [keyOf(r), r]));
    for (const [k, r] of next) {
      const before = this.active.get(k);
      if (before?.reason === r.reason) continue;
      this.total++;
      this.log.warn({ network: r.network, endpoint: r.id, owner: this.nameOf(r.owner), ip: r.ip, mac: r.mac, reason: r.reason }, 'endpoint refused: not programmed on this host');
    }
    for (const [k, r] of this.active) {
      if (!next.has(k)) this.log.info({ network: r.network, endpoint: r.id, owner: this.nameOf(r.owner), reason: r.reason }, 'endpoint no longer refused');
    }
    this.active = next;
  }

  reasonOf(r: Pick<Refusal, 'network' | 'id' | 'owner'>): RefusalReason | undefined {
    return this.active.get(keyOf(r))?.reason;
  }

  /** Current refusals by reason. */
  counts(): Map<RefusalReason, number> {
    const out = new Map<RefusalReason, number>();
    for (const r of this.active.values()) out.set(r.reason, (out.get(r.reason) ?? 0) + 1);
    return out;
  }
}
