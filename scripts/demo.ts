/**
 * `npm run demo`: three simulated hosts on this machine, a vxmesh agent on each, one network created
 * on host 1, two containers attached on every host, the all-pairs ping matrix, a container reaching
 * an outside host (egress) and a published port reached from it, a container of another host
 * resolved and pinged by name, and `vxmesh fdb` of host 1. Everything is torn down at the end (`--keep` leaves it running and says how to explore).
 */
import { Cluster } from '../sim/cluster.js';
import { OUTSIDE_HOST } from '../sim/testbed.js';
import { askAddress, startAddressEcho } from '../sim/address-echo.js';
import { resolve4 } from '../sim/test-resolver.js';
import { $ } from 'zx';

const keep = process.argv.includes('--keep');
const HOSTS = 3;
const PER_HOST = 2;

function step(s: string): void {
  console.log(`\n== ${s}`);
}

const cluster = await Cluster.create(HOSTS, 'demo', { outside: true });
let ok = false;
const cleanup = async () => {
  if (!keep) await cluster.teardown();
};
process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
try {
  step(`${HOSTS} simulated hosts (network namespaces on a veth underlay, 198.51.100.0/24)`);
  for (const h of cluster.tb.hosts) console.log(`  ${h.name}: namespace ${h.netns}, VTEP ${h.vtep}`);

  step('starting an agent on every host (joining through h1)');
  for (let i = 1; i <= HOSTS; i++) {
    await cluster.startAgent(i);
    console.log(`  h${i}: agent up, admin socket ${cluster.socket(i)}`);
  }

  step('vxmesh network create demo --subnet 198.18.10.0/24   (on h1)');
  console.log(`  ${(await cluster.vx(1, ['network', 'create', 'demo', '--subnet', '198.18.10.0/24'])).stdout.trim()}`);

  step(`attaching ${PER_HOST} containers on every host (addresses from the cluster-wide IPAM)`);
  const containers: Array<{ host: number; netns: string; ip: string }> = [];
  for (let i = 1; i <= HOSTS; i++) {
    for (let j = 1; j <= PER_HOST; j++) {
      const netns = await cluster.tb.addContainer(i, j);
      // The last container publishes its port 7001 on its host's port 8080.
      const publish = i === HOSTS && j === PER_HOST ? ['--publish', '8080:7001'] : [];
      const ep = await cluster.vxJson<{ ip: string; mac: string; id: string }>(i, [
        'attach',
        'demo',
        '--netns',
        netns,
        '--name',
        `h${i}c${j}`,
        ...publish,
      ]);
      containers.push({ host: i, netns, ip: ep.ip });
      console.log(
        `  h${i}/c${j}: ${ep.ip}  ${ep.mac}  name h${i}c${j}  (${netns})${publish.length ? '  --publish 8080:7001' : ''}`,
      );
    }
  }

  step('all-pairs ping matrix (rows ping columns; each cell: one ICMP echo across the overlay)');
  // The remote entries arrive by gossip within milliseconds; allow a short settle.
  const deadline = Date.now() + 10_000;
  let matrix: boolean[][] = [];
  for (;;) {
    matrix = await Promise.all(
      containers.map((a) =>
        Promise.all(
          containers.map((b) => (a === b ? Promise.resolve(true) : cluster.tb.ping(a.netns, b.ip, { timeoutS: 1 }))),
        ),
      ),
    );
    if (matrix.every((row) => row.every(Boolean)) || Date.now() > deadline) break;
  }
  const label = (c: { host: number; ip: string }) => `h${c.host} ${c.ip}`;
  const w = Math.max(...containers.map((c) => label(c).length));
  console.log(`  ${''.padEnd(w)}  ${containers.map((c) => c.ip.split('.').pop()?.padStart(4)).join('')}`);
  containers.forEach((a, r) =>
    console.log(
      `  ${label(a).padEnd(w)}  ${matrix[r]?.map((v, c) => (r === c ? '   -' : v ? '  ok' : ' FAIL')).join('')}`,
    ),
  );
  const fails = matrix.flat().filter((v) => !v).length;
  console.log(
    fails === 0 ? `  all ${containers.length * (containers.length - 1)} pairs answered` : `  ${fails} pairs FAILED`,
  );

  const outside = cluster.tb.outsideNs as string;
  step(`egress: h1/c1 reaches the outside host ${OUTSIDE_HOST} (behind a router; each host's default route)`);
  await startAddressEcho(cluster.tb, outside, 7000);
  const first = containers[0] as (typeof containers)[number];
  const pinged = await cluster.tb.ping(first.netns, OUTSIDE_HOST, { count: 2, timeoutS: 2 });
  const seenAs = await askAddress(cluster.tb, first.netns, OUTSIDE_HOST, 7000);
  console.log(`  ping ${OUTSIDE_HOST} from h1/c1 (${first.ip}): ${pinged ? 'ok' : 'FAIL'}`);
  console.log(
    `  TCP to ${OUTSIDE_HOST}:7000: ${seenAs ? `connected; the outside host saw ${seenAs} (h1's address: source NAT)` : 'FAIL'}`,
  );
  const last = containers[containers.length - 1] as (typeof containers)[number];
  await startAddressEcho(cluster.tb, last.netns, 7001);
  const published = await askAddress(cluster.tb, outside, cluster.tb.host(HOSTS).vtep, 8080);
  console.log(
    `  from the outside host to h${HOSTS}:8080 (published to h${HOSTS}/c${PER_HOST}:7001): ${published ? `connected; the container saw ${published}` : 'FAIL'}`,
  );
  const egressOk = pinged && seenAs === cluster.tb.host(1).vtep && published === OUTSIDE_HOST;

  step("names: h1/c1 resolves and pings a container of another host by name (the network's DNS server on its gateway)");
  const gateway = (await cluster.vxJson<{ gateway: string }>(1, ['network', 'inspect', 'demo'])).gateway;
  const far = `h${HOSTS}c${PER_HOST}`;
  const answer = await resolve4(cluster.tb, first.netns, gateway, far);
  console.log(`  ${far} → ${answer}   (asked ${gateway} from h1/c1; ${far} runs on h${HOSTS})`);
  const pingedByName = (await $`ip netns exec ${first.netns} ping -c 1 -W 2 ${far}.demo`.nothrow()).exitCode === 0;
  console.log(
    `  ip netns exec h1/c1 ping ${far}.demo: ${pingedByName ? 'ok' : 'FAIL'}   (attach wrote /etc/netns/<namespace>/resolv.conf)`,
  );
  const namesOk = answer === last.ip && pingedByName;

  step('vxmesh fdb   (on h1: kernel entries beside what the cluster wants)');
  console.log((await cluster.vx(1, ['fdb'])).stdout);

  step('vxmesh peers   (on h1)');
  console.log((await cluster.vx(1, ['peers'])).stdout);
  ok = fails === 0 && egressOk && namesOk;

  if (keep) {
    step('left running (--keep). Explore:');
    console.log(`  node dist/cli/vxmesh.js status --socket ${cluster.socket(1)}`);
    console.log(`  node dist/cli/vxmesh.js peers --socket ${cluster.socket(1)}`);
    console.log(`  node dist/cli/vxmesh.js fdb --socket ${cluster.socket(2)}`);
    console.log(`  nsenter --net=/run/netns/${containers[0]?.netns} ping ${containers[containers.length - 1]?.ip}`);
    console.log(`  agent logs: ${cluster.dir}/h*/agent.log`);
    console.log(
      `  remove everything: kill ${[...cluster.agents.values()].map((a) => a.child.pid).join(' ')}  (the agents, by PID), then\n` +
        `                     node dist/sim/testbed.js down ${cluster.tb.prefix}`,
    );
  }
} catch (e) {
  console.error(`demo failed: ${(e as Error).message}`);
} finally {
  await cleanup();
}
process.exit(ok ? 0 : 1);
