/**
 * bench:scale's convergence floor: a bare gossipsub message (no record, no table, no kernel) among N
 * member processes, one per simulated host, as the agents run them (same libp2p stack and gossipsub
 * settings). p99 over `messages` messages published by every member in turn; and, before them, the
 * members' idle CPU and memory: the stack's floor beside the agents' own (issue 31, items 3 and 4).
 */
import { DiscoveryCluster } from '../test/fixtures/discovery-cluster.js';
import { eventually, type MemberProc } from '../test/fixtures/members.js';
import { cpuMsOf, mean, memoryOf, pct, sum } from './proc-stats.js';
import { sleep } from './wait.js';

export interface BareGossipsub {
  p50: number;
  p99: number;
  lost: number;
  /** CPU (ms) per receiving process per message, the idle rate subtracted: the stack's own cost. */
  cpuMsPerReceiver: number;
  /** Idle CPU (% of a core) and memory per process of the same stack without an agent: its floor. */
  idleCpuPercentPerProcess: number;
  rssMbPerProcess: number;
  pssMbPerProcess: number;
}

/** How long the bare members' idle is measured (a short window: the agents' idle is SCALE_IDLE_S). */
const BARE_IDLE_MS = Number(process.env.SCALE_BARE_IDLE_S ?? 20) * 1000;

/**
 * N bare members (libp2p + gossipsub + membership, as the agents run them) up at once: for blocks of
 * messages interleaved with the agents' updates in the same run (bench:scale's paired ratios).
 */
export class BareCluster {
  private readonly arrivals = new Map<string, number[]>();

  private constructor(
    private readonly c: DiscoveryCluster,
    readonly procs: MemberProc[],
  ) {
    for (const p of procs) p.onRaw((id, at) => (this.arrivals.get(id) ?? this.arrivals.set(id, []).get(id))?.push(at));
  }

  static async start(n: number, tag: string): Promise<BareCluster> {
    const c = await DiscoveryCluster.create(n, {}, tag);
    try {
      const procs: MemberProc[] = [];
      for (let i = 1; i <= n; i++) {
        procs.push(c.start(i, { seeds: [1, 2, 3].filter((s) => s < i) }));
        await procs[i - 1]?.ready;
      }
      const formed = await eventually(
        async () =>
          (await Promise.all(procs.map((p) => p.snapshot()))).every(
            (s) => s.members.filter((m) => m.state === 'alive').length === n,
          ),
        120_000,
        500,
      );
      if (!formed) throw new Error(`bare gossipsub baseline: ${n} members did not form one cluster within 120 s`);
      await sleep(3000); // meshes settle (heartbeat 1 s)
      return new BareCluster(c, procs);
    } catch (e) {
      await c.teardown();
      throw e;
    }
  }

  /** CPU (ms) so far of the members at these 0-based indexes (all when omitted). */
  cpu(indexes?: number[]): number {
    const of = indexes ? indexes.map((i) => this.procs[i] as MemberProc) : this.procs;
    return sum(of.map((p) => cpuMsOf(p.pid)));
  }

  /** Member `from` (0-based) publishes message `id`; resolves with the ms until every other member had it (undefined: lost). */
  async message(from: number, id: string, timeoutMs = 10_000): Promise<number | undefined> {
    const start = Date.now();
    void (this.procs[from] as MemberProc).call('publishBench', { id });
    const n = this.procs.length;
    const all = await eventually(async () => (this.arrivals.get(id)?.length ?? 0) >= n - 1, timeoutMs, 10);
    return all ? Math.max(...(this.arrivals.get(id) ?? [])) - start : undefined;
  }

  teardown(): Promise<void> {
    return this.c.teardown();
  }
}

export async function bareGossipsubP99(
  n: number,
  messages: number,
  gapMs: number,
  warmup: number,
): Promise<BareGossipsub> {
  const b = await BareCluster.start(n, `sb${n}`);
  try {
    // Warm-up messages (cold code), not measured.
    for (let u = 0; u < warmup; u++) {
      void b.message(u % n, `warm${u}`);
      await sleep(gapMs);
    }
    await sleep(2000);
    const [idleCpu0, idleT0] = [b.cpu(), performance.now()];
    await sleep(BARE_IDLE_MS);
    const idleCpuPerMs = (b.cpu() - idleCpu0) / (performance.now() - idleT0);
    const mem = b.procs.map((p) => memoryOf(p.pid));
    const [cpu0, t0] = [b.cpu(), performance.now()];
    const sent: Array<Promise<number | undefined>> = [];
    for (let u = 0; u < messages; u++) {
      sent.push(b.message(u % n, `raw${u}`));
      await sleep(gapMs);
    }
    const lat = (await Promise.all(sent)).filter((x): x is number => x !== undefined);
    const cpuMsPerReceiver = (b.cpu() - cpu0 - idleCpuPerMs * (performance.now() - t0)) / messages / (n - 1);
    return {
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      lost: messages - lat.length,
      cpuMsPerReceiver: +cpuMsPerReceiver.toFixed(3),
      // ms of CPU per ms, over n processes: × 100 for % of a core.
      idleCpuPercentPerProcess: +((idleCpuPerMs / n) * 100).toFixed(3),
      rssMbPerProcess: +mean(mem.map((m) => m.rssMb)).toFixed(1),
      pssMbPerProcess: +mean(mem.map((m) => m.pssMb)).toFixed(1),
    };
  } finally {
    await b.teardown();
  }
}
