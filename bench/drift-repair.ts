/**
 * Drift repaired at the kernel's event: on host 1 of a two-host cluster, an fdb or neighbour entry
 * towards host 2's endpoint is deleted by hand (`bridge fdb del` / `ip neigh del`, alternating), 100
 * times. Measured with a listener of our own in the overlay namespace: from the kernel's deletion
 * notification to the notification of the entry written back. Beside it, in the same run, the same
 * deletions with the agent's notifications off (`--no-kernel-events`): repaired by the periodic
 * reconcile (interval 5 s, the default), the only repair before.
 *
 * npm run bench:drift  → bench/results/drift-repair.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { Cluster } from '../sim/cluster.js';
import { openNetns } from '../dataplane/netns.js';
import { KernelEventSocket } from '../dataplane/netlink/event-socket.js';
import { sleep, until } from './wait.js';
import { cpuMsOf } from './proc-stats.js';

$.verbose = false;
$.quiet = true;

const VNI = 3101;
const INTERVAL_MS = 5000;
const EVENT_DELETIONS = Number(process.env.VXMESH_DRIFT_DELETIONS ?? 100);
const PERIODIC_DELETIONS = Number(process.env.VXMESH_DRIFT_PERIODIC_DELETIONS ?? 10);
/** Idle CPU of host 1's agent is sampled this long in each mode (the watch's cost when nothing happens). */
const IDLE_MS = Number(process.env.VXMESH_DRIFT_IDLE_MS ?? 30_000);

const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))] ?? NaN;
const round = (x: number) => Math.round(x * 10) / 10;

/** Deletes one entry by hand and times deletion notification → rewrite notification. */
async function timeRepair(
  ns: string,
  watch: KernelEventSocket,
  k: number,
  mac: string,
  ip: string,
  timeoutMs: number,
): Promise<number> {
  watch.read(); // drop anything queued
  if (k % 2 === 0) await $`bridge -n ${ns} fdb del ${mac} dev vxlan${VNI} self`;
  else await $`ip -n ${ns} neigh del ${ip} dev vxlan${VNI}`;
  let deletedAt: number | undefined;
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    const now = performance.now();
    for (const e of watch.read().events) {
      if (e.kind !== 'neigh') continue;
      if (e.deleted) deletedAt ??= now;
      else if (deletedAt !== undefined) return now - deletedAt;
    }
    await sleep(1);
  }
  throw new Error(`deletion ${k} not repaired within ${timeoutMs} ms`);
}

async function phase(c: Cluster, kernelEvents: boolean, n: number) {
  await c.stopAgent(1);
  await c.startAgent(1, {
    args: [
      '--reconcile-interval-ms',
      String(INTERVAL_MS),
      '--log-level',
      'info',
      ...(kernelEvents ? [] : ['--no-kernel-events']),
    ],
    join: [2],
  });
  let ep: { ip: string; mac: string } | undefined;
  await until(
    async () => {
      ep = (await c.vxJson<Array<{ ip: string; mac: string; host: string }>>(1, ['endpoints', 'drift'])).find(
        (e) => e.host === 'h2',
      );
      return ep !== undefined && (await c.vx(1, ['fdb', '--check'], { nothrow: true })).exitCode === 0;
    },
    30_000,
    200,
  );
  if (!ep) throw new Error("host 2's endpoint never reached host 1");
  const ns = `${c.overlayPrefix(1)}${VNI}`;
  const fd = openNetns(ns);
  const watch = KernelEventSocket.open(fd);
  const ms: number[] = [];
  try {
    for (let k = 0; k < n; k++) {
      ms.push(await timeRepair(ns, watch, k, ep.mac, ep.ip, INTERVAL_MS * 3));
      await sleep(kernelEvents ? 50 : Math.random() * 500);
    }
  } finally {
    watch.close();
    fs.closeSync(fd);
  }
  const pid = c.agents.get(1)?.child.pid as number;
  await sleep(2000);
  const cpu0 = cpuMsOf(pid);
  await sleep(IDLE_MS);
  const idleCpuPercent = Math.round(((cpuMsOf(pid) - cpu0) / IDLE_MS) * 10000) / 100;
  return {
    kernelEvents,
    idleCpuPercent,
    deletions: n,
    p50Ms: round(pct(ms, 0.5)),
    p90Ms: round(pct(ms, 0.9)),
    maxMs: round(Math.max(...ms)),
    minMs: round(Math.min(...ms)),
  };
}

async function main() {
  const c = await Cluster.create(2, 'drift');
  try {
    for (const i of [1, 2]) await c.startAgent(i, { args: ['--log-level', 'info'] });
    await c.vx(1, ['network', 'create', 'drift', '--subnet', '198.18.31.0/24', '--vni', String(VNI)]);
    for (const i of [1, 2]) {
      await until(
        async () => (await c.vx(i, ['network', 'inspect', 'drift'], { nothrow: true })).exitCode === 0,
        15_000,
      );
      await c.vx(i, ['attach', 'drift', '--netns', await c.tb.addContainer(i, 1)]);
    }
    const atEvent = await phase(c, true, EVENT_DELETIONS);
    console.log(
      `at the event: ${atEvent.deletions} deletions, repaired p50 ${atEvent.p50Ms} ms, p90 ${atEvent.p90Ms} ms, max ${atEvent.maxMs} ms; idle CPU ${atEvent.idleCpuPercent} % of a core`,
    );
    const periodic = await phase(c, false, PERIODIC_DELETIONS);
    console.log(
      `periodic only (every ${INTERVAL_MS} ms): ${periodic.deletions} deletions, repaired p50 ${periodic.p50Ms} ms, max ${periodic.maxMs} ms; idle CPU ${periodic.idleCpuPercent} % of a core`,
    );
    const result = {
      date: new Date().toISOString(),
      periodicIntervalMs: INTERVAL_MS,
      atEvent,
      periodicOnly: periodic,
      p50Ratio: round(periodic.p50Ms / atEvent.p50Ms),
    };
    console.log(`event repair p50 is ${result.p50Ratio}x faster than the periodic repair of the same run`);
    fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join('bench', 'results', 'drift-repair.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    await c.teardown();
  }
}

await main();
