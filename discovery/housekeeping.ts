/**
 * Housekeeping, once a minute or so: tombstones past their TTL expire; members dead or left for
 * `reapMs` are forgotten with their records (their endpoints and IPAM blocks), so a host that never
 * returns does not hold addresses forever; and records of owners that are no member at all (a
 * throwaway identity's, or one forgotten here while others still relayed its records) are dropped
 * after ORPHAN_GRACE_MS — once this host has synced (before that, nobody is known yet).
 */
import type { DiscoveryContext } from './context.js';
import type { RecordBudget } from './record-budget.js';
import { OWNER_BOUND } from '../core/records.js';

/** How long owner-bound records may stay without a member owning them. */
export const ORPHAN_GRACE_MS = 120_000;

export class Housekeeping {
  private readonly orphanSince = new Map<string, number>();

  constructor(
    private readonly ctx: Pick<DiscoveryContext, 'table' | 'membership' | 'timers' | 'log' | 'peerId'>,
    private readonly budget: Pick<RecordBudget, 'prune'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Returns whether the table changed. `synced`: a first anti-entropy exchange has completed. */
  run(synced: boolean): boolean {
    const { table, membership, timers, log } = this.ctx;
    this.budget.prune();
    let changed = table.expireTombstones(timers.tombstoneTtlMs, this.now()) > 0;
    for (const m of membership.reap(timers.reapMs)) {
      const n = table.dropOwner(m.peerId);
      log.info({ member: m.name, peerId: m.peerId, records: n }, 'forgot a member gone for good, with its records');
      changed = true;
    }
    if (synced) changed = this.dropOrphans() || changed;
    return changed;
  }

  private dropOrphans(): boolean {
    const { table, membership, log, peerId } = this.ctx;
    const now = this.now();
    const owners = new Set<string>();
    for (const r of table.all()) if (OWNER_BOUND.has(r.kind) && r.owner !== peerId) owners.add(r.owner);
    let changed = false;
    for (const owner of owners) {
      if (membership.get(owner)) {
        this.orphanSince.delete(owner);
        continue;
      }
      const since = this.orphanSince.get(owner);
      if (since === undefined) this.orphanSince.set(owner, now);
      else if (now - since >= ORPHAN_GRACE_MS) {
        const n = table.dropOwner(owner);
        this.orphanSince.delete(owner);
        log.info({ peerId: owner, records: n }, 'dropped the records of an owner that is no member');
        changed = true;
      }
    }
    for (const owner of this.orphanSince.keys()) if (!owners.has(owner)) this.orphanSince.delete(owner);
    return changed;
  }
}
