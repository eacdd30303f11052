/** Detects event-loop stalls, so that a probe that timed out because *we* stalled is not held against the peer. */
export class LagMonitor {
  private last = performance.now();
  private lastStallAt = -Infinity;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly thresholdMs: number) {
    this.timer = setInterval(() => {
      const now = performance.now();
      if (now - this.last > 50 + thresholdMs) this.lastStallAt = now;
      this.last = now;
    }, 50);
    this.timer.unref();
  }

  stalledSince(t: number): boolean {
    // A stall that ended during the window, or one still in progress (the interval has not fired yet).
    return this.lastStallAt >= t || performance.now() - this.last > 50 + this.thresholdMs;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
