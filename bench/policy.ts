/**
 * Routing and policy between networks: TCP throughput (iperf3) and connection rate (short TCP
 * connections, one after the other from one process, to a server in one process, for CONN_SECONDS) from a container of network a on host 1 to a
 * container of network b on host 2 (connected, a rule allowing the port), beside the same to a
 * container of a on host 2 (within one network), interleaved, medians of paired ratios; with 10 and
 * with 1,000 rules into b (the filter's sets: a packet costs one lookup whatever their number).
 * Goal: across ≥ 0.9× within. `npm run bench:policy` → bench/results/policy.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { Cluster } from '../sim/cluster.js';
import { apiRequest } from '../cli/admin-client.js';

const SECONDS = Number(process.env.POLICY_IPERF_S ?? 4);
const CONN_SECONDS = Number(process.env.POLICY_CONN_S ?? 3);
const RUNS = Number(process.env.POLICY_RUNS ?? 3);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  for (const [tool, pkg] of [
    ['iperf3', 'iperf3'],
    ['nft', 'nftables'],
    ['busybox', 'busybox-static'],
  ] as const)
    if ((await $`command -v ${tool}`.nothrow()).exitCode !== 0)
      throw new Error(`${tool} is missing: install the Debian package ${pkg}`);
  const c = await Cluster.create(2, 'bpol');
  process.once('SIGINT', () => void c.teardown().then(() => process.exit(130)));
  try {
    for (const i of [1, 2]) await c.startAgent(i);
    await c.vx(1, ['network', 'create', 'a', '--subnet', '198.18.121.0/24']);
    await c.vx(1, ['network', 'create', 'b', '--subnet', '198.18.122.0/24']);
    await new Promise((r) => setTimeout(r, 2000));
    const attach = async (host: number, net: string, j: number) => {
      const ns = await c.tb.addContainer(host, j);
      return { ns, ip: (await c.vxJson<{ ip: string }>(host, ['attach', net, '--netns', ns])).ip };
    };
    const vniOf = async (n: string) => (await c.vxJson<{ vni: number }>(1, ['network', 'inspect', n])).vni;
    const client = await attach(1, 'a', 1);
    const within = await attach(2, 'a', 2);
    const across = await attach(2, 'b', 3);
    await c.vx(1, ['network', 'connect', 'a', 'b']);
    await c.vx(1, ['policy', 'allow', 'b', '--from', 'a', '--to-port', 'tcp/5201', '--to-port', 'tcp/7000']);
    for (const s of [within, across]) {
      c.tb.spawnIn(s.ns, 'iperf3', ['-s', '-B', s.ip], { stdio: 'ignore' });
      // A server that accepts and closes, in one process (no process per connection).
      const server = `require('net').createServer((s) => s.end()).listen(7000, '${s.ip}')`;
      c.tb.spawnIn(s.ns, process.execPath, ['-e', server], { stdio: 'ignore' });
    }
    await new Promise((r) => setTimeout(r, 2000));
    const iperf = async (to: { ip: string }) => {
      const r = await c.tb.exec(client.ns, ['iperf3', '-c', to.ip, '-t', String(SECONDS), '-J']);
      return (
        (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
          .bits_per_second / 1e9
      );
    };
    // Connections per second: one process in the client opening one connection after the other
    // (each: handshake, the server's close, ours) for CONN_SECONDS.
    const connRate = async (to: { ip: string }) => {
      const script = `const net = require('net'); let n = 0; const end = Date.now() + ${CONN_SECONDS * 1000};
        const one = () => { if (Date.now() >= end) { console.log(n); return; }
          const s = net.connect(7000, '${to.ip}'); s.on('error', () => undefined);
          s.on('close', (err) => { if (!err) n++; one(); }); s.resume(); };
        one();`;
      const r = await c.tb.exec(client.ns, [process.execPath, '-e', script]);
      return Number(r.stdout.trim()) / CONN_SECONDS;
    };
    const measure = async () => {
      const g = { across: [] as number[], within: [] as number[] };
      const k = { across: [] as number[], within: [] as number[] };
      for (let i = 0; i < RUNS; i++) {
        g.across.push(await iperf(across));
        g.within.push(await iperf(within));
        k.across.push(await connRate(across));
        k.within.push(await connRate(within));
      }
      const ratio = (x: { across: number[]; within: number[] }) =>
        +median(x.across.map((v, i) => v / (x.within[i] as number))).toFixed(3);
      return {
        gbps: { across: +median(g.across).toFixed(2), within: +median(g.within).toFixed(2), ratio: ratio(g) },
        connections_per_s: {
          across: +median(k.across).toFixed(1),
          within: +median(k.within).toFixed(1),
          ratio: ratio(k),
        },
      };
    };
    // A rule written on host 1 until host 2's filter (where the traffic arrives) holds it, 5 times.
    const propagation: number[] = [];
    for (let k = 0; k < 5; k++) {
      const port = 30000 + k;
      const t0 = performance.now();
      await apiRequest(c.socket(1), 'POST', '/v1/policy', { network: 'b', from: 'a', ports: [`tcp/${port}`] });
      for (;;) {
        const set = await $({
          nothrow: true,
        })`ip netns exec ${c.overlayPrefix(2)}${await vniOf('b')} nft list set inet vxmesh ports4`;
        if (set.stdout.includes(`tcp . ${port}`)) break;
        if (performance.now() - t0 > 30_000) throw new Error('a rule did not reach host 2 within 30 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      propagation.push(performance.now() - t0);
    }
    console.log(`a rule written on host 1 → in host 2's filter: ${propagation.map((x) => x.toFixed(0)).join(', ')} ms`);
    const rulesInto = async () => (await c.vxJson<unknown[]>(2, ['policy', 'ls', 'b'])).length;
    // 10 rules into b (8 more, on ports nothing listens on), then 1,000.
    const add = async (from: number, to: number) => {
      for (let p = from; p < to; p++)
        await apiRequest(c.socket(1), 'POST', '/v1/policy', { network: 'b', from: 'a', ports: [`tcp/${20000 + p}`] });
    };
    await add(0, 4); // with the 5 of the propagation runs and the first: 10
    await new Promise((r) => setTimeout(r, 2000));
    const ten = { rules: await rulesInto(), ...(await measure()) };
    console.log(JSON.stringify(ten));
    await add(9, 999);
    const t0 = performance.now();
    while ((await rulesInto()) < 1000 && performance.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 500));
    await new Promise((r) => setTimeout(r, 2000));
    const thousand = { rules: await rulesInto(), ...(await measure()) };
    console.log(JSON.stringify(thousand));
    const result = {
      date: new Date().toISOString(),
      iperf_seconds: SECONDS,
      conn_seconds: CONN_SECONDS,
      runs: RUNS,
      rule_to_other_host_ms: { median: +median(propagation).toFixed(0), max: +Math.max(...propagation).toFixed(0) },
      with_10_rules: ten,
      with_1000_rules: thousand,
      target: { across_over_within: '>= 0.9' },
    };
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, 'policy.json'), `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      `connected networks vs one network (a → b with a rule, a → a), medians of ${RUNS} interleaved pairs:\n` +
        `  a rule from host 1 in host 2's filter: median ${median(propagation).toFixed(0)} ms, max ${Math.max(...propagation).toFixed(0)} ms (goal ≤ 1000)\n` +
        `  10 rules:    throughput ${ten.gbps.across}/${ten.gbps.within} Gbit/s = ${ten.gbps.ratio}×, connections ${ten.connections_per_s.across}/${ten.connections_per_s.within} per s = ${ten.connections_per_s.ratio}× (goal ≥ 0.9)\n` +
        `  1000 rules:  throughput ${thousand.gbps.across}/${thousand.gbps.within} Gbit/s = ${thousand.gbps.ratio}×, connections ${thousand.connections_per_s.across}/${thousand.connections_per_s.within} per s = ${thousand.connections_per_s.ratio}×\n` +
        'written: bench/results/policy.json',
    );
  } finally {
    await c.teardown();
  }
}

await main();
