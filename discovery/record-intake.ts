/**
 * Incoming records (gossip and anti-entropy, already verified): records of networks this host holds
 * nothing of are not taken (interests.ts); network writes that would break
 * other hosts' endpoints are refused (network-guard.ts), the rest merged into the table; one of our
 * own records that comes back newer than ours (an earlier life wrote it) is written again.
 */
import type { NetworkValue, RecordKind, RecordValue } from '../core/records.js';
import { countDrop, type DiscoveryContext } from './context.js';
import { guardView, networkWriteRefusal, type NetworkGuardView, type NetworkRefusal } from './network-guard.js';
import type { EndpointEntry } from './views.js';
import type { WireRecord } from './wire.js';

export interface IntakeHooks {
  networks(): NetworkValue[];
  endpoints(): EndpointEntry[];
  /** An owner declared dead less than NETWORK_USER_GRACE_MS ago (still a user of its networks). */
  recentlyDead(owner: string): boolean;
  /** Members whose statements name a network among their interests (users of it: network-guard.ts). */
  interested(network: string): string[];
  /** Writes one of our records again (newer than the copy that came back). */
  writeOwn(kind: RecordKind, key: string, value: RecordValue | null): unknown;
  /** The table changed: `definitions` when a network record is among the records. */
  changed(definitions: boolean): void;
  /** A record that changed the table. */
  merged(r: WireRecord): void;
}

export class RecordIntake {
  private readonly refusedNetworkWrites = new Set<string>();

  constructor(
    private readonly ctx: Pick<DiscoveryContext, 'peerId' | 'table' | 'stats' | 'log' | 'membership' | 'interests'>,
    private readonly hooks: IntakeHooks,
  ) {}

  apply(records: WireRecord[]): void {
    const { table } = this.ctx;
    let changed = false;
    let view: NetworkGuardView | undefined;
    let outOfScope = 0;
    for (const r of records) {
      // Records of networks this host holds nothing of (an earlier release sends everything everywhere).
      if (!this.ctx.interests.wants(r, this.ctx.peerId)) {
        outOfScope++;
        continue;
      }
      // Only a write that would apply is checked: a stale copy is ignored by the merge anyway, not refused.
      if (r.kind === 'network' && r.owner !== this.ctx.peerId && table.isNewer(r)) {
        view ??= guardView(
          this.hooks.networks(),
          this.hooks.endpoints(),
          (o) => this.hooks.recentlyDead(o),
          (n) => this.hooks.interested(n),
        );
        const refusal = networkWriteRefusal(r, view);
        if (refusal) {
          this.refuseNetworkWrite(r, refusal);
          continue;
        }
        view = undefined; // the table changes: build it again for the next network record
      }
      const outcome = table.merge(r);
      if (outcome === 'reassert') this.reassert(r);
      else if (outcome !== 'stale') {
        changed = true;
        this.hooks.merged(r);
      }
    }
    if (outOfScope > 0)
      this.ctx.stats.dropped['out-of-scope'] = (this.ctx.stats.dropped['out-of-scope'] ?? 0) + outOfScope;
    // Definitions: network records, connections and rules (shared, cluster-wide; persisted soon).
    if (changed)
      this.hooks.changed(records.some((r) => r.kind === 'network' || r.kind === 'connection' || r.kind === 'policy'));
  }

  /** Counted and logged once per record version (anti-entropy offers it again until it may apply). */
  private refuseNetworkWrite(r: WireRecord, reason: NetworkRefusal): void {
    const id = `${r.key}\u0000${r.owner}\u0000${r.lamport}`;
    if (this.refusedNetworkWrites.has(id)) return;
    if (this.refusedNetworkWrites.size > 1000) this.refusedNetworkWrites.clear();
    this.refusedNetworkWrites.add(id);
    countDrop(this.ctx, reason, `network ${r.key} ${r.deleted ? 'deleted' : 'redefined'} by ${r.owner}`);
    this.ctx.log.warn(
      { network: r.key, writer: this.ctx.membership.get(r.owner)?.name ?? r.owner, deleted: !!r.deleted, reason },
      'network write refused: other hosts have live endpoints in it',
    );
  }

  /** One of our records came back newer than ours (an earlier life wrote it): overwrite it. */
  private reassert(r: WireRecord): void {
    this.ctx.stats.reasserts++;
    const mine = this.ctx.table.own(r.kind, r.key);
    this.ctx.log.info({ kind: r.kind, key: r.key, lamport: r.lamport }, 're-asserting own record');
    void this.hooks.writeOwn(r.kind, r.key, mine && !mine.deleted ? (mine.value as RecordValue) : null);
  }
}
