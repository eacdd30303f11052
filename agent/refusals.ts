/**
 * Refused endpoint records as a set that changes: each refusal is counted once, when it appears (not
 * on every reconcile), and logged with its end. `vxmesh endpoints` and /metrics read the current set.
 *
 * Logs are bounded per owner: at most LINES_PER_WINDOW refusals (and as many ends) are logged one by
 * one per WINDOW_MS; the rest are summed up in one line per owner when the window ends. A member
 * flooding the table with records nobody admits would otherwise make every host write a line per
 * record (about 10,000 lines a minute per host in bench:flood).
 */
import type { Logger } from '../core/logger.js';
import type { Refusal, RefusalReason } from './claims.js';

const keyOf = (r: Pick<Refusal, 'network' | 'id' | 'owner'>) => `${r.owner}/${r.network}/${r.id}`;

export const LINES_PER_WINDOW = 20;
export const WINDOW_MS = 10_000;

interface OwnerWindow {
  start: number;
  logged: number;
  /** Refusals not logged one by one in this window, by reason; ends not logged. */
  unlogged: Map<RefusalReason, number>;
  endsUnlogged: number;
}

export class RefusalLog {
  private readonly active = new Map<string, Refusal>();
  private activeSet = new Set<Refusal>();
  /** Refusals seen since start (each counted once). */
  total = 0;
  private lastReport?: { refused: Refusal[]; localKey: string };
  private readonly windows = new Map<string, OwnerWindow>();

  constructor(
    private readonly log: Logger,
    private readonly nameOf: (peerId: string) => string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The refusals of an admission (those of our own records left out: they are not ours to program) and
   * this host's local conflicts. Nothing to do when both are what the last report had: a reconcile and
   * the DNS zones read the same admission, and a flood of refused records makes the set large.
   */
  report(refused: Refusal[], local: Refusal[], self: string): void {
    this.closeWindows();
    const localKey = JSON.stringify(local);
    if (this.lastReport?.refused === refused && this.lastReport.localKey === localKey) return;
    this.lastReport = { refused, localKey };
    this.update([...refused.filter((r) => r.owner !== self), ...local]);
  }

  update(now: Refusal[]): void {
    this.closeWindows();
    // The admission hands out the same refusal object for an unchanged record: only new objects are
    // compared by key (a large, mostly unchanged set costs a set of pointers, not of strings).
    const nowSet = new Set(now);
    for (const r of now) {
      if (this.activeSet.has(r)) continue;
      const k = keyOf(r);
      const before = this.active.get(k);
      this.active.set(k, r);
      if (before?.reason === r.reason) continue;
      this.total++;
      const w = this.window(r.owner);
      if (w.logged++ < LINES_PER_WINDOW)
        this.log.warn(
          { network: r.network, endpoint: r.id, owner: this.nameOf(r.owner), ip: r.ip, mac: r.mac, reason: r.reason },
          'endpoint refused: not programmed on this host',
        );
      else w.unlogged.set(r.reason, (w.unlogged.get(r.reason) ?? 0) + 1);
    }
    for (const r of this.activeSet) {
      if (nowSet.has(r)) continue;
      const k = keyOf(r);
      if (this.active.get(k) !== r) continue; // replaced by a new object for the same record
      this.active.delete(k);
      const w = this.window(r.owner);
      if (w.logged++ < LINES_PER_WINDOW)
        this.log.info(
          { network: r.network, endpoint: r.id, owner: this.nameOf(r.owner), reason: r.reason },
          'endpoint no longer refused',
        );
      else w.endsUnlogged++;
    }
    this.activeSet = nowSet;
  }

  private window(owner: string): OwnerWindow {
    let w = this.windows.get(owner);
    if (!w) {
      w = { start: this.now(), logged: 0, unlogged: new Map(), endsUnlogged: 0 };
      this.windows.set(owner, w);
    }
    return w;
  }

  /** Ends the windows older than WINDOW_MS: one summary line for each that left lines out. */
  private closeWindows(): void {
    const now = this.now();
    for (const [owner, w] of this.windows) {
      if (now - w.start < WINDOW_MS) continue;
      this.windows.delete(owner);
      const refused = [...w.unlogged.values()].reduce((a, b) => a + b, 0);
      if (refused === 0 && w.endsUnlogged === 0) continue;
      this.log.warn(
        {
          owner: this.nameOf(owner),
          refused,
          byReason: Object.fromEntries(w.unlogged),
          noLongerRefused: w.endsUnlogged,
          seconds: Math.round((now - w.start) / 1000),
        },
        'more endpoint refusals of this member than are logged one by one: summed up (vxmesh endpoints lists them all)',
      );
    }
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
