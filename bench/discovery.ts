/**
 * Discovery benchmark (not a test). Writes bench/results/discovery.json.
 *
 *   convergence: an endpoint written on one member → merged on all others, p50/p99 over UPDATES
 *     updates, next to a bare gossipsub message among the same nodes in the same run (the baseline):
 *     - N = 5, 10, 25 members in ONE process (discovery-inproc.ts), where wire bytes (the namespace's
 *       loopback counters) and CPU per update are measured too;
 *     - N = 5, 10 members as separate processes, one per simulated host (RSS per member here);
 *   failure detection (N = 10, separate processes): kill -9 and SIGSTOP, until the member's endpoints
 *     are withdrawn on all others;
 *   stall: a 60 s run in which one member's event loop blocks for 1 s; false "dead" verdicts counted.
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { Testbed } from '../sim/testbed.js';
import { DiscoveryCluster, endpointOf } from '../test/fixtures/discovery-cluster.js';
import { eventually, type MemberProc } from '../test/fixtures/members.js';

$.verbose = false;
$.quiet = true;

const SIZES = (process.env.BENCH_SIZES ?? '5,10,25').split(',').map(Number);
const MULTI_SIZES = (process.env.BENCH_MULTI_SIZES ?? '5,10').split(',').filter(Boolean).map(Number);
const UPDATES = Number(process.env.BENCH_UPDATES ?? 200);
const STALL_RUN_S = Number(process.env.BENCH_STALL_SECONDS ?? 60);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');

/** Pacing between updates: keeps the cluster's CPU below saturation on 2 cores (≈ 3 ms CPU per member per update). */
const gapFor = (n: number): number => Number(process.env.BENCH_GAP_MS ?? Math.max(50, 6 * n));
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function txBytes(c: DiscoveryCluster): Promise<number> {
  let sum = 0;
  for (const h of c.tb.hosts) {
    const r = await $`ip -n ${h.netns} -s -j link show eth0`;
    const j = JSON.parse(r.stdout) as Array<{ stats64: { tx: { bytes: number } } }>;
    sum += j[0]?.stats64.tx.bytes ?? 0;
  }
  return sum;
}

async function cpuMs(procs: MemberProc[]): Promise<number> {
  const snaps = await Promise.all(procs.map((p) => p.snapshot()));
  return snaps.reduce((n, s) => n + (s.cpu.user + s.cpu.system) / 1000, 0);
}

async function startCluster(n: number, tag: string): Promise<{ c: DiscoveryCluster; procs: MemberProc[] }> {
  const c = await DiscoveryCluster.create(
    n,
    process.env.BENCH_MESH_D ? { meshDegree: Number(process.env.BENCH_MESH_D) } : {},
    tag,
  );
  const procs: MemberProc[] = [];
  for (let i = 1; i <= n; i++) {
    // Seeds: three members, so no single hub.
    procs.push(c.start(i, { seeds: [1, 2, 3].filter((s) => s <= n && s !== i).slice(0, 3) }));
  }
  await Promise.all(procs.map((p) => p.ready));
  const ok = await eventually(
    async () =>
      (await Promise.all(procs.map((p) => p.snapshot()))).every(
        (s) => s.members.filter((m) => m.state === 'alive').length === n,
      ),
    60000,
    250,
  );
  if (!ok) throw new Error(`cluster of ${n} did not form`);
  await sleep(3000); // let gossipsub meshes settle (heartbeat 1 s)
  return { c, procs };
}

interface SizeResult {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  raw_p50_ms: number;
  raw_p99_ms: number;
  ratio_p99_vs_raw: number;
  bytes_per_update: number;
  cpu_ms_per_update: number;
  rss_mb_per_member: number;
  lost: number;
}

async function measureSize(n: number): Promise<SizeResult> {
  const { c, procs } = await startCluster(n, `b${n}`);
  try {
    await procs[0]?.call('putNetwork', { name: 'blue', vni: 100, subnet: '198.18.0.0/16' });
    await sleep(500);
    const gap = gapFor(n);

    // Baseline: bare gossipsub messages, same processes, same pacing.
    const rawArrivals = new Map<string, number[]>();
    for (const p of procs) p.onRaw((id, at) => (rawArrivals.get(id) ?? rawArrivals.set(id, []).get(id))?.push(at));
    const rawSent = new Map<string, number>();
    for (let u = 0; u < UPDATES; u++) {
      const id = `raw${u}`;
      const from = procs[u % n] as MemberProc;
      rawSent.set(id, Date.now());
      void from.call('publishBench', { id });
      await sleep(gap);
    }
    await sleep(2000);
    const rawLat = [...rawSent]
      .filter(([id]) => (rawArrivals.get(id)?.length ?? 0) === n - 1)
      .map(([id, t0]) => Math.max(...(rawArrivals.get(id) ?? [])) - t0);

    // Idle phase for background traffic and CPU.
    const idleMs = UPDATES * gap;
    const bytes0 = await txBytes(c);
    const cpu0 = await cpuMs(procs);
    await sleep(idleMs);
    const bytes1 = await txBytes(c);
    const cpu1 = await cpuMs(procs);

    // Updates.
    const arrivals = new Map<string, number[]>();
    for (const p of procs)
      p.onSeen((s) => s.ids.forEach((id) => (arrivals.get(id) ?? arrivals.set(id, []).get(id))?.push(s.at)));
    const sent = new Map<string, number>();
    const t0 = Date.now();
    for (let u = 0; u < UPDATES; u++) {
      const i = (u % n) + 1;
      const e = {
        ...endpointOf(c.tb, i, 0),
        id: `u${u}`,
        mac: `02:aa:${(u >> 8).toString(16).padStart(2, '0')}:${(u & 255).toString(16).padStart(2, '0')}:00:${i.toString(16).padStart(2, '0')}`,
        ip: `198.18.${200 + (u >> 8)}.${u & 255 || 1}`,
      };
      sent.set(e.id, Date.now());
      void (procs[i - 1] as MemberProc).call('putEndpoint', e);
      await sleep(gap);
    }
    await eventually(() => [...sent.keys()].every((id) => (arrivals.get(id)?.length ?? 0) >= n - 1), 10000, 100);
    const elapsed = Date.now() - t0;
    const bytes2 = await txBytes(c);
    const cpu2 = await cpuMs(procs);
    const lat = [...sent]
      .filter(([id]) => (arrivals.get(id)?.length ?? 0) >= n - 1)
      .map(([id, s]) => Math.max(...(arrivals.get(id) ?? [])) - s);

    const idleScale = elapsed / idleMs;
    const snaps = await Promise.all(procs.map((p) => p.snapshot()));
    const rss = snaps.reduce((a, s) => a + s.rss, 0) / snaps.length / 1024 / 1024;
    return {
      n,
      p50_ms: pct(lat, 50),
      p99_ms: pct(lat, 99),
      max_ms: Math.max(...lat),
      raw_p50_ms: pct(rawLat, 50),
      raw_p99_ms: pct(rawLat, 99),
      ratio_p99_vs_raw: +(pct(lat, 99) / pct(rawLat, 99)).toFixed(2),
      bytes_per_update: Math.round((bytes2 - bytes1 - (bytes1 - bytes0) * idleScale) / UPDATES),
      cpu_ms_per_update: +((cpu2 - cpu1 - (cpu1 - cpu0) * idleScale) / UPDATES).toFixed(2),
      rss_mb_per_member: +rss.toFixed(1),
      lost: UPDATES - lat.length,
    };
  } finally {
    await c.teardown();
  }
}

type InprocResult = Omit<SizeResult, 'rss_mb_per_member'>;

/** N members in one process (one event loop), inside a fresh namespace: see discovery-inproc.ts. */
async function measureInProcess(n: number): Promise<InprocResult> {
  const tb = await Testbed.create({ hosts: 1, tag: `i${n}` });
  try {
    const script = new URL('./discovery-inproc.js', import.meta.url).pathname;
    const gap = gapFor(n);
    const r =
      await $`nsenter --net=/run/netns/${tb.host(1).netns} ${process.execPath} ${script} ${n} ${UPDATES} ${gap}`;
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as InprocResult;
  } finally {
    await tb.teardown();
  }
}

async function measureFailures(): Promise<{
  detect_kill_ms: number;
  detect_sigstop_ms: number;
  false_dead_in_stall_run: number;
  stall_run_s: number;
}> {
  const n = 10;
  const { c, procs } = await startCluster(n, 'bf');
  try {
    for (const [i, p] of procs.entries()) await p.call('putEndpoint', endpointOf(c.tb, i + 1, 1));
    await eventually(
      async () =>
        (await Promise.all(procs.map((p) => p.snapshot()))).every((s) => (s.desired.blue ?? []).length === n - 1),
      20000,
      200,
    );

    const withdrawnEverywhere = (victimId: string, others: MemberProc[], since: number) =>
      new Promise<number>((resolve) => {
        const pending = new Set(others);
        for (const p of others) {
          p.onSeen((s) => {
            if (s.gone.includes(victimId) && pending.delete(p) && pending.size === 0) resolve(s.at - since);
          });
        }
      });

    // kill -9 of h10
    const killVictim = procs[9] as MemberProc;
    const killOthers = procs.slice(0, 9);
    const tKill = Date.now();
    const killDone = withdrawnEverywhere('e10-1', killOthers, tKill);
    await killVictim.kill();
    const detectKill = await Promise.race([killDone, sleep(30000).then(() => NaN)]);

    // SIGSTOP of h9
    const stopVictim = procs[8] as MemberProc;
    const stopOthers = procs.slice(0, 8);
    const tStop = Date.now();
    const stopDone = withdrawnEverywhere('e9-1', stopOthers, tStop);
    stopVictim.signal('SIGSTOP');
    const detectStop = await Promise.race([stopDone, sleep(30000).then(() => NaN)]);
    stopVictim.signal('SIGCONT');
    await eventually(
      async () =>
        (await Promise.all(stopOthers.map((p) => p.snapshot()))).every(
          (s) => s.members.find((m) => m.name === 'h9')?.state === 'alive',
        ),
      20000,
      200,
    );

    // 60 s with a 1 s event-loop stall of h2 at 20 s: count false "dead" verdicts about anyone alive.
    const live = procs.slice(0, 9);
    let falseDead = 0;
    const until = Date.now() + STALL_RUN_S * 1000;
    let stalled = false;
    while (Date.now() < until) {
      if (!stalled && Date.now() > until - (STALL_RUN_S - 20) * 1000) {
        stalled = true;
        void (live[1] as MemberProc).call('stall', { ms: 1000 });
      }
      const snaps = await Promise.all(live.filter((p) => p !== live[1]).map((p) => p.snapshot()));
      for (const s of snaps) falseDead += s.members.filter((m) => m.name !== 'h10' && m.state === 'dead').length;
      await sleep(250);
    }
    return {
      detect_kill_ms: detectKill,
      detect_sigstop_ms: detectStop,
      false_dead_in_stall_run: falseDead,
      stall_run_s: STALL_RUN_S,
    };
  } finally {
    await c.teardown();
  }
}

async function main(): Promise<void> {
  const inproc: InprocResult[] = [];
  for (const n of SIZES) {
    const r = await measureInProcess(n);
    inproc.push(r);
    console.log(
      `one process, N=${n}: p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms | bare gossipsub p99 ${r.raw_p99_ms} ms | ratio ${r.ratio_p99_vs_raw} | ${r.bytes_per_update} B/update on the wire | ${r.cpu_ms_per_update} ms CPU/update | lost ${r.lost}`,
    );
  }
  const multi: SizeResult[] = [];
  for (const n of MULTI_SIZES) {
    const r = await measureSize(n);
    multi.push(r);
    console.log(
      `separate processes, N=${n}: p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms | bare gossipsub p99 ${r.raw_p99_ms} ms | ratio ${r.ratio_p99_vs_raw} | ${r.bytes_per_update} B/update | ${r.cpu_ms_per_update} ms CPU/update | ${r.rss_mb_per_member} MB RSS/member | lost ${r.lost}`,
    );
  }
  const f = await measureFailures();
  console.log(
    `separate processes, N=10: kill -9 detected and withdrawn everywhere in ${f.detect_kill_ms} ms; SIGSTOP in ${f.detect_sigstop_ms} ms; false dead during a ${f.stall_run_s} s run with a 1 s stall: ${f.false_dead_in_stall_run}`,
  );
  const byN = <T extends { n: number }>(xs: T[], k: keyof T) => Object.fromEntries(xs.map((s) => [String(s.n), s[k]]));
  const result = {
    date: new Date().toISOString(),
    updates_per_size: UPDATES,
    convergence_p50_ms: byN(inproc, 'p50_ms'),
    convergence_p99_ms: byN(inproc, 'p99_ms'),
    convergence_max_ms: byN(inproc, 'max_ms'),
    baseline_gossipsub_p99_ms: byN(inproc, 'raw_p99_ms'),
    ratio_p99_vs_gossipsub: byN(inproc, 'ratio_p99_vs_raw'),
    bytes_per_update: byN(inproc, 'bytes_per_update'),
    cpu_ms_per_update: byN(inproc, 'cpu_ms_per_update'),
    lost_updates: byN(inproc, 'lost'),
    multiprocess: {
      convergence_p50_ms: byN(multi, 'p50_ms'),
      convergence_p99_ms: byN(multi, 'p99_ms'),
      baseline_gossipsub_p99_ms: byN(multi, 'raw_p99_ms'),
      ratio_p99_vs_gossipsub: byN(multi, 'ratio_p99_vs_raw'),
      bytes_per_update: byN(multi, 'bytes_per_update'),
      cpu_ms_per_update: byN(multi, 'cpu_ms_per_update'),
      lost_updates: byN(multi, 'lost'),
    },
    rss_mb_per_member: Math.max(...multi.map((m) => m.rss_mb_per_member)),
    ...f,
    targets: {
      'convergence_p99_ms.10': '< 50',
      'convergence_p99_ms.25': '< 150',
      detect_kill_ms: '< 2000',
      detect_sigstop_ms: '< 5000',
      false_dead_in_stall_run: '0',
    },
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'discovery.json'), JSON.stringify(result, null, 2) + '\n');
  console.log('written: bench/results/discovery.json');
}

await main();
