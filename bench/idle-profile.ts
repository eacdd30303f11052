/**
 * Where an idle agent's CPU goes: N agents (IDLE_PROFILE_N, default 10), one network with an endpoint
 * on every host, 20 s to settle, then IDLE_PROFILE_S (60) s of idle with every agent under
 * `--cpu-prof`. Prints the self time of the top functions over the samples inside the idle window only
 * (V8 timestamps are the monotonic clock this process reads too), summed over the agents, and the
 * total as % of a core per agent. `npm run bench:idle-profile` (docs/scale.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cluster } from '../sim/cluster.js';
import { sleep } from './wait.js';

const N = Number(process.env.IDLE_PROFILE_N ?? 10);
const IDLE_S = Number(process.env.IDLE_PROFILE_S ?? 60);
const TOP = Number(process.env.IDLE_PROFILE_TOP ?? 30);

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Self time (µs) per function, over the samples between `from` and `to` (µs, monotonic). */
function selfTimes(profile: CpuProfile, from: number, to: number, into: Map<string, number>): number {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  let ts = profile.startTime;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    ts += dt;
    const f = frames.get(id);
    if (ts < from || ts > to || !f || f.functionName === '(idle)') return;
    const where = f.url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, '');
    const key = `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber}` : ''}`;
    into.set(key, (into.get(key) ?? 0) + dt);
    total += dt;
  });
  return total;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-idle-profile-'));
  process.env.VXMESH_AGENT_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${dir}`;
  process.env.VXMESH_LOG_LEVEL ??= 'warn';
  const c = await Cluster.create(N, 'prof');
  let window = { from: 0, to: 0 };
  try {
    for (let i = 1; i <= N; i++) await c.startAgent(i);
    await c.vx(1, ['network', 'create', 'idle', '--subnet', '198.18.0.0/16']);
    for (let i = 1; i <= N; i++) await c.vx(i, ['attach', 'idle', '--netns', await c.tb.addContainer(i, 1)]);
    await sleep(20_000);
    const from = monotonicUs();
    await sleep(IDLE_S * 1000);
    window = { from, to: monotonicUs() };
    for (let i = 1; i <= N; i++) await c.stopAgent(i); // the profiles are written at exit
  } finally {
    await c.teardown();
  }
  const self = new Map<string, number>();
  let total = 0;
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.cpuprofile')))
    total += selfTimes(
      JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile,
      window.from,
      window.to,
      self,
    );
  fs.rmSync(dir, { recursive: true, force: true });
  const windowMs = (window.to - window.from) / 1000;
  console.log(
    `${N} agents, ${(windowMs / 1000).toFixed(0)} s idle: ${((total / 1000 / N / windowMs) * 100).toFixed(3)} % of a core per agent (JavaScript thread samples)`,
  );
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP))
    console.log(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

await main();
