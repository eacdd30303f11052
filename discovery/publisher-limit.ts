/**
 * A token bucket per key (here: per record owner): at most `perSecond` units, with a burst of
 * `burst`, and when to report refusals (at most every `logEveryMs`). Pure; record-budget.ts applies it
 * to the records of a flooding member, whichever path they take.
 */
export interface LimitVerdict {
  ok: boolean;
  /** First refusal of this publisher since `logEveryMs`: log it. */
  report: boolean;
  /** Records refused from this publisher since the last report. */
  refusedSinceReport: number;
}

interface Bucket {
  tokens: number;
  at: number;
  refused: number;
  reportedAt: number;
  /** When a take was last refused (-Infinity: never). */
  refusedAt: number;
}

export class PublisherLimit {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
    private readonly logEveryMs = 10_000,
  ) {}

  /** Whether `records` tokens of `publisher`'s bucket are there now (nothing taken, nothing counted). */
  affords(publisher: string, records: number): boolean {
    const b = this.buckets.get(publisher);
    return (b ? this.level(b, this.now()) : this.burst) >= records;
  }

  /** Takes `records` tokens of `publisher`'s bucket; all or none. */
  take(publisher: string, records: number): LimitVerdict {
    const t = this.now();
    const b = this.bucket(publisher, t);
    if (b.tokens >= records) {
      b.tokens -= records;
      return { ok: true, report: false, refusedSinceReport: 0 };
    }
    return this.refusal(b, records, t);
  }

  /** Refuses `records` of `publisher` without looking at its bucket (after affords() said no): counted as a refused take. */
  refuse(publisher: string, records: number): LimitVerdict {
    const t = this.now();
    return this.refusal(this.bucket(publisher, t), records, t);
  }

  private bucket(publisher: string, t: number): Bucket {
    let b = this.buckets.get(publisher);
    if (!b) {
      b = { tokens: this.burst, at: t, refused: 0, reportedAt: -Infinity, refusedAt: -Infinity };
      this.buckets.set(publisher, b);
    }
    b.tokens = this.level(b, t);
    b.at = t;
    return b;
  }

  /** The bucket's tokens at time `t`: refilled at the rate since it was last touched, capped at the burst. */
  private level(b: Bucket, t: number): number {
    return Math.min(this.burst, b.tokens + ((t - b.at) / 1000) * this.perSecond);
  }

  private refusal(b: Bucket, records: number, t: number): LimitVerdict {
    b.refused += records;
    b.refusedAt = t;
    if (t - b.reportedAt < this.logEveryMs) return { ok: false, report: false, refusedSinceReport: b.refused };
    b.reportedAt = t;
    const refused = b.refused;
    b.refused = 0;
    return { ok: false, report: true, refusedSinceReport: refused };
  }

  /** Whether a take of `publisher` was refused within the last `ms`. */
  refusedWithin(publisher: string, ms: number): boolean {
    const b = this.buckets.get(publisher);
    return b !== undefined && this.now() - b.refusedAt < ms;
  }

  /** Forgets publishers whose bucket is full again (bounded memory). */
  prune(): void {
    const t = this.now();
    for (const [p, b] of this.buckets) if (this.level(b, t) >= this.burst && b.refused === 0) this.buckets.delete(p);
  }
}
