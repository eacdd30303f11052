/**
 * The reconcile loop: for every network with local endpoints, hand the desired remotes to the data
 * plane. One run at a time; a request during a run queues one more. Until the first sync with the
 * cluster, runs add and repair entries but delete none (after a restart the table may still be
 * incomplete), and no overlay is removed.
 *
 * A run started by a table change writes into an overlay only what changed since the last clean run
 * wrote it (the same overlay, deletions allowed alike): nothing when nothing changed (a refused record,
 * another network, a flooding member's records), one entry's writes for one endpoint, whatever the
 * network's size — no kernel dump. Kernel notifications, the periodic run and the start compare
 * everything with the kernel (the safety net for drift).
 */
import type { Logger } from '../core/logger.js';
import {
  KernelEcho,
  type KernelChange,
  type ReconcileResult,
  type RemoteEndpoint,
  type RemotesDelta,
} from '../dataplane/dataplane.js';
import type { DesiredState } from './desired.js';
import type { NetworkDefinition } from './networks.js';
import type { Overlays } from './overlays.js';
import type { OverlayDriver } from './ports.js';
import { WrittenSet } from './written-set.js';

export interface ReconcileSummary {
  network: string;
  vni: number;
  changes: number;
  errors: number;
  durationMs: number;
}

export interface ReconcileCounters {
  reconcileRuns: number;
  reconcileChanges: number;
  reconcileErrors: number;
  lastReconcileMs: number;
  /** Kernel notifications (link, static neighbour/fdb) seen in overlay namespaces. */
  kernelEvents: number;
  /** Times an overlay's notification queue overran (events lost: everything is compared anyway). */
  kernelEventOverruns: number;
  /** Entries written by runs a kernel notification started (drift repaired at the event). */
  eventRepairs: number;
  /** Overlays a change-started run left alone: their desired set was what the last clean run wrote. */
  reconcileSkipped: number;
  /** Kernel notifications that were all the echo of our own writes by difference (no run). */
  kernelEchoes: number;
  /** Periodic full compares of an overlay put off: its last one ended less than its cost × FULL_COMPARE_COST_FACTOR ago. */
  periodicDeferred: number;
}

/**
 * The periodic full compare of an overlay (the safety net beside the kernel's notifications) runs at
 * most once per this many times its own last duration: at 20,000 endpoints one takes most of a
 * second, and every 5 s it was a sixth of a core and the wait of any update arriving during it.
 */
export const FULL_COMPARE_COST_FACTOR = 20;
/** A full compare quicker than this puts off no periodic one (small overlays are compared at every tick). */
export const FULL_COMPARE_DEFER_FROM_MS = 25;

export interface ReconcileInputs {
  networks(): Map<string, NetworkDefinition>;
  /** The desired state now (derived-state.ts): read once per run. */
  desired(): DesiredState;
  /** Told every desired state a run computed (change-report.ts: changes are reported where they are detected). */
  computed?(desired: DesiredState): void;
  /** VNIs with local endpoints, read when needed. */
  localVnis(): number[];
  /** VNIs whose overlay must stay (local endpoints, attaches in progress), read at the end of a run. */
  keepVnis(): number[];
  /** The first sync with the cluster is done: deletions are allowed. */
  synced(): boolean;
  /** After the overlays' entries: what else a run makes right (routing and policy: policy-sync.ts). */
  after?(reason: string): Promise<unknown>;
}

export class ReconcileLoop {
  readonly counters: ReconcileCounters = {
    reconcileRuns: 0,
    reconcileChanges: 0,
    reconcileErrors: 0,
    lastReconcileMs: 0,
    kernelEvents: 0,
    kernelEventOverruns: 0,
    eventRepairs: 0,
    reconcileSkipped: 0,
    kernelEchoes: 0,
    periodicDeferred: 0,
  };
  /** Per VNI: when the next periodic full compare is due (after the last one's cost × FULL_COMPARE_COST_FACTOR). */
  private readonly fullDue = new Map<number, number>();
  /** Per VNI: the notifications the last run by difference's writes cause. */
  private readonly echoes = new Map<number, KernelEcho>();
  /** Told each network's reconcile duration (ms), e.g. a metrics histogram. */
  readonly durationListeners = new Set<(ms: number) => void>();
  /** Per VNI: what the last run without errors wrote (desired set, deletions allowed, overlay generation). */
  private readonly applied = new Map<number, Applied>();
  private scheduled = false;
  /** Why the scheduled run runs (a kernel event wins: its changes are counted as repairs). */
  private scheduledReason = 'change';
  private running?: Promise<ReconcileSummary[]>;
  private again = false;
  /** The overlays kept at the last look for stale ones (undefined: not looked yet). */
  private keptAtLastLook?: string;
  private stopped = false;

  constructor(
    private readonly inputs: ReconcileInputs,
    private readonly driver: Pick<OverlayDriver, 'reconcile' | 'reconcileDelta' | 'removeStale'>,
    private readonly overlays: Overlays,
    private readonly log: Logger,
    private readonly onReconciled: (r: ReconcileResult) => void = () => undefined,
    private readonly delayMs = 10,
  ) {}

  /**
   * Starts repairing at the kernel's notifications: a change in an overlay namespace schedules a run
   * (the run after our own writes changes nothing, which ends it); a deleted link makes the next run
   * rebuild the overlay. The periodic run stays as the safety net.
   */
  watchKernel(driver: Pick<OverlayDriver, 'watchKernel'>): void {
    driver.watchKernel?.(
      (c: KernelChange) => {
        this.counters.kernelEvents += c.events;
        if (c.overrun) this.counters.kernelEventOverruns++;
        const echo = this.echoes.get(c.vni);
        if (!c.linkDeleted && c.entries.length === c.events && echo?.explains(c.entries)) {
          this.counters.kernelEchoes++;
          return;
        }
        this.echoes.delete(c.vni);
        if (c.linkDeleted) this.overlays.forget([c.vni]);
        this.log.debug(
          {
            vni: c.vni,
            events: c.events,
            links: c.events - c.entries.length,
            overrun: c.overrun,
            first: c.entries.slice(0, 3).map(({ deleted, entry: e }) => ({ deleted, ...e })),
            echoExpected: echo !== undefined,
          },
          'kernel notifications not (all) our own writes: full compare',
        );
        this.schedule('kernel-event');
      },
      (vni, err) =>
        this.log.warn(
          { vni, err: err.message },
          'cannot watch an overlay namespace; drift is repaired by the periodic reconcile only',
        ),
    );
  }

  /** A reconcile soon (changes arriving together are coalesced). */
  schedule(reason = 'change'): void {
    if (reason === 'kernel-event') this.scheduledReason = reason;
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      const why = this.scheduledReason;
      this.scheduledReason = 'change';
      void this.run(why).catch((e: unknown) => this.log.error({ err: String(e) }, 'reconcile failed'));
    }, this.delayMs).unref();
  }

  async run(reason: string): Promise<ReconcileSummary[]> {
    if (this.running) {
      this.again = true;
      if (reason === 'kernel-event') this.scheduledReason = reason;
      return this.running;
    }
    this.running = this.once(reason).finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.schedule();
      }
    });
    return this.running;
  }

  private async once(reason: string): Promise<ReconcileSummary[]> {
    if (this.stopped) return [];
    const nets = this.inputs.networks();
    // Decide about deletions from the same moment as the desired set: a first sync that completes
    // while this run awaits the kernel must not let a desired set computed before it delete entries.
    const allowDelete = this.inputs.synced();
    const state = this.inputs.desired();
    this.inputs.computed?.(state);
    const desired = state.byNetwork;
    const out: ReconcileSummary[] = [];
    for (const vni of new Set(this.inputs.localVnis())) {
      const n = [...nets.values()].find((x) => x.vni === vni && x.usable);
      if (!n) continue; // definition not (yet) known: keep the kernel as it is
      const t0 = performance.now();
      if (reason === 'periodic' && t0 < (this.fullDue.get(vni) ?? 0)) {
        this.counters.periodicDeferred++;
        continue;
      }
      let r: ReconcileResult;
      let wrote: Applied;
      try {
        await this.overlays.ensure(n);
        const want = desired.get(n.name) ?? [];
        wrote = { set: new WrittenSet(want), allowDelete, generation: this.overlays.generation(vni) };
        const last = this.applied.get(vni);
        this.applied.delete(vni);
        const comparable = reason === 'change' && last !== undefined && sameRun(last, wrote);
        let delta: RemotesDelta | undefined;
        if (comparable && allowDelete && this.driver.reconcileDelta) {
          // Only the entries that changed (written-set.ts); a set the kernel cannot hold is compared in full.
          const d = last.set.diffTo(want);
          if (d) ({ delta, next: wrote.set } = d);
        }
        const unchanged = delta
          ? delta.upsert.length + delta.removeMacs.length + delta.removeIps.length === 0
          : comparable && sameEntries(last.set.want, want);
        if (unchanged) {
          this.applied.set(vni, wrote);
          this.counters.reconcileSkipped++;
          continue;
        }
        if (delta && this.driver.reconcileDelta) {
          const echo = this.echoes.get(vni) ?? new KernelEcho();
          this.echoes.set(vni, echo.expect(delta, delta.upsert, allowDelete));
          r = await this.driver.reconcileDelta(vni, delta, { allowDelete });
        } else {
          this.echoes.delete(vni); // after a full compare, anything the kernel says is news
          r = await this.driver.reconcile(vni, want, { allowDelete });
          const end = performance.now();
          if (end - t0 >= FULL_COMPARE_DEFER_FROM_MS)
            this.fullDue.set(vni, end + (end - t0) * FULL_COMPARE_COST_FACTOR);
          else this.fullDue.delete(vni);
        }
      } catch (e) {
        this.counters.reconcileErrors++;
        this.log.error({ network: n.name, err: (e as Error).message }, 'reconcile failed');
        continue;
      }
      const ms = performance.now() - t0;
      this.counters.reconcileRuns++;
      this.counters.reconcileChanges += r.changes;
      if (reason === 'kernel-event') this.counters.eventRepairs += r.changes;
      this.counters.reconcileErrors += r.errors.length;
      this.counters.lastReconcileMs = ms;
      for (const l of this.durationListeners) l(ms);
      if (r.errors.length === 0) this.applied.set(vni, wrote);
      if (r.changes > 0 || r.errors.length > 0)
        this.log.info({ reason, network: n.name, vni, result: r, ms: +ms.toFixed(1) }, 'reconciled');
      for (const e of r.errors) this.log.warn({ network: n.name, error: e }, 'reconcile entry failed');
      out.push({ network: n.name, vni, changes: r.changes, errors: r.errors.length, durationMs: +ms.toFixed(2) });
      this.onReconciled(r);
    }
    await this.inputs.after?.(reason);
    // Overlays with our prefix that no local endpoint needs any more (only once we know the cluster).
    // Looked for at every run that is not a table change, and at a table change that changed which
    // overlays stay (a detach): listing the host's namespaces was ~1 % of a receiver's CPU per update.
    const keep = this.inputs.keepVnis();
    const kept = [...new Set(keep)].sort((a, b) => a - b).join(',');
    if (allowDelete && (reason !== 'change' || kept !== this.keptAtLastLook)) {
      this.keptAtLastLook = kept;
      const removed = await this.driver.removeStale(keep);
      this.overlays.forget(removed);
      if (removed.length) this.log.info({ vnis: removed, kept: keep }, 'removed overlays no local endpoint uses');
    }
    return out;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
  }
}

interface Applied {
  /** The desired set written. */
  set: WrittenSet;
  allowDelete: boolean;
  generation: number;
}

/**
 * Runs into the same overlay (not rebuilt since) with deletions allowed alike. Only with deletions
 * allowed is a run written as a difference: before the first sync (add-only) the kernel may hold more
 * than a run wrote (entries kept from before a restart), and a difference would rewrite entries that
 * are there; then an unchanged desired set is skipped and any other gets the full compare.
 */
const sameRun = (a: Applied, b: Applied): boolean => a.allowDelete === b.allowDelete && a.generation === b.generation;

/** The same desired entries in the same order. */
function sameEntries(a: RemoteEndpoint[], b: RemoteEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as RemoteEndpoint;
    const y = b[i] as RemoteEndpoint;
    if (x !== y && (x.mac !== y.mac || x.ip !== y.ip || x.ip6 !== y.ip6 || x.vtep !== y.vtep)) return false;
  }
  return true;
}
