/**
 * Tells whether this process stalled (its event loop blocked longer than a threshold) during a window,
 * so that a probe that failed only because we were not running is not held against the peer.
 *
 * It ticks (every 50 ms) only while armed: `begin()` when a probe starts, `end()` when it settles. An
 * idle agent has no timer of its own running: a 20 Hz interval alone cost 0.4 % of a core per agent
 * here, a third of an idle agent's CPU.
 */
const TICK_MS = 50;

export class LagMonitor {
  private last = performance.now();
  private lastStallAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private armed = 0;

  constructor(private readonly thresholdMs: number) {}

  /** A window starts (nested windows share the timer). */
  begin(): void {
    if (this.armed++ > 0) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** A window ends; the timer stops with the last one. */
  end(): void {
    if (this.armed === 0) return;
    this.tick();
    if (--this.armed === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  get ticking(): boolean {
    return this.timer !== undefined;
  }

  private tick(): void {
    const now = performance.now();
    if (now - this.last > TICK_MS + this.thresholdMs) this.lastStallAt = now;
    this.last = now;
  }

  /** Whether a stall ended after `t` or is still in progress (only meaningful inside a window). */
  stalledSince(t: number): boolean {
    return this.lastStallAt >= t || (this.armed > 0 && performance.now() - this.last > TICK_MS + this.thresholdMs);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.armed = 0;
  }
}
