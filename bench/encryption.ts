/**
 * Encryption benchmark (not a test): TCP throughput (iperf3) and ping latency between two containers
 * on two simulated hosts, over
 *   1. a vxmesh encrypted network (VXLAN inside WireGuard, built by the agents),
 *   2. the same path built by hand in the same run with the same WireGuard implementation (wireguard-go
 *      here: this kernel has no WireGuard module): wg interface, VXLAN over the tunnel's IPv6, a
 *      bridge and a veth to the container, MTU 1370 — the baseline (goal: vxmesh ≥ 0.9×),
 *   3. a vxmesh plain network (the price of encryption).
 * CPU per gigabit: the machine's busy CPU time during each iperf3 run (both hosts are on this
 * machine) per Gbit carried. Writes bench/results/encryption.json.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { Cluster } from '../sim/cluster.js';
import { Testbed } from '../sim/testbed.js';

$.verbose = false;
$.quiet = true;

const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 5);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const PINGS = 200;
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const cleanups: Array<() => void> = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Busy and total jiffies of the whole machine (/proc/stat). */
function cpuJiffies(): { busy: number; total: number } {
  const f = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

interface PathResult {
  gbps: number;
  /** Core-seconds of busy CPU (the whole machine) per Gbit carried. */
  cpuSecondsPerGbit: number;
  rttMs: number;
}

interface Path {
  tb: Testbed;
  server: string;
  client: string;
  serverIp: string;
}

/** One iperf3 run: Gbit/s and busy core-seconds per Gbit. */
async function iperfOnce(p: Path): Promise<{ gbps: number; cpu: number }> {
  const server = p.tb.spawnIn(p.server, 'iperf3', ['-s', '-1', '-B', p.serverIp], { stdio: 'ignore' });
  try {
    for (let k = 0; k < 100; k++) {
      if ((await p.tb.exec(p.server, ['ss', '-H', '-tln'], { nothrow: true })).stdout.includes(':5201')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const c0 = cpuJiffies();
    const r = await p.tb.exec(p.client, ['iperf3', '-c', p.serverIp, '-t', String(SECONDS), '-J']);
    const c1 = cpuJiffies();
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number; seconds: number } } };
    const gbps = j.end.sum_received.bits_per_second / 1e9;
    return { gbps, cpu: (c1.busy - c0.busy) / 100 / (gbps * j.end.sum_received.seconds) };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
  }
}

async function rtt(p: Path): Promise<number> {
  const r = await p.tb.exec(p.client, ['ping', '-n', '-q', '-c', String(PINGS), '-i', '0.01', p.serverIp]);
  return Number(/= [\d.]+\/([\d.]+)\//.exec(r.stdout)?.[1] ?? NaN);
}

/** The paths measured in turns (a run of each, RUNS times): the machine's drift spreads over all of them. */
async function measureInTurns(paths: Path[]): Promise<PathResult[]> {
  const runs = paths.map(() => [] as Array<{ gbps: number; cpu: number }>);
  for (let i = 0; i < RUNS; i++) for (const [k, p] of paths.entries()) runs[k]?.push(await iperfOnce(p));
  const out: PathResult[] = [];
  for (const [k, p] of paths.entries()) {
    const r = runs[k] ?? [];
    out.push({
      gbps: median(r.map((x) => x.gbps)),
      cpuSecondsPerGbit: median(r.map((x) => x.cpu)),
      rttMs: await rtt(p),
    });
  }
  return out;
}

/** VXLAN inside WireGuard between two testbed hosts, built with ip/wg/wireguard-go only. */
async function handBuilt(tb: Testbed): Promise<{ server: string; client: string; serverIp: string }> {
  const tag = process.pid.toString(36).slice(-4);
  const tunnel = (i: number) => `fd7a:6d73:6801:ffff::${i}`;
  const keys = [1, 2].map(() => '');
  const pubs = [1, 2].map(() => '');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-encb-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const i of [0, 1]) {
    keys[i] = path.join(dir, `k${i}`);
    const k = (await $`wg genkey`).stdout.trim();
    fs.writeFileSync(keys[i] as string, `${k}\n`, { mode: 0o600 });
    pubs[i] = (await $`echo ${k} | wg pubkey`).stdout.trim();
  }
  const conts: string[] = [];
  for (const i of [1, 2]) {
    const h = tb.host(i);
    const other = tb.host(3 - i);
    const wg = `vxbw${tag}${i}`;
    // Killed by PID at teardown (SIGKILL): its control socket stays behind unless removed.
    cleanups.push(() => fs.rmSync(`/var/run/wireguard/${wg}.sock`, { force: true }));
    // As an administrator runs it: a daemon in a session of its own (wireguard-go without
    // WG_PROCESS_FOREGROUND forks into one), as the agent starts it. Measured: in the session of the
    // benchmark and iperf3 (the kernel's autogroup scheduling shares the CPU per session) the same
    // wireguard-go got ~25 % more throughput on this 2-core machine than in a session of its own.
    const daemon = spawn('nsenter', [`--net=/run/netns/${h.netns}`, 'wireguard-go', wg], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, WG_PROCESS_FOREGROUND: '1' },
    });
    daemon.unref();
    if (daemon.pid !== undefined) tb.track(daemon.pid);
    for (let k = 0; k < 100 && (await tb.exec(h.netns, ['ip', 'link', 'show', wg], { nothrow: true })).exitCode; k++)
      await new Promise((r) => setTimeout(r, 50));
    const key = keys[i - 1] as string;
    const peer = pubs[2 - i] as string;
    await tb.exec(h.netns, ['wg', 'set', wg, 'private-key', key, 'listen-port', '51821', 'peer', peer]);
    await tb.exec(h.netns, ['wg', 'set', wg, 'peer', peer, 'endpoint', `${other.vtep}:51821`]);
    await tb.exec(h.netns, ['wg', 'set', wg, 'peer', peer, 'allowed-ips', `${tunnel(3 - i)}/128`]);
    await tb.exec(h.netns, ['ip', '-6', 'addr', 'add', `${tunnel(i)}/128`, 'dev', wg, 'nodad']);
    await tb.exec(h.netns, ['ip', 'link', 'set', wg, 'mtu', '1440', 'up']);
    await tb.exec(h.netns, ['ip', '-6', 'route', 'add', `${tunnel(3 - i)}/128`, 'dev', wg]);
    const ov = `${tb.prefix}hbo${i}`;
    await $`ip netns add ${ov}`;
    const vx = `vxbx${tag}${i}`;
    await tb.exec(h.netns, [
      'ip',
      'link',
      'add',
      vx,
      'type',
      'vxlan',
      'id',
      '77',
      'local',
      tunnel(i),
      'remote',
      tunnel(3 - i),
      'dstport',
      '4791',
    ]);
    await tb.exec(h.netns, ['ip', 'link', 'set', vx, 'netns', ov]);
    const ct = await tb.addContainer(i, 7);
    await $`ip -n ${ov} link add br0 type bridge`;
    await $`ip -n ${ov} link set ${vx} master br0 mtu 1370 up`;
    await $`ip -n ${ov} link add vh0 mtu 1370 type veth peer name eth0 netns ${ct}`;
    await $`ip -n ${ov} link set vh0 master br0 up`;
    await $`ip -n ${ov} link set br0 mtu 1370 up`;
    await $`ip -n ${ct} link set eth0 mtu 1370 up`;
    await $`ip -n ${ct} addr add 198.18.99.${i}/24 dev eth0`;
    conts.push(ct);
  }
  for (let k = 0; k < 100 && !(await tb.ping(conts[0] as string, '198.18.99.2', { timeoutS: 1 })); k++);
  return { server: conts[1] as string, client: conts[0] as string, serverIp: '198.18.99.2' };
}

const c = await Cluster.create(2, 'encb');
const hb = await Testbed.create({ hosts: 2, tag: 'encbh' });
try {
  for (const i of [1, 2]) await c.startAgent(i, { args: ['--log-level', 'warn'] });
  await c.vx(1, ['network', 'create', 'sec', '--subnet', '198.18.64.0/24', '--encrypted']);
  await c.vx(1, ['network', 'create', 'clear', '--subnet', '198.18.65.0/24']);
  for (let k = 0; k < 100 && (await c.vx(2, ['network', 'inspect', 'clear'], { nothrow: true })).exitCode; k++)
    await new Promise((r) => setTimeout(r, 100));
  const attach = async (host: number, j: number, net: string) => {
    const netns = await c.tb.addContainer(host, j);
    return { netns, ...(await c.vxJson<{ ip: string }>(host, ['attach', net, '--netns', netns])) };
  };
  const [a, b, pa, pb] = [
    await attach(1, 1, 'sec'),
    await attach(2, 1, 'sec'),
    await attach(1, 2, 'clear'),
    await attach(2, 2, 'clear'),
  ];
  for (const [x, y] of [
    [a, b],
    [pa, pb],
  ] as const)
    for (let k = 0; k < 100 && !(await c.tb.ping(x.netns, y.ip, { timeoutS: 1 })); k++);
  const manual = await handBuilt(hb);
  const [encrypted, baseline, plain] = (await measureInTurns([
    { tb: c.tb, server: b.netns, client: a.netns, serverIp: b.ip },
    { tb: hb, ...manual },
    { tb: c.tb, server: pb.netns, client: pa.netns, serverIp: pb.ip },
  ])) as [PathResult, PathResult, PathResult];
  const result = {
    date: new Date().toISOString(),
    implementation: 'wireguard-go (userspace; this kernel has no WireGuard module)',
    iperfSeconds: SECONDS,
    runs: RUNS,
    encrypted,
    handBuilt: baseline,
    plain,
    ratios: {
      throughputVsHandBuilt: +(encrypted.gbps / baseline.gbps).toFixed(3),
      rttVsHandBuilt: +(encrypted.rttMs / baseline.rttMs).toFixed(3),
      throughputVsPlain: +(encrypted.gbps / plain.gbps).toFixed(4),
      cpuPerGbitVsPlain: +(encrypted.cpuSecondsPerGbit / plain.cpuSecondsPerGbit).toFixed(2),
    },
  };
  fs.mkdirSync(resultsDir, { recursive: true });
  fs.writeFileSync(path.join(resultsDir, 'encryption.json'), `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result, null, 2));
} finally {
  await hb.teardown();
  await c.teardown();
  for (const f of cleanups) f();
}
