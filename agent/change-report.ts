/**
 * Reports what changed in the derived state (derived-state.ts), where the change is detected: the
 * reconcile loop hands it every desired state it computes. New VTEP conflicts and name conflicts are
 * logged once, when they appear; refused endpoint records are counted and logged (refusals.ts).
 */
import type { Logger } from '../core/logger.js';
import type { DerivedState } from './derived-state.js';
import type { DesiredState } from './desired.js';
import { NameConflictLog } from './names.js';
import type { ClusterReader } from './ports.js';
import { RefusalLog } from './refusals.js';

export class ChangeReport {
  /** Refused endpoint records as last reported (metrics read its counts). */
  readonly refusals: RefusalLog;
  private readonly names: NameConflictLog;
  private vtepConflicts = new Set<string>();

  constructor(
    private readonly derived: DerivedState,
    private readonly cluster: Pick<ClusterReader, 'peerId' | 'member'>,
    private readonly log: Logger,
  ) {
    this.refusals = new RefusalLog(log, (p) => cluster.member(p)?.name ?? p);
    this.names = new NameConflictLog(log);
  }

  /** Everything the reconcile loop just computed `desired` from, compared with the last report. */
  report(desired: DesiredState): void {
    this.reportVtepConflicts();
    const { refused, local } = this.derived.refusals(desired);
    this.refusals.report(refused, local, this.cluster.peerId);
    this.names.update(this.derived.nameConflicts());
  }

  private reportVtepConflicts(): void {
    const now = new Set<string>();
    for (const [peerId, s] of this.derived.owners()) {
      if (s !== 'vtep-conflict') continue;
      now.add(peerId);
      if (this.vtepConflicts.has(peerId)) continue;
      const m = this.cluster.member(peerId);
      this.log.warn(
        { member: m?.name, peerId, vtep: m?.vtep },
        'member announces the VTEP of another live member: its endpoints are refused until that member is dead',
      );
    }
    this.vtepConflicts = now;
  }
}
