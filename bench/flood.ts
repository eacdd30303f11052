/**
 * A misbehaving member: one member holding the cluster key publishes endpoint records as fast as it
 * can. Measured: how long an honest host's own update takes to reach another host's kernel (attach
 * on h2 over its admin API → the kernel's notification of the fdb entry towards it in h1's overlay), 10 times without the flood
 * and 10 times during it, in the same run; printed as the ratio of medians (target ≤ 2), with the
 * records the flooder published and those the others ignored over the limit.
 *
 * On this 2-core machine the flooder would otherwise take a core's worth of CPU from the agents it
 * floods (signing as fast as it can); in a cluster it is another host. So by default (VXMESH_FLOOD_PIN=0
 * turns it off) the flooder runs on the second core and everything else (the agents, the CLI, this
 * process) on the first.
 *
 * npm run bench:flood  → bench/results/flood.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { apiRequest } from '../cli/admin-client.js';
import { openNetns } from '../dataplane/netns.js';
import { KernelEventSocket } from '../dataplane/netlink/event-socket.js';
import { Cluster } from '../sim/cluster.js';
import { MemberProc } from '../test/fixtures/members.js';
import { sleep, until } from './wait.js';

$.verbose = false;
$.quiet = true;

const VNI = 3201;
const ROUNDS = Number(process.env.VXMESH_FLOOD_ROUNDS ?? 10);
const PIN = process.env.VXMESH_FLOOD_PIN !== '0';
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

/**
 * One own update: an attach on h2, asked over its admin API from this process (what `vxmesh attach`
 * sends), until the entry is in h1's kernel. Not through a CLI process: on this machine every host
 * shares one core, and a CLI's start (about a second of CPU loading Node and its modules) competing
 * with three flooded agents is the simulation's cost, not the cluster's. The arrival is the kernel's
 * own notification of the fdb entry in h1's overlay (read every 2 ms), not a `bridge fdb show`
 * process every 20 ms: that poller took CPU from the agents on their core and added up to 20 ms.
 */
async function converge(c: Cluster, watch: KernelEventSocket, k: number): Promise<number> {
  const netns = await c.tb.addContainer(2, 100 + k);
  watch.read(); // drop anything queued
  const added = new Map<string, number>();
  const collect = () => {
    const now = performance.now();
    for (const e of watch.read().events)
      if (!e.deleted && e.entry?.family === 'bridge' && e.entry.mac && !added.has(e.entry.mac))
        added.set(e.entry.mac, now);
  };
  const timer = setInterval(collect, 2);
  try {
    const t0 = performance.now();
    const ep = await apiRequest<{ mac: string }>(c.socket(2), 'POST', '/v1/attach', { network: 'fl', netns });
    if (!(await until(() => Promise.resolve(added.has(ep.mac)), 60_000, 2)))
      throw new Error(`attach ${k} never reached h1`);
    const ms = (added.get(ep.mac) ?? NaN) - t0;
    const ns = `${c.overlayPrefix(1)}${VNI}`;
    if (!(await $`bridge -n ${ns} fdb show dev vxlan${VNI}`).stdout.includes(ep.mac))
      throw new Error(`attach ${k}: notified but not in h1's fdb`);
    await apiRequest(c.socket(2), 'POST', '/v1/detach', { network: 'fl', netns });
    return ms;
  } finally {
    clearInterval(timer);
  }
}

async function main() {
  // Children inherit this process's CPU affinity: the agents and the CLI end up on core 0.
  if (PIN) await $`taskset -a -p -c 0 ${process.pid}`;
  const c = await Cluster.create(4, 'flood');
  let rogue: MemberProc | undefined;
  let watch: KernelEventSocket | undefined;
  let watchFd: number | undefined;
  try {
    for (const i of [1, 2, 3]) await c.startAgent(i, { args: ['--log-level', 'warn', '--metrics', '127.0.0.1:9477'] });
    await c.vx(1, ['network', 'create', 'fl', '--subnet', '198.18.32.0/24', '--vni', String(VNI)]);
    for (const i of [1, 2, 3]) {
      await until(async () => (await c.vx(i, ['network', 'inspect', 'fl'], { nothrow: true })).exitCode === 0, 15_000);
      await c.vx(i, ['attach', 'fl', '--netns', await c.tb.addContainer(i, 1)]);
    }
    const h4 = c.tb.host(4);
    rogue = new MemberProc(
      {
        name: 'flooder',
        vtep: h4.vtep,
        listen: `${h4.vtep}:7946`,
        seeds: [`${c.tb.host(1).vtep}:7946`],
        stateDir: path.join(c.dir, 'flooder'),
        clusterKeyFile: c.keyFile,
      },
      { netns: h4.netns },
    );
    await rogue.ready;
    if (PIN) await $`taskset -a -p -c 1 ${rogue.pid}`;
    await sleep(5000);
    watchFd = openNetns(`${c.overlayPrefix(1)}${VNI}`);
    watch = KernelEventSocket.open(watchFd);
    const normal: number[] = [];
    for (let k = 0; k < ROUNDS; k++) normal.push(await converge(c, watch, k));
    const counter = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    const h1Before = await c.metricsText(1, 9477);
    const floodMs = ROUNDS * 4000 + 20_000;
    const flood = rogue.call<{ records: number }>('flood', { ms: floodMs, network: 'fl' });
    await sleep(3000);
    const flooded: number[] = [];
    for (let k = 0; k < ROUNDS; k++) flooded.push(await converge(c, watch, 50 + k));
    const { records } = await flood;
    const h1After = await c.metricsText(1, 9477);
    const limited = Number(
      /vxmesh_gossip_records_rate_limited_total\{member="flooder"\} (\d+)/.exec(h1After)?.[1] ?? 0,
    );
    // What the flood made host 1's reconcile loop do: runs that compared with the kernel, and
    // change-started runs it skipped (the desired set was unchanged).
    const h1Reconciles = Object.fromEntries(
      (['vxmesh_reconcile_runs_total', 'vxmesh_reconcile_skipped_total'] as const).map((n) => [
        n.replace('vxmesh_reconcile_', '').replace('_total', ''),
        counter(h1After, n) - counter(h1Before, n),
      ]),
    );
    const result = {
      date: new Date().toISOString(),
      rounds: ROUNDS,
      measured:
        "attach asked over h2's admin API (no CLI process) until the kernel notifies the fdb entry in h1's overlay",
      flooderOnItsOwnCore: PIN,
      normalMs: { median: Math.round(median(normal)), max: Math.round(Math.max(...normal)) },
      duringFloodMs: { median: Math.round(median(flooded)), max: Math.round(Math.max(...flooded)) },
      ratio: +(median(flooded) / median(normal)).toFixed(2),
      flooderRecords: records,
      flooderRecordsPerSecond: Math.round(records / (floodMs / 1000)),
      ignoredOverLimitOnH1: limited,
      h1ReconcilesDuringFlood: h1Reconciles,
    };
    console.log(JSON.stringify(result, null, 2));
    console.log(`own-update convergence during the flood: ${result.ratio}× the normal median (target ≤ 2)`);
    fs.mkdirSync(path.join('bench', 'results'), { recursive: true });
    fs.writeFileSync(path.join('bench', 'results', 'flood.json'), `${JSON.stringify(result, null, 2)}\n`);
  } finally {
    watch?.close();
    if (watchFd !== undefined) fs.closeSync(watchFd);
    await rogue?.kill();
    await c.teardown();
  }
}

await main();
