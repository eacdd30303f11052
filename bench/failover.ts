/**
 * Silent host failure: one network, one endpoint per host; the last host loses power (its underlay
 * cable pulled, then its agent `kill -9`ed and its namespace deleted). Measured from the power loss:
 * when each other host's kernel has no fdb entry towards its VTEP any more (read from the kernel every
 * 20 ms), for N = 2, 3, 10 hosts, several crashes each (the host is rebuilt and its agent rejoins
 * between crashes). In the same run, the baseline: the same crash with Docker's swarm overlay on two
 * hosts (bench/swarm-failover.ts; VXMESH_FAILOVER_SWARM=0 skips it).
 *
 * npm run bench:failover  → bench/results/failover.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { Cluster } from '../sim/cluster.js';
import { readNamespaceTables } from '../dataplane/tables.js';
import { swarmHostCrash } from './swarm-failover.js';
import { sleep, until } from './wait.js';

const SIZES = (process.env.VXMESH_FAILOVER_SIZES ?? '2,3,10').split(',').map(Number);
const CRASHES = Number(process.env.VXMESH_FAILOVER_CRASHES ?? 5);
const VNI = 3001;
const ARGS = ['--reconcile-interval-ms', '2000', '--log-level', 'info'];

interface LogLine {
  time?: string | number;
  msg?: string;
  state?: string;
  peerId?: string;
}

/** Per other host, the first line of its agent's JSON log after `since` (epoch ms) that passes `test`, as ms after `since`. */
function firstLogged(
  c: Cluster,
  hosts: number[],
  since: number,
  test: (o: LogLine) => boolean,
): Array<{ ms: number; line: LogLine }> {
  const at: Array<{ ms: number; line: LogLine }> = [];
  for (const i of hosts) {
    const file = c.agents.get(i)?.logFile;
    if (!file || !fs.existsSync(file)) continue;
    for (const text of fs.readFileSync(file, 'utf8').split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        const o = JSON.parse(text) as LogLine;
        const t = typeof o.time === 'string' ? Date.parse(o.time) : o.time;
        if (t !== undefined && t >= since && test(o)) {
          at.push({ ms: t - since, line: o });
          break;
        }
      } catch {
        /* a line cut by the crash */
      }
    }
  }
  return at;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

async function hasEntryTowards(c: Cluster, i: number, vtep: string): Promise<boolean> {
  const tables = await readNamespaceTables(`${c.overlayPrefix(i)}${VNI}`);
  return tables.some((t) => t.fdb.some((e) => e.dst === vtep));
}

async function runSize(n: number) {
  const c = await Cluster.create(n, `fo${n}`);
  try {
    for (let i = 1; i <= n; i++) await c.startAgent(i, { args: ARGS });
    await c.vx(1, ['network', 'create', 'fo', '--subnet', '198.18.30.0/24', '--vni', String(VNI)]);
    // A crashed host's container namespaces stay (only the host namespace goes): a new one per life.
    const attach = async (i: number, life = 1) => {
      await until(async () => (await c.vx(i, ['network', 'inspect', 'fo'], { nothrow: true })).exitCode === 0, 15_000);
      await c.vx(i, ['attach', 'fo', '--netns', await c.tb.addContainer(i, life)]);
    };
    for (let i = 1; i <= n; i++) await attach(i);
    const victim = n;
    const others = Array.from({ length: n - 1 }, (_, k) => k + 1);
    const vtep = c.tb.host(victim).vtep;
    const samples: number[] = [];
    const suspectMax: number[] = [];
    const silentMax: number[] = [];
    for (let k = 0; k < CRASHES; k++) {
      const ready = await until(
        async () => (await Promise.all(others.map((i) => hasEntryTowards(c, i, vtep)))).every(Boolean),
        30_000,
      );
      if (!ready) throw new Error(`N=${n}: the victim's entries never reached every host`);
      await sleep(3000); // a quiet cluster before the crash
      // A power loss: the cable first (no FIN, no leave message gets out), then the process, then the host.
      const wall0 = Date.now();
      const t0 = performance.now();
      await c.tb.unplug(victim);
      await c.stopAgent(victim, 'SIGKILL');
      await c.tb.removeHost(victim);
      const gone = new Map<number, number>();
      while (gone.size < others.length && performance.now() - t0 < 30_000) {
        await Promise.all(
          others
            .filter((i) => !gone.has(i))
            .map(async (i) => {
              if (!(await hasEntryTowards(c, i, vtep))) gone.set(i, performance.now() - t0);
            }),
        );
        await sleep(20);
      }
      if (gone.size < others.length)
        throw new Error(`N=${n}: entries towards the crashed host still present after 30 s`);
      const max = Math.max(...gone.values());
      samples.push(Math.round(max));
      // Where the time went, from the other agents' logs: suspicion known, then the VTEP found silent.
      // (Only the crashed agent's own identity: earlier lives of the host are re-checked too.)
      const suspect = firstLogged(c, others, wall0, (o) => o.msg === 'member state' && o.state === 'suspect');
      const victimId = new Set(suspect.map((x) => x.line.peerId));
      const silent = firstLogged(
        c,
        others,
        wall0,
        (o) => (o.msg ?? '').startsWith('host of a silent or gone agent does not answer') && victimId.has(o.peerId),
      );
      const span = (xs: Array<{ ms: number }>) =>
        xs.length ? `${Math.min(...xs.map((x) => x.ms))}–${Math.max(...xs.map((x) => x.ms))} ms` : 'not logged';
      suspectMax.push(suspect.length ? Math.max(...suspect.map((x) => x.ms)) : NaN);
      silentMax.push(silent.length ? Math.max(...silent.map((x) => x.ms)) : NaN);
      console.log(
        `N=${n} crash ${k + 1}: withdrawn from every other kernel after ${Math.round(max)} ms (first ${Math.round(Math.min(...gone.values()))} ms); suspect known ${span(suspect)}, VTEP silent ${span(silent)}`,
      );
      if (k < CRASHES - 1) {
        await c.tb.recreateHost(victim);
        fs.rmSync(path.join(c.dir, `h${victim}`), { recursive: true, force: true });
        await c.startAgent(victim, { args: ARGS });
        await attach(victim, k + 2);
      }
    }
    return {
      n,
      crashes: samples.length,
      withdrawn_ms: samples,
      withdrawn_p50_ms: median(samples),
      withdrawn_max_ms: Math.max(...samples),
      suspect_known_max_ms: suspectMax,
      vtep_silent_max_ms: silentMax,
    };
  } finally {
    await c.teardown();
  }
}

const SWARM = process.env.VXMESH_FAILOVER_SWARM !== '0';
const swarm = SWARM ? await swarmHostCrash(Math.min(CRASHES, 3), console.log) : [];
const runs = [];
for (const n of SIZES) runs.push(await runSize(n));
console.log('\nhost crash (power loss) → entries withdrawn from every other kernel');
const swarmP50 = median(swarm);
if (SWARM)
  console.log(
    `  swarm overlay N=2: p50 ${swarmP50} ms, max ${Math.max(...swarm)} ms over ${swarm.length} crashes (baseline)`,
  );
for (const r of runs) {
  const ratio = SWARM ? `, ${(r.withdrawn_p50_ms / swarmP50).toFixed(2)} × swarm's p50` : '';
  console.log(
    `  vxmesh N=${String(r.n).padEnd(3)} p50 ${r.withdrawn_p50_ms} ms, max ${r.withdrawn_max_ms} ms over ${r.crashes} crashes${ratio}`,
  );
}
const baseline = SWARM ? { swarm_n2: { crashes: swarm.length, withdrawn_ms: swarm, withdrawn_p50_ms: swarmP50 } } : {};
const out = {
  date: new Date().toISOString(),
  node: process.version,
  ...baseline,
  runs: runs.map((r) => (SWARM ? { ...r, p50_vs_swarm: +(r.withdrawn_p50_ms / swarmP50).toFixed(2) } : r)),
};
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
fs.mkdirSync(resultsDir, { recursive: true });
fs.writeFileSync(path.join(resultsDir, 'failover.json'), `${JSON.stringify(out, null, 2)}\n`);
console.log(`written: bench/results/failover.json`);
