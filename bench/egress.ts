/**
 * Egress benchmark (not a test): TCP throughput from an endpoint to the outside host through vxmesh
 * egress (container veth → br0 → overlay namespace SNAT → gateway link → host MASQUERADE → underlay
 * → router → outside host) beside a hand-built masquerade in the same run (a namespace with a veth
 * to the host and one MASQUERADE rule, at the same MTU as the overlay). iperf3, runs interleaved in
 * pairs; the figure is the median of the pairs' ratios (this machine's throughput drifts by more
 * than the difference between the two paths over a minute). Writes bench/results/egress.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { Cluster } from '../sim/cluster.js';
import { OUTSIDE_HOST } from '../sim/testbed.js';

$.verbose = false;
$.quiet = true;

const RUNS = Number(process.env.BENCH_EGRESS_RUNS ?? 7);
const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 4);
const resultsDir = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

async function main(): Promise<void> {
  for (const tool of ['iperf3', 'iptables'])
    if ((await $`command -v ${tool}`.nothrow()).exitCode !== 0)
      throw new Error(`${tool} is missing: install the Debian package ${tool}`);
  const c = await Cluster.create(1, 'egbench', { outside: true });
  const cleanup = () => c.teardown();
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    const h1 = c.tb.host(1);
    const out = c.tb.outsideNs as string;
    await c.startAgent(1);
    await c.vx(1, ['network', 'create', 'bench', '--subnet', '198.18.96.0/24']);
    const ct = await c.tb.addContainer(1, 1);
    await c.vx(1, ['attach', 'bench', '--netns', ct]);
    const mtu = Number(/mtu (\d+)/.exec((await c.tb.exec(ct, ['ip', 'link', 'show', 'eth0'])).stdout)?.[1]);

    // The hand-built masquerade: one veth from a namespace to the host, one NAT rule.
    const hb = await c.tb.addContainer(1, 2);
    await $`ip -n ${h1.netns} link add hbh mtu ${mtu} type veth peer name eth0 mtu ${mtu} netns ${hb}`;
    await $`ip -n ${h1.netns} addr add 198.18.98.1/30 dev hbh`;
    await $`ip -n ${h1.netns} link set hbh up`;
    await $`ip -n ${hb} addr add 198.18.98.2/30 dev eth0`;
    await $`ip -n ${hb} link set eth0 up`;
    await $`ip -n ${hb} route add default via 198.18.98.1`;
    await $`nsenter --net=${h1.netnsPath} iptables -t nat -A POSTROUTING -s 198.18.98.0/30 ! -o hbh -j MASQUERADE`;

    const server = c.tb.spawnIn(out, 'iperf3', ['-s', '-B', OUTSIDE_HOST], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !(await c.tb.exec(out, ['ss', '-H', '-tln'])).stdout.includes(':5201'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const iperf = async (ns: string): Promise<number> => {
      const r = await c.tb.exec(ns, ['iperf3', '-c', OUTSIDE_HOST, '-t', String(SECONDS), '-J']);
      return (
        (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
          .bits_per_second / 1e9
      );
    };
    const vx: number[] = [];
    const hand: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      vx.push(await iperf(ct));
      hand.push(await iperf(hb));
    }
    server.kill('SIGKILL');
    const result = {
      date: new Date().toISOString(),
      cpus: (await import('node:os')).cpus().length,
      mtu,
      iperf_seconds: SECONDS,
      vxmesh_egress_gbps: +median(vx).toFixed(2),
      handbuilt_masquerade_gbps: +median(hand).toFixed(2),
      ratio: +median(vx.map((x, i) => x / (hand[i] as number))).toFixed(3),
      ratio_of_medians: +(median(vx) / median(hand)).toFixed(3),
      runs_gbps: { vxmesh: vx.map((x) => +x.toFixed(2)), handbuilt: hand.map((x) => +x.toFixed(2)) },
      target: { ratio: '>= 0.95' },
    };
    fs.mkdirSync(resultsDir, { recursive: true });
    fs.writeFileSync(path.join(resultsDir, 'egress.json'), JSON.stringify(result, null, 2) + '\n');
    console.log(`iperf3 TCP endpoint -> outside host (MTU ${mtu}, ${RUNS} interleaved runs of ${SECONDS} s, medians)`);
    console.log(
      `  vxmesh egress          ${result.vxmesh_egress_gbps} Gbit/s   runs ${vx.map((x) => x.toFixed(2)).join(' ')}`,
    );
    console.log(
      `  hand-built masquerade  ${result.handbuilt_masquerade_gbps} Gbit/s   runs ${hand.map((x) => x.toFixed(2)).join(' ')}`,
    );
    console.log(
      `  ratio                  ${result.ratio} (median of the ${RUNS} pairs; of the medians ${result.ratio_of_medians}; target >= 0.95)`,
    );
    console.log('\nwritten: bench/results/egress.json');
  } finally {
    await cleanup();
  }
}

await main();
