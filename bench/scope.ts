/**
 * Interest-scoped distribution measured: SCOPE_HOSTS (20) agents as processes, one per simulated host,
 * in networks of SCOPE_NETWORK_SIZE (5) hosts each (one endpoint per host). In one run:
 *   - SCOPE_UPDATES (20) updates in the first network (an endpoint attached on its hosts in turn, after
 *     SCOPE_WARMUP unmeasured ones): CPU per update of each receiving member of that network and of each
 *     host outside it (read around each update, the idle rate subtracted), and the ratio of the two
 *     (goal ≤ 5 %); convergence to the members' kernels, p50/p99; underlay bytes per update of both groups;
 *   - the first attach of a network on a host that holds nothing of it (a host of the second network
 *     attaching to the first): the attach's time beside the next attach's on the same host and network,
 *     and how many of the network's fdb entries are in that host's kernel when the first attach returns.
 *
 * npm run bench:scope → bench/results/scope.json
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LocalEndpoint } from '../agent/local-state.js';
import { readNamespaceTables } from '../dataplane/tables.js';
import { Cluster } from '../sim/cluster.js';
import { FdbWatch } from './fdb-watch.js';
import { pct } from './proc-stats.js';
import { allAlive, api, cpuOf, hostTxBytes, range, startAgents } from './scale-cluster.js';
import { sleep, until } from './wait.js';

const HOSTS = Number(process.env.SCOPE_HOSTS ?? 20);
const SIZE = Number(process.env.SCOPE_NETWORK_SIZE ?? 5);
const UPDATES = Number(process.env.SCOPE_UPDATES ?? 20);
const WARMUP = Number(process.env.SCOPE_WARMUP ?? 6);
const IDLE_S = Number(process.env.SCOPE_IDLE_S ?? 20);
const ARGS = ['--log-level', 'warn'];
const NETWORKS = Math.floor(HOSTS / SIZE);
if (NETWORKS < 2)
  throw new Error(`SCOPE_HOSTS (${HOSTS}) must hold at least two networks of SCOPE_NETWORK_SIZE (${SIZE})`);

const netName = (k: number) => `scope${k}`;
const vni = (k: number) => 4300 + k;
const hostsOf = (k: number) => range(SIZE).map((j) => k * SIZE + j);

async function entriesIn(c: Cluster, host: number, k: number): Promise<number> {
  const tables = await readNamespaceTables(`${c.overlayPrefix(host)}${vni(k)}`).catch(() => []);
  return tables.reduce((n, t) => n + t.fdb.filter((e) => e.dst !== undefined).length, 0);
}

const c = await Cluster.create(HOSTS, 'sco');
const watch = new FdbWatch();
const log = (s: string) => console.log(s);
try {
  const lastStart = await startAgents(c, HOSTS, ARGS);
  const aliveMs = await allAlive(c, HOSTS, lastStart, 300_000);
  log(
    `${HOSTS} agents, all alive ${aliveMs ?? 'NEVER'} ms after the last start; ${NETWORKS} networks of ${SIZE} hosts`,
  );
  for (let k = 0; k < NETWORKS; k++)
    await api(c, 1, 'POST', '/v1/networks', { name: netName(k), vni: vni(k), subnet: `198.18.${k}.0/24` });
  const known = await until(
    async () =>
      (
        await Promise.all(
          range(HOSTS).map((i) => api<unknown[]>(c, i, 'GET', '/v1/networks').then((l) => l.length >= NETWORKS)),
        )
      ).every(Boolean),
    60_000,
    250,
  );
  if (!known) throw new Error('the networks did not reach every agent within 60 s');
  for (let k = 0; k < NETWORKS; k++)
    for (const i of hostsOf(k))
      await api<LocalEndpoint>(c, i, 'POST', '/v1/attach', {
        network: netName(k),
        netns: await c.tb.addContainer(i, 1),
      });
  const complete = await until(
    async () =>
      (
        await Promise.all(
          range(NETWORKS * SIZE).map(async (i) => (await entriesIn(c, i, Math.floor((i - 1) / SIZE))) >= SIZE - 1),
        )
      ).every(Boolean),
    120_000,
    500,
  );
  if (!complete) throw new Error("the first endpoints did not reach their networks' kernels within 120 s");
  const members = hostsOf(0);
  const outside = range(HOSTS).filter((i) => !members.includes(i));
  for (const i of members) await watch.watch(i, `${c.overlayPrefix(i)}${vni(0)}`);
  await sleep(3000);

  const all = range(HOSTS);
  const [cpu0, b0, t0] = [cpuOf(c, all), await hostTxBytes(c, all), performance.now()];
  await sleep(IDLE_S * 1000);
  const idleS = (performance.now() - t0) / 1000;
  const idleMsPerS = (cpuOf(c, all) - cpu0) / idleS / HOSTS;
  const idleBytesPerS = ((await hostTxBytes(c, all)) - b0) / idleS / HOSTS;
  log(`idle: ${(idleMsPerS / 10).toFixed(2)} % of a core per agent`);

  for (let u = 0; u < WARMUP; u++) {
    const h = members[u % SIZE] as number;
    const ep = await api<LocalEndpoint>(c, h, 'POST', '/v1/attach', {
      network: netName(0),
      netns: await c.tb.addContainer(h, 1000 + u),
    });
    await watch.firstPerHost(
      members.filter((i) => i !== h),
      (e) => e.mac === ep.mac && !e.deleted,
      0,
      30_000,
    );
  }
  await sleep(2000);
  const lat: number[] = [];
  let memberCpu = 0;
  let memberN = 0;
  let outsideCpu = 0;
  const [mb0, ob0, tb0] = [await hostTxBytes(c, members), await hostTxBytes(c, outside), performance.now()];
  for (let u = 0; u < UPDATES; u++) {
    const h = members[u % SIZE] as number;
    const receivers = members.filter((i) => i !== h);
    const netns = await c.tb.addContainer(h, u + 2);
    const [r0, o0, start] = [cpuOf(c, receivers), cpuOf(c, outside), performance.now()];
    const ep = await api<LocalEndpoint>(c, h, 'POST', '/v1/attach', { network: netName(0), netns });
    const arrived = await watch.firstPerHost(receivers, (e) => e.mac === ep.mac && !e.deleted, start, 30_000);
    if (arrived.size === receivers.length) lat.push(Math.max(...arrived.values()) - start);
    await sleep(500);
    const spentS = (performance.now() - start) / 1000;
    memberCpu += cpuOf(c, receivers) - r0 - idleMsPerS * spentS * receivers.length;
    memberN += receivers.length;
    outsideCpu += cpuOf(c, outside) - o0 - idleMsPerS * spentS * outside.length;
  }
  const updS = (performance.now() - tb0) / 1000;
  const [mb1, ob1] = [await hostTxBytes(c, members), await hostTxBytes(c, outside)];
  const memberMs = memberCpu / memberN;
  const outsideMs = outsideCpu / (UPDATES * outside.length);
  log(
    `updates in ${netName(0)}: p50 ${pct(lat, 50).toFixed(0)} ms, p99 ${pct(lat, 99).toFixed(0)} ms (${UPDATES - lat.length} lost); CPU per update ${memberMs.toFixed(2)} ms per receiving member, ${outsideMs.toFixed(2)} ms per host outside the network (${((outsideMs / memberMs) * 100).toFixed(1)} %)`,
  );

  // The first attach of a network nobody holds yet (nothing to fetch; its overlay built): the baseline
  // of a first attach. Then, on the same host, the first attach of a network others hold (its records
  // fetched first), then the next one.
  const newcomer = hostsOf(1)[0] as number;
  await api(c, 1, 'POST', '/v1/networks', { name: 'scopefresh', vni: 4399, subnet: '198.18.250.0/24' });
  await until(
    () =>
      api(c, newcomer, 'GET', '/v1/networks/scopefresh').then(
        () => true,
        () => false,
      ),
    30_000,
    100,
  );
  let t = performance.now();
  await api<LocalEndpoint>(c, newcomer, 'POST', '/v1/attach', {
    network: 'scopefresh',
    netns: await c.tb.addContainer(newcomer, 499),
  });
  const freshMs = performance.now() - t;
  const before = (await api<Array<{ network: string }>>(c, newcomer, 'GET', '/v1/endpoints')).filter(
    (e) => e.network === netName(0),
  ).length;
  t = performance.now();
  await api<LocalEndpoint>(c, newcomer, 'POST', '/v1/attach', {
    network: netName(0),
    netns: await c.tb.addContainer(newcomer, 500),
  });
  const firstMs = performance.now() - t;
  const entriesAtReturn = await entriesIn(c, newcomer, 0);
  const expected = SIZE + WARMUP + UPDATES;
  t = performance.now();
  await api<LocalEndpoint>(c, newcomer, 'POST', '/v1/attach', {
    network: netName(0),
    netns: await c.tb.addContainer(newcomer, 501),
  });
  const nextMs = performance.now() - t;
  log(
    `first attach of ${netName(0)} on h${newcomer} (held ${before} of its endpoints before): ${firstMs.toFixed(0)} ms (records fetched), of a network nobody holds ${freshMs.toFixed(0)} ms, the next ${nextMs.toFixed(0)} ms; ${entriesAtReturn} of ${expected} fdb entries in its kernel as the first returned`,
  );
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    hosts: HOSTS,
    networks: NETWORKS,
    network_size: SIZE,
    all_alive_ms: aliveMs,
    idle_cpu_percent_per_agent: +(idleMsPerS / 10).toFixed(3),
    updates: UPDATES,
    updates_lost: UPDATES - lat.length,
    convergence_p50_ms: Math.round(pct(lat, 50)),
    convergence_p99_ms: Math.round(pct(lat, 99)),
    cpu_ms_per_update_per_member: +memberMs.toFixed(3),
    cpu_ms_per_update_per_outside_host: +outsideMs.toFixed(3),
    outside_over_member: +(outsideMs / memberMs).toFixed(4),
    // Sent on the underlay per update, the idle rate subtracted: by the network's hosts, by the others (all of them).
    bytes_per_update_members: Math.round((mb1 - mb0 - idleBytesPerS * members.length * updS) / UPDATES),
    bytes_per_update_outside: Math.round((ob1 - ob0 - idleBytesPerS * outside.length * updS) / UPDATES),
    update_window_s: +updS.toFixed(1),
    outside_held_before_first_attach: before,
    first_attach_ms: Math.round(firstMs),
    first_attach_nothing_to_fetch_ms: Math.round(freshMs),
    next_attach_ms: Math.round(nextMs),
    first_attach_entries_at_return: entriesAtReturn,
    first_attach_entries_expected: expected,
  };
  console.log(
    `\nscope: outside/member CPU per update ${(result.outside_over_member * 100).toFixed(1)} % (goal ≤ 5 %); first attach ${(firstMs / freshMs).toFixed(2)}× a first attach with nothing to fetch (${Math.round(firstMs - freshMs)} ms more); bytes per update sent by members ${result.bytes_per_update_members} B, by the ${outside.length} hosts outside ${result.bytes_per_update_outside} B`,
  );
  const file = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results', 'scope.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log('written: bench/results/scope.json');
} finally {
  watch.stop();
  await c.teardown();
}
