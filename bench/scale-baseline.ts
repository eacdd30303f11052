/**
 * bench:scale's convergence floor: a bare gossipsub message (no record, no table, no kernel) among N
 * member processes, one per simulated host, as the agents run them (same libp2p stack and gossipsub
 * settings). p99 over `messages` messages published by every member in turn.
 */
import { DiscoveryCluster } from '../test/fixtures/discovery-cluster.js';
import { eventually, type MemberProc } from '../test/fixtures/members.js';
import { cpuMsOf, pct, sum } from './proc-stats.js';
import { sleep } from './wait.js';

export interface BareGossipsub {
  p50: number;
  p99: number;
  lost: number;
  /** CPU (ms) per receiving process per message, the idle rate subtracted: the stack's own cost. */
  cpuMsPerReceiver: number;
}

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
    await sleep(5000);
    const idleCpuPerMs = (cpu() - idleCpu0) / (performance.now() - idleT0);
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
    };
  } finally {
    await c.teardown();
  }
}
