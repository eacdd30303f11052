/**
 * What one client (a container's address) and one network may cost a DNS server: questions per second
 * (a token bucket per client; beyond it a question is dropped unanswered, the cheapest outcome under
 * a flood), questions forwarded upstream at once (per client and per network; beyond: REFUSED), and
 * TCP connections open at once (per client and per network; beyond: closed at once). The server runs
 * on the agent's event loop, which also answers membership probes: a flood of questions from one
 * container must not make its host look dead to the others.
 */
export interface QueryLimitSettings {
  perClientPerSecond: number;
  perClientBurst: number;
  forwardsPerClient: number;
  forwardsPerNetwork: number;
  tcpPerClient: number;
  tcpPerNetwork: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimitSettings = {
  perClientPerSecond: 500,
  perClientBurst: 1000,
  forwardsPerClient: 32,
  forwardsPerNetwork: 256,
  tcpPerClient: 8,
  tcpPerNetwork: 64,
};

/** Clients remembered at most (a spoofed-source flood must not grow the map without end). */
const MAX_CLIENTS = 4096;

class Slots {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(
    private readonly perClient: number,
    private readonly overall: number,
  ) {}

  take(client: string): boolean {
    const n = this.byClient.get(client) ?? 0;
    if (n >= this.perClient || this.total >= this.overall) return false;
    this.byClient.set(client, n + 1);
    this.total++;
    return true;
  }

  release(client: string): void {
    const n = this.byClient.get(client) ?? 0;
    if (n <= 0) return;
    if (n === 1) this.byClient.delete(client);
    else this.byClient.set(client, n - 1);
    this.total--;
  }

  get inUse(): number {
    return this.total;
  }
}

export class QueryLimits {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly forwards: Slots;
  readonly tcp: Slots;

  constructor(
    private readonly settings: QueryLimitSettings = DEFAULT_QUERY_LIMITS,
    private readonly now: () => number = Date.now,
  ) {
    this.forwards = new Slots(settings.forwardsPerClient, settings.forwardsPerNetwork);
    this.tcp = new Slots(settings.tcpPerClient, settings.tcpPerNetwork);
  }

  /** Whether a question from `client` may be looked at now (spends one token). */
  admit(client: string): boolean {
    const now = this.now();
    let b = this.buckets.get(client);
    if (!b) {
      if (this.buckets.size >= MAX_CLIENTS) this.buckets.clear();
      b = { tokens: this.settings.perClientBurst, at: now };
      this.buckets.set(client, b);
    } else {
      b.tokens = Math.min(
        this.settings.perClientBurst,
        b.tokens + ((now - b.at) / 1000) * this.settings.perClientPerSecond,
      );
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
