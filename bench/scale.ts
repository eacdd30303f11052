/**
 * Scale: N agents as separate processes, one per simulated host (N = 10, 25, 50 by default), one
 * network, one endpoint per host. Measured in one run, per N:
 *   - all alive: from the last agent's start until every agent sees N alive members;
 *   - idle cost per agent over SCALE_IDLE_S (60) s with nothing changing: CPU % and underlay bytes/s;
 *     RSS and PSS per agent at the end of it;
 *   - convergence of SCALE_UPDATES (20) updates (an endpoint attached on one host, hosts in turn),
 *     after SCALE_WARMUP (10) unmeasured ones (cold code paths cost several times the steady state):
 *     from the attach request until the fdb entry is in every other host's kernel (`bridge monitor
 *     fdb` in each overlay namespace), p50/p99; wire bytes per update and CPU per receiving agent
 *     per update (read around each update; the idle rate subtracted), the sender's CPU apart;
 *   - a host crash (cable pulled, agent kill -9, namespace deleted): until its entries are gone from
 *     every other kernel (p50/max over the hosts);
 *   - the floors of the same run: bytes = (N−1) × one signed JSON record of wire version 1; CPU = one
 *     receiver decoding and verifying that record once; convergence = a bare gossipsub message among
 *     N member processes (same libp2p stack), p99.
 *
 * npm run bench:scale  → bench/results/scale.json   (SCALE_SIZES=10,25 to choose sizes)
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LocalEndpoint } from '../agent/local-state.js';
import { readNamespaceTables } from '../dataplane/tables.js';
import { Cluster } from '../sim/cluster.js';
import { FdbWatch } from './fdb-watch.js';
import { mean, memoryOf, pct } from './proc-stats.js';
import { BareCluster, bareGossipsubP99 } from './scale-baseline.js';
import { measureFloors, type Floors } from './scale-floor.js';
import { sleep, until } from './wait.js';
import { allAlive, api, cpuOf, hostTxBytes, pids, range, startAgents } from './scale-cluster.js';

const SIZES = (process.env.SCALE_SIZES ?? '10,25,50').split(',').map(Number);
const IDLE_S = Number(process.env.SCALE_IDLE_S ?? 60);
const UPDATES = Number(process.env.SCALE_UPDATES ?? 20);
const WARMUP = Number(process.env.SCALE_WARMUP ?? 10);
const NETWORK = 'scale';
const VNI = 4242;
const SUBNET = '198.18.0.0/16';
/** Up to this N, a bare cluster runs beside the agents and its messages interleave with their updates. */
const PAIRED_MAX = Number(process.env.SCALE_PAIRED_MAX ?? 25);
/** The median (of an even count: the mean of the two middle values), to 3 decimals. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length / 2;
  const v = s.length % 2 ? (s[Math.floor(m)] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
  return +v.toFixed(3);
}
/** Updates (and bare messages) per block of a paired ratio. */
const BLOCK = 5;
const ARGS = ['--log-level', process.env.SCALE_LOG_LEVEL ?? 'warn'];

async function fdbTowards(c: Cluster, i: number): Promise<Set<string>> {
  const tables = await readNamespaceTables(`${c.overlayPrefix(i)}${VNI}`).catch(() => []);
  return new Set(tables.flatMap((t) => t.fdb.map((e) => e.dst ?? '')));
}

export interface ScaleRun {
  n: number;
  all_alive_ms: number | null;
  convergence_p50_ms: number;
  convergence_p99_ms: number;
  bare_gossipsub_p99_ms: number;
  bare_gossipsub_cpu_ms_per_receiver: number;
  updates: number;
  updates_lost: number;
  bytes_per_update: number;
  bytes_floor: number;
  cpu_ms_per_update_per_member: number;
  cpu_ms_per_update_sender: number;
  cpu_floor_ms: number;
  idle_cpu_percent_per_agent: number;
  idle_bytes_per_s_per_agent: number;
  rss_mb_per_agent: number;
  pss_mb_per_agent: number;
  /** The same per process of the bare stack (discovery members: libp2p + gossipsub + membership), same run. */
  bare_idle_cpu_percent_per_process: number;
  bare_rss_mb_per_process: number;
  bare_pss_mb_per_process: number;
  host_crash_withdrawn_p50_ms: number;
  host_crash_withdrawn_max_ms: number;
  /**
   * Paired: CPU per receiver of a block of BLOCK agent updates over that of the next BLOCK bare
   * gossipsub messages, the bare cluster up beside the agents (N ≤ SCALE_PAIRED_MAX); median and all.
   */
  cpu_paired_ratio_to_bare_median?: number;
  cpu_paired_ratios?: number[];
  bare_paired_cpu_ms_per_receiver?: number;
}

async function runSize(n: number, floors: Floors): Promise<ScaleRun> {
  const c = await Cluster.create(n, `sc${n}`);
  const watch = new FdbWatch();
  let bare: BareCluster | undefined;
  const log = (s: string) => console.log(`N=${n}: ${s}`);
  try {
    const lastStart = await startAgents(c, n, ARGS);
    const aliveMs = await allAlive(c, n, lastStart, 300_000);
    log(
      aliveMs === null
        ? 'NOT all alive on every agent within 300 s'
        : `all ${n} alive on every agent ${aliveMs} ms after the last agent's start`,
    );

    await api(c, 1, 'POST', '/v1/networks', { name: NETWORK, subnet: SUBNET, vni: VNI });
    const known = await until(
      async () =>
        (
          await Promise.all(
            range(n).map((i) =>
              api(c, i, 'GET', `/v1/networks/${NETWORK}`).then(
                () => true,
                () => false,
              ),
            ),
          )
        ).every(Boolean),
      60_000,
      250,
    );
    if (!known) throw new Error(`N=${n}: the network did not reach every agent within 60 s`);
    for (const i of range(n))
      await api<LocalEndpoint>(c, i, 'POST', '/v1/attach', { network: NETWORK, netns: await c.tb.addContainer(i, 1) });
    const complete = await until(
      async () => (await Promise.all(range(n).map(async (i) => (await fdbTowards(c, i)).size >= n - 1))).every(Boolean),
      120_000,
      500,
    );
    if (!complete) throw new Error(`N=${n}: the first endpoints did not reach every kernel within 120 s`);
    for (const i of range(n)) await watch.watch(i, `${c.overlayPrefix(i)}${VNI}`);
    await sleep(3000);

    // Idle: nothing changes.
    const hosts = range(n);
    const [b0, cpu0, t0] = [await hostTxBytes(c, hosts), cpuOf(c, hosts), performance.now()];
    await sleep(IDLE_S * 1000);
    const [b1, cpu1, t1] = [await hostTxBytes(c, hosts), cpuOf(c, hosts), performance.now()];
    const idleS = (t1 - t0) / 1000;
    const idleBytesPerS = (b1 - b0) / idleS;
    const idleCpuMsPerS = (cpu1 - cpu0) / idleS;
    const mem = pids(c, hosts).map(memoryOf);
    log(
      `idle ${idleS.toFixed(0)} s: ${(idleCpuMsPerS / n / 10).toFixed(2)} % of a core and ${(idleBytesPerS / n).toFixed(0)} B/s per agent; RSS ${mean(mem.map((m) => m.rssMb)).toFixed(1)} MB, PSS ${mean(mem.map((m) => m.pssMb)).toFixed(1)} MB per agent`,
    );

    // The bare cluster beside the agents, for paired blocks (its own idle rate measured with the agents idle).
    let bareIdlePerMs = 0;
    if (n <= PAIRED_MAX) {
      bare = await BareCluster.start(n, `sp${n}`);
      const [bc0, bt0] = [bare.cpu(), performance.now()];
      await sleep(20_000);
      bareIdlePerMs = (bare.cpu() - bc0) / (performance.now() - bt0) / n;
      for (let u = 0; u < WARMUP; u++) await bare.message(u % n, `warm${u}`);
    }
    const pairedRatios: number[] = [];
    const bareBlocks: number[] = [];
    let blockCpu = 0;
    let blockReceivers = 0;
    /** BLOCK bare messages, senders in turn: CPU per receiver per message, the idle rate subtracted. */
    const bareBlock = async (b: BareCluster, first: number) => {
      let cpu = 0;
      for (let k = 0; k < BLOCK; k++) {
        const from = (first + k) % n;
        const others = range(n)
          .map((i) => i - 1)
          .filter((i) => i !== from);
        const [c0, t0] = [b.cpu(others), performance.now()];
        await b.message(from, `pair${first + k}`);
        await sleep(gapMs);
        cpu += b.cpu(others) - c0 - bareIdlePerMs * (performance.now() - t0) * others.length;
      }
      return cpu / BLOCK / (n - 1);
    };

    // Updates: one endpoint attached on a host, hosts in turn.
    // CPU is read per agent around each update: the receivers' share (per receiver) is the figure
    // compared with the floor; the sender's (its attach builds a veth, an address, a record) apart.
    const lat: number[] = [];
    const gapMs = Math.max(300, 10 * n);
    let receiverCpuMs = 0;
    let senderCpuMs = 0;
    let receiverS = 0;
    // Warm-up: the first updates run cold code (V8 compiles hot paths later); not measured.
    for (let u = 0; u < WARMUP; u++) {
      const h = ((u * 3) % n) + 1;
      const ep = await api<LocalEndpoint>(c, h, 'POST', '/v1/attach', {
        network: NETWORK,
        netns: await c.tb.addContainer(h, 1000 + u),
      });
      await watch.firstPerHost(
        hosts.filter((i) => i !== h),
        (e) => e.mac === ep.mac && !e.deleted,
        0,
        30_000,
      );
    }
    await sleep(2000);
    const [b2, t2] = [await hostTxBytes(c, hosts), performance.now()];
    for (let u = 0; u < UPDATES; u++) {
      const h = ((u * 7) % n) + 1;
      const others = hosts.filter((i) => i !== h);
      const netns = await c.tb.addContainer(h, u + 2);
      const [cpuSender0, cpuOthers0, start] = [cpuOf(c, [h]), cpuOf(c, others), performance.now()];
      const ep = await api<LocalEndpoint>(c, h, 'POST', '/v1/attach', { network: NETWORK, netns });
      const arrived = await watch.firstPerHost(others, (e) => e.mac === ep.mac && !e.deleted, start, 30_000);
      if (arrived.size === others.length) lat.push(Math.max(...arrived.values()) - start);
      await sleep(gapMs);
      const spentS = (performance.now() - start) / 1000;
      const receivedCpu = cpuOf(c, others) - cpuOthers0 - (idleCpuMsPerS / n) * spentS * others.length;
      receiverCpuMs += receivedCpu;
      senderCpuMs += cpuOf(c, [h]) - cpuSender0 - (idleCpuMsPerS / n) * spentS;
      receiverS += others.length;
      blockCpu += receivedCpu;
      blockReceivers += others.length;
      if (bare && (u + 1) % BLOCK === 0) {
        const bareCpu = await bareBlock(bare, u * 11);
        bareBlocks.push(bareCpu);
        pairedRatios.push(+(blockCpu / blockReceivers / bareCpu).toFixed(2));
        [blockCpu, blockReceivers] = [0, 0];
      }
    }
    if (bare) {
      log(
        `paired blocks of ${BLOCK}: agent/bare CPU per receiver ${pairedRatios.join(', ')} → median ${median(pairedRatios)}`,
      );
      await bare.teardown();
      bare = undefined;
    }
    const [b3, t3] = [await hostTxBytes(c, hosts), performance.now()];
    const updS = (t3 - t2) / 1000;
    const bytesPerUpdate = (b3 - b2 - idleBytesPerS * updS) / UPDATES;
    const cpuPerUpdatePerMember = receiverCpuMs / receiverS;
    const senderCpuPerUpdate = senderCpuMs / UPDATES;
    log(
      `updates: p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms (${UPDATES - lat.length} lost); ${bytesPerUpdate.toFixed(0)} B on the wire; CPU ${cpuPerUpdatePerMember.toFixed(2)} ms per receiver, ${senderCpuPerUpdate.toFixed(1)} ms on the sender (attach included)`,
    );

    // A host crash: the last host loses power.
    const victim = n;
    const vtep = c.tb.host(victim).vtep;
    const others = hosts.filter((i) => i !== victim);
    const crashAt = performance.now();
    await c.tb.unplug(victim);
    await c.stopAgent(victim, 'SIGKILL');
    await c.tb.removeHost(victim);
    const gone = await until(
      async () => (await Promise.all(others.map(async (i) => !(await fdbTowards(c, i)).has(vtep)))).every(Boolean),
      60_000,
      100,
    );
    if (!gone) throw new Error(`N=${n}: the crashed host's entries were still in some kernel after 60 s`);
    const withdrawn = others.map((i) =>
      Math.max(
        ...watch.events
          .filter((e) => e.host === i && e.deleted && e.dst === vtep && e.at >= crashAt)
          .map((e) => e.at - crashAt),
      ),
    );
    log(
      `host crash: entries gone from every other kernel, p50 ${pct(withdrawn, 50).toFixed(0)} ms, max ${Math.max(...withdrawn).toFixed(0)} ms`,
    );

    watch.stop();
    await c.teardown();
    const bareRun = await bareGossipsubP99(n, UPDATES * 2, gapMs, WARMUP * 2);
    log(
      `bare gossipsub among ${n} processes: p50 ${bareRun.p50} ms, p99 ${bareRun.p99} ms (${bareRun.lost} lost), ${bareRun.cpuMsPerReceiver} ms CPU per receiver per message`,
    );
    return {
      n,
      all_alive_ms: aliveMs,
      convergence_p50_ms: Math.round(pct(lat, 50)),
      convergence_p99_ms: Math.round(pct(lat, 99)),
      bare_gossipsub_p99_ms: bareRun.p99,
      bare_gossipsub_cpu_ms_per_receiver: bareRun.cpuMsPerReceiver,
      updates: UPDATES,
      updates_lost: UPDATES - lat.length,
      bytes_per_update: Math.round(bytesPerUpdate),
      bytes_floor: (n - 1) * floors.recordBytes,
      cpu_ms_per_update_per_member: +cpuPerUpdatePerMember.toFixed(3),
      cpu_ms_per_update_sender: +senderCpuPerUpdate.toFixed(1),
      cpu_floor_ms: +floors.cpuMs.toFixed(3),
      idle_cpu_percent_per_agent: +(idleCpuMsPerS / n / 10).toFixed(3),
      idle_bytes_per_s_per_agent: Math.round(idleBytesPerS / n),
      rss_mb_per_agent: +mean(mem.map((m) => m.rssMb)).toFixed(1),
      pss_mb_per_agent: +mean(mem.map((m) => m.pssMb)).toFixed(1),
      bare_idle_cpu_percent_per_process: bareRun.idleCpuPercentPerProcess,
      bare_rss_mb_per_process: bareRun.rssMbPerProcess,
      bare_pss_mb_per_process: bareRun.pssMbPerProcess,
      host_crash_withdrawn_p50_ms: Math.round(pct(withdrawn, 50)),
      host_crash_withdrawn_max_ms: Math.round(Math.max(...withdrawn)),
      ...(pairedRatios.length
        ? {
            cpu_paired_ratio_to_bare_median: median(pairedRatios),
            cpu_paired_ratios: pairedRatios,
            bare_paired_cpu_ms_per_receiver: median(bareBlocks),
          }
        : {}),
    };
  } finally {
    watch.stop();
    await bare?.teardown();
    await c.teardown();
  }
}

function report(r: ScaleRun): void {
  const x = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
  console.log(`\nN=${r.n}`);
  console.log(`  all alive after the last start   ${r.all_alive_ms ?? 'never'} ms (target ≤ 10000)`);
  console.log(
    `  convergence p50/p99               ${r.convergence_p50_ms}/${r.convergence_p99_ms} ms  | bare gossipsub p99 ${r.bare_gossipsub_p99_ms} ms → ${x(r.convergence_p99_ms, r.bare_gossipsub_p99_ms)}`,
  );
  console.log(
    `  wire bytes per update             ${r.bytes_per_update} B | floor ${r.bytes_floor} B → ${x(r.bytes_per_update, r.bytes_floor)} (target ≤ 4× at N=25)`,
  );
  console.log(
    `  CPU per update per receiver       ${r.cpu_ms_per_update_per_member} ms | floor ${r.cpu_floor_ms} ms → ${x(r.cpu_ms_per_update_per_member, r.cpu_floor_ms)} (target ≤ 4× at N=25); sender ${r.cpu_ms_per_update_sender} ms (its attach included); a bare gossipsub message ${r.bare_gossipsub_cpu_ms_per_receiver} ms`,
  );
  if (r.cpu_paired_ratio_to_bare_median !== undefined)
    console.log(
      `  CPU per receiver, paired          median ${r.cpu_paired_ratio_to_bare_median}× a bare gossipsub message (target ≤ 1.2), blocks of ${BLOCK}: ${r.cpu_paired_ratios?.join(', ')}; bare ${r.bare_paired_cpu_ms_per_receiver} ms`,
    );
  console.log(
    `  idle per agent                    ${r.idle_cpu_percent_per_agent} % of a core (target ≤ 0.3 at N=50), ${r.idle_bytes_per_s_per_agent} B/s | bare stack ${r.bare_idle_cpu_percent_per_process} % → ${x(r.idle_cpu_percent_per_agent, r.bare_idle_cpu_percent_per_process)}`,
  );
  console.log(
    `  memory per agent                  RSS ${r.rss_mb_per_agent} MB (target ≤ 80), PSS ${r.pss_mb_per_agent} MB | bare stack RSS ${r.bare_rss_mb_per_process} MB, PSS ${r.bare_pss_mb_per_process} MB`,
  );
  console.log(
    `  host crash → withdrawn everywhere p50 ${r.host_crash_withdrawn_p50_ms} ms, max ${r.host_crash_withdrawn_max_ms} ms`,
  );
}

const floors = await measureFloors();
console.log(
  `floors: one signed JSON record ${floors.recordBytes} B; decode + verify once ${floors.cpuMs.toFixed(3)} ms`,
);
const runs: ScaleRun[] = [];
// Results are written after each size: a size that fails does not lose the ones before it.
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const file = path.join(resultsDir, 'scale.json');
function save(): void {
  // Sizes not run this time keep their earlier result (each run carries its date).
  let earlier: Array<ScaleRun & { date?: string }> = [];
  try {
    earlier = (JSON.parse(fs.readFileSync(file, 'utf8')) as { runs?: typeof earlier }).runs ?? [];
  } catch {
    /* first run */
  }
  const date = new Date().toISOString();
  const done = runs.map((r) => r.n);
  const merged = [...earlier.filter((r) => !done.includes(r.n)), ...runs.map((r) => ({ ...r, date }))].sort(
    (a, b) => a.n - b.n,
  );
  const out = { date, node: process.version, idle_s: IDLE_S, floor_record_bytes: floors.recordBytes, runs: merged };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
  console.log('written: bench/results/scale.json');
}
for (const n of SIZES) {
  runs.push(await runSize(n, floors));
  save();
}
for (const r of runs) report(r);
