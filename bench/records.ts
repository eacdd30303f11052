/**
 * Many endpoints in one network, on one agent (a real process programming its kernel): members of the
 * cluster (discovery processes of the test fixtures, one per simulated host, each with its own claim)
 * write RECORDS_BIG (20,000) endpoint records of network `big`; one of them writes SMALL (100) of
 * network `small`. The agent has a container in both. Measured in one run:
 *   - an update's time to the agent's kernel (a member writes one more endpoint → the kernel's
 *     notification of its fdb entry in the agent's overlay namespace), in `big` and in `small`,
 *     interleaved, RECORDS_ROUNDS (10) each; the ratio of the medians (goal ≤ 1.5);
 *   - the agent's memory: RSS and V8 heap before the records come and at RECORDS_MEMORY (50,000)
 *     endpoint records (the big network grown by the rest), per record.
 * Each member writes RECORDS_PER_MEMBER (1,900: under an owner's burst of 2,000, so the agent admits them
 * at once). More per member means fewer member processes (each verifies every record: 11 of them at
 * 20,000 saturate 2 cores), the excess taken at the budget's pace through anti-entropy.
 *
 * npm run bench:records → bench/results/records.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { ipv4ToString, macFromIp, parseIPv4 } from '../core/addresses.js';
import { openNetns } from '../dataplane/netns.js';
import { KernelEventSocket } from '../dataplane/netlink/event-socket.js';
import { Cluster } from '../sim/cluster.js';
import { MemberProc } from '../test/fixtures/members.js';
import { memoryOf } from './proc-stats.js';
import { writeResults } from './results-file.js';
import { sleep, until } from './wait.js';

const BIG = Number(process.env.RECORDS_BIG ?? 20_000);
const MEMORY_AT = Number(process.env.RECORDS_MEMORY ?? 50_000);
const SMALL = 100;
const ROUNDS = Number(process.env.RECORDS_ROUNDS ?? 10);
/**
 * Records per member. Under an owner's burst (2,000; the default 1,900) the agent takes them at once;
 * above it, the burst at once and the rest at the budget's pace, through anti-entropy.
 */
const PER_MEMBER = Number(process.env.RECORDS_PER_MEMBER ?? 1900);
const VNI = { big: 4501, small: 4502 };
/** A member's claim: a /21 (2,048 addresses; a /19, 8,192, for more than 2,046 records each) of 198.19.0.0/16 (big) or 198.18.0.0/16 (small). */
const BLOCK_PREFIX = PER_MEMBER <= 2046 ? 21 : 19;
const BLOCK_OCTETS = 2 ** (24 - BLOCK_PREFIX);
const blockOf = (net: 'big' | 'small', j: number) =>
  `${net === 'big' ? '198.19' : '198.18'}.${BLOCK_OCTETS * j}.0/${BLOCK_PREFIX}`;
/** The agent's own range is 198.19.240.0/20: writers' blocks end below it. */
const MAX_BIG_MEMBERS = 240 / BLOCK_OCTETS;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;
const log = (s: string) => console.log(s);

const bigMembers = Math.ceil(Math.max(BIG, MEMORY_AT) / PER_MEMBER);
if (bigMembers > MAX_BIG_MEMBERS || PER_MEMBER > 8100)
  throw new Error(
    `RECORDS_PER_MEMBER ${PER_MEMBER}: ${bigMembers} writers needed (at most 8,100 records each), at most ${MAX_BIG_MEMBERS} blocks of /${BLOCK_PREFIX} fit below the agent's range`,
  );
const HOSTS = 1 + 1 + bigMembers; // the agent, the small network's member, the big network's members
const c = await Cluster.create(HOSTS, 'rec');
const members: MemberProc[] = [];
const sockets: Array<{ ks: KernelEventSocket; fd: number }> = [];

/** Heap used by the agent (prom-client's nodejs_heap_size_used_bytes), MB. */
async function heapMb(): Promise<number> {
  const text = await c.metricsText(1, 9478);
  return Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
}

async function agentEntries(vni: number): Promise<number> {
  const { $ } = await import('zx');
  const out = await $({ quiet: true })`bridge -n ${c.overlayPrefix(1)}${vni} fdb show dev vxlan${vni}`;
  return out.stdout.split('\n').filter((l) => l.includes(' dst ')).length;
}

/** One member writes one more endpoint; ms until the agent's kernel notifies its fdb entry. */
async function update(watch: KernelEventSocket, member: MemberProc, net: 'big' | 'small', ip: string): Promise<number> {
  watch.read();
  const mac = macFromIp(ip);
  let at: number | undefined;
  let overrun = false;
  const timer = setInterval(() => {
    const r = watch.read();
    overrun ||= r.overrun;
    for (const e of r.events)
      if (!e.deleted && e.entry?.family === 'bridge' && e.entry.mac === mac && at === undefined) at = performance.now();
  }, 2);
  try {
    const t0 = performance.now();
    const h = c.tb.host(members.indexOf(member) + 2);
    await member.call('putEndpoint', { network: net, id: `u-${ip}`, mac, ip, vtep: h.vtep, host: member.name });
    if (!(await until(() => Promise.resolve(at !== undefined), 60_000, 2))) {
      // What the agent makes of it: the record's status there, and the writer as a member.
      const rows = await c.vxJson<Array<{ ip: string; status: string }>>(1, ['endpoints', net]).catch(() => []);
      const peers = await c
        .vxJson<Array<{ name: string; state: string; dataplane: string }>>(1, ['peers'])
        .catch(() => []);
      const row = rows.find((r) => r.ip === ip);
      const peer = peers.find((p) => p.name === member.name);
      throw new Error(
        `the update ${ip} of ${net} never reached the agent's kernel (the agent lists it as ${row?.status ?? 'absent'}; ` +
          `the watch ${overrun ? 'overran: its notification may be lost' : 'lost nothing'}; ` +
          `${member.name} is ${peer?.state ?? 'unknown'}/${peer?.dataplane ?? '-'} there; ${await agentEntries(VNI[net])} entries)`,
      );
    }
    return (at ?? NaN) - t0;
  } finally {
    clearInterval(timer);
  }
}

try {
  await c.startAgent(1, {
    args: ['--log-level', process.env.RECORDS_LOG_LEVEL ?? 'warn', '--metrics', '127.0.0.1:9478'],
  });
  await c.vx(1, [
    'network',
    'create',
    'big',
    '--subnet',
    '198.19.0.0/16',
    '--ip-range',
    '198.19.240.0/20',
    '--vni',
    String(VNI.big),
  ]);
  await c.vx(1, [
    'network',
    'create',
    'small',
    '--subnet',
    '198.18.0.0/16',
    '--ip-range',
    '198.18.240.0/20',
    '--vni',
    String(VNI.small),
  ]);
  // The agent's containers and address blocks (--ip-range): far from the members' claims.
  await c.vx(1, ['attach', 'big', '--netns', await c.tb.addContainer(1, 1), '--ip', '198.19.250.10']);
  await c.vx(1, ['attach', 'small', '--netns', await c.tb.addContainer(1, 2), '--ip', '198.18.250.10']);
  await sleep(3000);
  const before = { ...memoryOf(c.agents.get(1)?.child.pid ?? -1), heapMb: await heapMb() };
  for (let j = 0; j < 1 + bigMembers; j++) {
    const h = c.tb.host(j + 2);
    members.push(
      new MemberProc(
        {
          name: `m${j + 2}`,
          vtep: h.vtep,
          listen: `${h.vtep}:7946`,
          seeds: [`${c.tb.host(1).vtep}:7946`],
          stateDir: path.join(c.dir, `m${j + 2}`),
          clusterKeyFile: c.keyFile,
        },
        { netns: h.netns },
      ),
    );
  }
  await Promise.all(members.map((m) => m.ready));
  const [smallMember, ...bigOnes] = members as [MemberProc, ...MemberProc[]];
  /** Writes `count` records of `net` by member j (of bigOnes), inside its claim. */
  const write = (m: MemberProc, net: 'big' | 'small', j: number, count: number) =>
    m.call('bulkEndpoints', {
      network: net,
      block: blockOf(net, j),
      base: ipv4ToString(parseIPv4(blockOf(net, j).split('/')[0]) + 2),
      count,
    });
  const t0 = performance.now();
  await write(smallMember, 'small', 0, SMALL);
  /**
   * The big network grows to `total` endpoints, one writer after the other, each waiting for the agent's
   * kernel to hold what was written: 2 cores run every process here, and writers all at once (each member
   * verifying every other's records) starved the members' probes until they were declared dead.
   */
  const grow = async (total: number) => {
    for (let j = 0; j * PER_MEMBER < total; j++) {
      const count = Math.min(PER_MEMBER, total - j * PER_MEMBER);
      const member = bigOnes[j] as MemberProc;
      const have = await agentEntries(VNI.big);
      if (have >= j * PER_MEMBER + count) continue;
      await write(member, 'big', j, count);
      let seen = 0;
      // Past its burst a writer's records come at the budget's pace through syncs whose partners are
      // picked at random (docs/protocol.md). The slowest seen: the burst (2,000) at once, then ~15
      // records/s; so count ÷ 20 per second (7,200 in 360 s), and never less than 180 s.
      const waitMs = Math.max(180_000, (count / 20) * 1000);
      const ok = await until(async () => (seen = await agentEntries(VNI.big)) >= j * PER_MEMBER + count, waitMs, 1000);
      if (!ok) {
        // The writer's records as the agent lists them, by status (absent: not in its table at all).
        const rows = await c.vxJson<Array<{ ip: string; status: string }>>(1, ['endpoints', 'big']).catch(() => []);
        const mine = rows.filter((r) => Math.floor(((parseIPv4(r.ip) >>> 8) & 255) / BLOCK_OCTETS) === j);
        const byStatus: Record<string, number> = {};
        for (const r of mine) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
        console.error(`writer ${j + 1}'s records as the agent lists them: ${JSON.stringify(byStatus)} (of ${count})`);
        const agent = c.agents.get(1);
        const tail = agent ? fs.readFileSync(agent.logFile, 'utf8').slice(-3000) : '';
        throw new Error(
          `writer ${j + 1}: the agent's kernel holds ${seen} of ${j * PER_MEMBER + count} entries of big:\n${tail}`,
        );
      }
    }
  };
  await grow(BIG);
  await until(async () => (await agentEntries(VNI.small)) >= SMALL, 60_000, 1000);
  log(`${BIG} + ${SMALL} records written and in the agent's kernel in ${Math.round(performance.now() - t0)} ms`);
  await sleep(5000);
  for (const vni of [VNI.big, VNI.small]) {
    const fd = openNetns(`${c.overlayPrefix(1)}${vni}`);
    sockets.push({ ks: KernelEventSocket.open(fd), fd });
  }
  const [bigWatch, smallWatch] = sockets.map((s) => s.ks) as [KernelEventSocket, KernelEventSocket];
  const times = { big: [] as number[], small: [] as number[] };
  const next = { big: 0, small: 0 };
  // Addresses past the written ones, in the first writer's claim (it has room: 2,046 or 8,190 − PER_MEMBER).
  const freshIp = (net: 'big' | 'small') =>
    ipv4ToString(parseIPv4(blockOf(net, 0).split('/')[0]) + 2 + PER_MEMBER + next[net]++);
  const bigWriter = bigOnes[0] as MemberProc;
  const monoUs = () => Number(process.hrtime.bigint() / 1000n);
  const COUNTERS = [
    'vxmesh_reconcile_runs_total',
    'vxmesh_reconcile_skipped_total',
    'vxmesh_kernel_events_total',
    'vxmesh_kernel_event_echoes_total',
  ];
  const counters = async () => {
    const text = await c.metricsText(1, 9478);
    return COUNTERS.map((n) => Number(new RegExp(`^${n} (\\S+)`, 'm').exec(text)?.[1] ?? NaN));
  };
  const counters0 = await counters();
  const window0 = monoUs();
  for (let r = 0; r < ROUNDS + 2; r++) {
    const b = await update(bigWatch, bigWriter, 'big', freshIp('big'));
    const s = await update(smallWatch, smallMember, 'small', freshIp('small'));
    if (r < 2) continue; // warm-up
    times.big.push(b);
    times.small.push(s);
  }
  console.error(`updates between ${window0} and ${monoUs()} (monotonic µs, for a CPU profile)`);
  const counted = (await counters()).map((v, k) => v - (counters0[k] ?? 0));
  const during = Object.fromEntries(COUNTERS.map((n, k) => [n.replace(/^vxmesh_|_total$/g, ''), counted[k]]));
  log(`during the updates: ${JSON.stringify(during)}`);
  const ratio = median(times.big) / median(times.small);
  log(
    `an update's time to the kernel: ${BIG} endpoints median ${median(times.big).toFixed(1)} ms, ${SMALL} endpoints ${median(times.small).toFixed(1)} ms: ${ratio.toFixed(2)}× (goal ≤ 1.5)`,
  );
  // Memory at MEMORY_AT records: the rest of the big network.
  const rest = MEMORY_AT - BIG;
  await grow(MEMORY_AT);
  const total = BIG + Math.max(0, rest) + SMALL + 2 * (ROUNDS + 2);
  if (!(await until(async () => (await agentEntries(VNI.big)) >= MEMORY_AT, 300_000, 2000)))
    throw new Error(`the agent's kernel never held ${MEMORY_AT} entries of big`);
  await sleep(10_000);
  const at = { ...memoryOf(c.agents.get(1)?.child.pid ?? -1), heapMb: await heapMb() };
  const perRecordKb = (mb: number) => +((mb * 1024) / total).toFixed(2);
  log(
    `agent memory: RSS ${before.rssMb.toFixed(1)} → ${at.rssMb.toFixed(1)} MB, heap ${before.heapMb.toFixed(1)} → ${at.heapMb.toFixed(1)} MB at ${total} endpoint records: ${perRecordKb(at.rssMb - before.rssMb)} KiB RSS, ${perRecordKb(at.heapMb - before.heapMb)} KiB heap per record`,
  );
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    big_endpoints: BIG,
    small_endpoints: SMALL,
    rounds: ROUNDS,
    update_to_kernel_big_median_ms: +median(times.big).toFixed(1),
    update_to_kernel_big_max_ms: +Math.max(...times.big).toFixed(1),
    update_to_kernel_small_median_ms: +median(times.small).toFixed(1),
    update_to_kernel_small_max_ms: +Math.max(...times.small).toFixed(1),
    big_over_small: +ratio.toFixed(2),
    agent_counters_during_updates: during,
    memory_records: total,
    rss_mb_before: +before.rssMb.toFixed(1),
    rss_mb_at_records: +at.rssMb.toFixed(1),
    heap_mb_before: +before.heapMb.toFixed(1),
    heap_mb_at_records: +at.heapMb.toFixed(1),
    rss_kib_per_record: perRecordKb(at.rssMb - before.rssMb),
    heap_kib_per_record: perRecordKb(at.heapMb - before.heapMb),
  };
  writeResults('records.json', result);
} finally {
  for (const s of sockets) {
    s.ks.close();
    fs.closeSync(s.fd);
  }
  await Promise.all(members.map((m) => m.kill()));
  await c.stopAgent(1).catch(() => undefined); // gracefully: a profile (VXMESH_AGENT_NODE_ARGS) is written at exit
  await c.teardown();
}
