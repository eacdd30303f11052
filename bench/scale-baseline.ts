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

export async function bareGossipsubP99(
  n: number,
  messages: number,
  gapMs: number,
  warmup: number,
): Promise<BareGossipsub> {
  const c = await DiscoveryCluster.create(n, {}, `sb${n}`);
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
    const arrivals = new Map<string, number[]>();
    for (const p of procs) p.onRaw((id, at) => (arrivals.get(id) ?? arrivals.set(id, []).get(id))?.push(at));
    // Warm-up messages (cold code), not measured.
    for (let u = 0; u < warmup; u++) {
      void (procs[u % n] as MemberProc).call('publishBench', { id: `warm${u}` });
      await sleep(gapMs);
    }
    await sleep(2000);
    const cpu = () => sum(procs.map((p) => cpuMsOf(p.pid)));
    const [idleCpu0, idleT0] = [cpu(), performance.now()];
    await sleep(BARE_IDLE_MS);
    const idleCpuPerMs = (cpu() - idleCpu0) / (performance.now() - idleT0);
    const mem = procs.map((p) => memoryOf(p.pid));
    const [cpu0, t0] = [cpu(), performance.now()];
    const sent = new Map<string, number>();
    for (let u = 0; u < messages; u++) {
      const id = `raw${u}`;
      sent.set(id, Date.now());
      void (procs[u % n] as MemberProc).call('publishBench', { id });
      await sleep(gapMs);
    }
    await eventually(() => [...sent.keys()].every((id) => (arrivals.get(id)?.length ?? 0) >= n - 1), 10_000, 100);
    const cpuMsPerReceiver = (cpu() - cpu0 - idleCpuPerMs * (performance.now() - t0)) / messages / (n - 1);
    const lat = [...sent]
      .filter(([id]) => (arrivals.get(id)?.length ?? 0) >= n - 1)
      .map(([id, s]) => Math.max(...(arrivals.get(id) ?? [])) - s);
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
    await c.teardown();
  }
}
