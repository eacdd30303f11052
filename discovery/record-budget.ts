/**
 * One record budget per owner, whatever path its records take: a member holding the cluster key that
 * writes records as fast as it can must not grow every other host's table (and the work each change
 * costs) at its pace. Gossip spends it per message (a batch over it is ignored, not forwarded);
 * anti-entropy spends it per record new to this host (a record over it is not merged now: the next
 * sync offers it again). Records this host already holds cost nothing, so an honest member's steady
 * state never meets the limit; our own first sync after a start is not limited (a joining host
 * needs the whole table once).
 */
import type { DiscoveryContext } from './context.js';
import { PublisherLimit, type LimitVerdict } from './publisher-limit.js';

export type BudgetPath = 'gossip' | 'sync';

/** A member refused over its budget within this long counts as flooding (periodic syncs avoid it). */
export const FLOODING_RECENT_MS = 60_000;

/** Owners counted one by one in the stats (the rest together). */
export const MAX_COUNTED_OWNERS = 1024;

export class RecordBudget {
  private readonly limit: PublisherLimit;

  constructor(private readonly ctx: Pick<DiscoveryContext, 'peerId' | 'stats' | 'timers' | 'log' | 'membership'>) {
    this.limit = new PublisherLimit(ctx.timers.floodRecordsPerSecond, ctx.timers.floodBurst);
  }

  /** Whether `records` new records of `owner` may be taken now; over the budget: counted, logged now and then. */
  take(owner: string, records: number, path: BudgetPath): boolean {
    if (owner === this.ctx.peerId || records === 0) return true;
    const v = this.limit.take(owner, records);
    if (v.ok) return true;
    this.counted(owner, records, path, v);
    return false;
  }

  /** Whether `records` records of `owner` would be taken now (nothing spent); if not, counted and logged as refused, as take() does. */
  affords(owner: string, records: number, path: BudgetPath): boolean {
    if (owner === this.ctx.peerId || records === 0 || this.limit.affords(owner, records)) return true;
    this.counted(owner, records, path, this.limit.refuse(owner, records));
    return false;
  }

  private counted(owner: string, records: number, path: BudgetPath, v: LimitVerdict): void {
    const stats = this.ctx.stats;
    // Bounded: owners beyond MAX_COUNTED_OWNERS are counted together (identities cost a key holder nothing).
    const key =
      owner in stats.rateLimited || Object.keys(stats.rateLimited).length < MAX_COUNTED_OWNERS ? owner : '(others)';
    stats.rateLimited[key] = (stats.rateLimited[key] ?? 0) + records;
    stats.rateLimitedByPath[path] += records;
    if (v.report) {
      const m = this.ctx.membership.get(owner);
      this.ctx.log.warn(
        {
          member: m?.name ?? owner,
          peerId: owner,
          refusedRecords: v.refusedSinceReport,
          path,
          limitPerSecond: this.ctx.timers.floodRecordsPerSecond,
          burst: this.ctx.timers.floodBurst,
        },
        'member writes records faster than the limit: ignoring the excess (anti-entropy delivers honest records later)',
      );
    }
  }

  /** Whether records of `owner` were refused over its budget within the last `ms`: a flooding member. */
  overRecently(owner: string, ms: number): boolean {
    return this.limit.refusedWithin(owner, ms);
  }

  /** Forgets idle owners' budgets (called by housekeeping). */
  prune(): void {
    this.limit.prune();
  }
}
