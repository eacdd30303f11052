/**
 * Routing and policy between networks with real agents on three simulated hosts: networks a, b and c,
 * a container of a on host 1, of b on hosts 2 and 1, of c on host 3. After `network connect a b`:
 * nothing passes until a rule allows it; a rule written on host 3 lets a reach b's port 80 (across
 * hosts and on the same host) and not port 81; b cannot open connections to a; c stays unreachable;
 * an established connection survives a kill -9 and restart of the agent; disconnect removes the routes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { METRICS_ADDRESS, scrapeMetrics } from '../fixtures/metrics.js';

$.verbose = false;
$.quiet = true;

const c = await Cluster.create(3, 'pol', { cli: inProcessCli, outside: true });
t.teardown(() => c.teardown());
// Host 2 serves /metrics in its namespace (the policy filter's drops).
for (const i of [1, 2, 3]) await c.startAgent(i, i === 2 ? { args: ['--metrics', METRICS_ADDRESS] } : {});
const nets = { a: ['198.18.111.0/24', 5111], b: ['198.18.112.0/24', 5112], c: ['198.18.113.0/24', 5113] } as const;
for (const [name, [subnet, vni]] of Object.entries(nets))
  await c.vx(1, ['network', 'create', name, '--subnet', subnet, '--vni', String(vni)]);
for (const i of [2, 3])
  await eventually(async () => (await c.vx(i, ['network', 'inspect', 'c'], { nothrow: true })).exitCode === 0, 15_000);

async function attach(host: number, network: string, j: number, name: string, extra: string[] = []) {
  const ns = await c.tb.addContainer(host, j);
  const ep = await c.vxJson<{ ip: string }>(host, ['attach', network, '--netns', ns, '--name', name, ...extra]);
  return { ns, ip: ep.ip };
}
const a1 = await attach(1, 'a', 1, 'client');
const b2 = await attach(2, 'b', 1, 'web', ['--publish', '8080:80']);
const b1 = await attach(1, 'b', 2, 'web1');
const c3 = await attach(3, 'c', 1, 'svc');
/** What a's DNS server (host 1) answers for `name`, as a container of a asks it. */
const ask = async (name: string) =>
  (await $({ nothrow: true })`ip netns exec ${a1.ns} busybox nslookup ${name} 198.18.111.1`).stdout;

/** A TCP server answering "hi-PORT" to each connection. */
const servers: ChildProcess[] = [];
function serve(ns: string, port: number): void {
  servers.push(
    // One process (killed by its PID at teardown): a persistent server running `echo` per connection.
    c.tb.spawnIn(ns, 'busybox', ['nc', '-ll', '-p', String(port), '-e', 'busybox', 'echo', `hi-${port}`], {
      stdio: 'ignore',
    }),
  );
}
for (const s of [b2, b1, a1]) for (const port of [80, 81]) serve(s.ns, port);

/** Whether `from` gets the answer of `to`:port within 2 s. */
async function reaches(from: { ns: string }, to: { ip: string }, port: number): Promise<boolean> {
  const r = await $({ nothrow: true })`ip netns exec ${from.ns} timeout 3 busybox nc -w 2 ${to.ip} ${port}`;
  return r.stdout.includes(`hi-${port}`);
}
const overlayRoutes = async (host: number, vni: number) => (await $`ip -n ${c.overlayPrefix(host)}${vni} route`).stdout;

t.test('before any connection: a reaches neither b nor c', async (t) => {
  t.notOk(await reaches(a1, b2, 80), 'a → b: no route');
  t.notOk(await reaches(a1, c3, 80), 'a → c: no route');
  t.notMatch(await ask('web.b.vxmesh'), b2.ip, "b's names are not a's");
});

t.test('connected, no rule: routes exist, traffic is denied both ways', async (t) => {
  await c.vx(2, ['network', 'connect', 'a', 'b']);
  t.ok(
    await eventually(
      async () => (await overlayRoutes(1, 5111)).includes('198.18.112.0/24 via 198.18.112.1 dev vxr5112'),
      10_000,
    ),
    "host 1 routes a's overlay to b's subnet over the link between the overlays",
  );
  t.ok(
    await eventually(
      async () => (await overlayRoutes(2, 5112)).includes('198.18.111.0/24 via 198.18.111.1 dev vxr5111'),
      10_000,
    ),
    'host 2 (only b endpoints) serves a too, and routes back',
  );
  const filter = async () =>
    (await $({ nothrow: true })`ip netns exec ${c.overlayPrefix(2)}5112 nft list table inet vxmesh`).stdout;
  t.ok(
    await eventually(async () => (await filter()).includes('drop comment "from a"'), 10_000),
    "b's filter on host 2 drops what a sends by default",
  );
  t.notOk(await reaches(a1, b2, 80), 'a → b:80 denied (across hosts)');
  t.notOk(await reaches(a1, b1, 80), 'a → b:80 denied (same host)');
  t.notOk(await reaches(b2, a1, 80), 'b → a:80 denied');
  const dropped = /^vxmesh_policy_dropped_packets_total\{network="b",from="a"\} (\d+)$/m.exec(
    await scrapeMetrics(c.tb, c.tb.host(2).netns),
  );
  t.ok(Number(dropped?.[1] ?? 0) > 0, `host 2 counts what its filter dropped from a into b: ${dropped?.[0]}`);
  t.ok(
    await eventually(async () => (await ask('web.b.vxmesh')).includes(b2.ip), 10_000),
    "names across the connection: a's server answers web.b.vxmesh",
  );
  t.match(await ask('web.b'), b2.ip, 'and web.b');
  t.notMatch(await ask('svc.c.vxmesh'), c3.ip, 'not the names of c (not connected)');
  const refused = await c.vx(1, ['network', 'connect', 'a', 'a'], { nothrow: true });
  t.equal(refused.exitCode, 1);
  t.match(refused.stderr, /not connected to itself/);
  await c.vx(1, ['network', 'create', 'a2', '--subnet', '198.18.111.128/25']);
  const overlap = await c.vx(1, ['network', 'connect', 'a2', 'b'], { nothrow: true });
  t.equal(overlap.exitCode, 1, 'a network overlapping one connected to b: refused');
  t.match(overlap.stderr, /with: .*overlaps.*connected to b/);
});

t.test('a rule written on host 3 lets a into b:80 everywhere, nothing else', async (t) => {
  await c.vx(3, ['policy', 'allow', 'b', '--from', 'a', '--to-port', 'tcp/80']);
  t.ok(await eventually(() => reaches(a1, b2, 80), 10_000), 'a → b:80 across hosts');
  t.ok(await eventually(() => reaches(a1, b1, 80), 10_000), 'a → b:80 on the same host');
  t.notOk(await reaches(a1, b2, 81), 'a → b:81 still denied');
  t.notOk(await reaches(b2, a1, 80), 'b cannot open connections to a (no rule into a)');
  t.notOk(await reaches(a1, c3, 80), 'c stays unreachable (not connected)');
  const rows = await c.vxJson<Array<{ id: string; network: string; from: string }>>(1, ['policy', 'ls']);
  t.match(rows, [{ network: 'b', from: 'a' }], 'listed on host 1');
  const inspect = await c.vxJson<{ connected: string[]; rules: unknown[] }>(2, ['network', 'inspect', 'b']);
  t.same(inspect.connected, ['a']);
  t.equal(inspect.rules.length, 1);
});

t.test('outside sources through a published port: allowed until a rule names prefixes, then only those', async (t) => {
  const outside = { ns: c.tb.outsideNs as string };
  const published = { ip: c.tb.host(2).vtep };
  const viaPort = async () =>
    (await $({ nothrow: true })`ip netns exec ${outside.ns} timeout 3 busybox nc -w 2 ${published.ip} 8080`).stdout;
  t.ok(await eventually(async () => (await viaPort()).includes('hi-80'), 10_000), 'outside → h2:8080 → b2:80');
  const other = await c.vxJson<{ id: string }>(1, ['policy', 'allow', 'b', '--from', '203.0.113.128/25']);
  t.ok(
    await eventually(async () => !(await viaPort()).includes('hi-80'), 10_000),
    'a rule for other prefixes: dropped',
  );
  const mine = await c.vxJson<{ id: string }>(3, [
    'policy',
    'allow',
    'b',
    '--from',
    '203.0.113.0/28',
    '--to-port',
    'tcp/80',
  ]);
  t.ok(await eventually(async () => (await viaPort()).includes('hi-80'), 10_000), 'a rule naming its prefix: allowed');
  for (const r of [other, mine]) await c.vx(2, ['policy', 'rm', r.id]);
  const bad = await c.vx(1, ['policy', 'allow', 'b', '--from', '203.0.113.1/24'], { nothrow: true });
  t.equal(bad.exitCode, 1);
  t.match(bad.stderr, /fromCidr/, 'host bits set: refused naming the field');
});

t.test("someone else's change to the filter: fdb --check reports it, the periodic reconcile repairs it", async (t) => {
  const table = async () => (await $`ip netns exec ${c.overlayPrefix(2)}5112 nft -s list table inet vxmesh`).stdout;
  // The rules of the subtest before are gone from host 2's filter first (their removal travels too).
  await eventually(async () => !(await table()).includes('203.0.113'), 10_000);
  await eventually(async () => (await c.vx(2, ['fdb', 'b', '--check'], { nothrow: true })).exitCode === 0, 10_000);
  const before = await table();
  // The periodic reconcile (every 5 s) may repair the flush before the check reads it: then again,
  // after the repair (a few tries; the check must see the drift in one of them).
  let check = { exitCode: 0 as number | null, stdout: '' };
  for (let tries = 0; tries < 5 && check.exitCode !== 1; tries++) {
    if (tries > 0) await eventually(async () => (await table()) === before, 20_000);
    await $`ip netns exec ${c.overlayPrefix(2)}5112 nft flush chain inet vxmesh forward`;
    check = await c.vx(2, ['fdb', 'b', '--check', '--json'], { nothrow: true });
  }
  t.equal(check.exitCode, 1, 'drift found');
  t.match(JSON.parse(check.stdout), [{ network: 'b', policyDrift: 1 }], 'named as policy drift');
  t.ok(await eventually(async () => (await table()) === before, 20_000), 'the table is back as it was');
  t.equal((await c.vx(2, ['fdb', 'b', '--check'], { nothrow: true })).exitCode, 0, 'no drift after');
});

t.test('an agent restart (kill -9) keeps an established allowed connection and the filter', async (t) => {
  // A client holding one connection open: lines written into a FIFO go to b2:80's server.
  const dir = path.join(c.dir, 'conn');
  fs.mkdirSync(dir, { recursive: true });
  const [fifo, serverIn, got] = ['in', 'server-in', 'got'].map((f) => path.join(dir, f)) as [string, string, string];
  await $`mkfifo ${fifo} ${serverIn}`;
  // The server's input stays open (it would close the connection at its end): a FIFO we hold.
  const server = c.tb.spawnIn(b2.ns, 'sh', ['-c', `exec busybox nc -l -p 8080 < ${serverIn} > ${got}`], {
    stdio: 'ignore',
  });
  const serverWriter = fs.openSync(serverIn, 'w');
  await c.vx(2, ['policy', 'allow', 'b', '--from', 'a', '--to-port', 'tcp/8080']);
  await new Promise((r) => setTimeout(r, 1500));
  const client = c.tb.spawnIn(a1.ns, 'sh', ['-c', `exec busybox nc ${b2.ip} 8080 < ${fifo}`], { stdio: 'ignore' });
  const writer = fs.openSync(fifo, 'w');
  fs.writeSync(writer, 'before\n');
  t.ok(
    await eventually(() => fs.existsSync(got) && fs.readFileSync(got, 'utf8').includes('before'), 10_000),
    'sent before',
  );
  const table = async () => (await $`ip netns exec ${c.overlayPrefix(2)}5112 nft -s list table inet vxmesh`).stdout;
  const before = await table();
  await c.stopAgent(2, 'SIGKILL');
  t.equal(await table(), before, 'the filter stays while the agent is down');
  await c.startAgent(2);
  fs.writeSync(writer, 'after\n');
  t.ok(
    await eventually(() => fs.readFileSync(got, 'utf8').includes('after'), 10_000),
    'the same connection carries data after the restart',
  );
  t.equal(await table(), before, 'and the filter is the same');
  for (const fd of [writer, serverWriter]) fs.closeSync(fd);
  for (const p of [client, server]) p.kill('SIGKILL');
});

t.test('an isolated network: its endpoints do not reach each other, each still reaches its DNS server', async (t) => {
  await c.vx(1, ['network', 'create', 'iso', '--subnet', '198.18.114.0/24', '--vni', '5114', '--isolated']);
  await eventually(
    async () => (await c.vx(3, ['network', 'inspect', 'iso'], { nothrow: true })).exitCode === 0,
    15_000,
  );
  const i1 = await attach(1, 'iso', 5, 'one');
  const i3 = await attach(3, 'iso', 5, 'three');
  const i1b = await attach(1, 'iso', 6, 'one-b');
  for (const s of [i1, i3, i1b]) serve(s.ns, 80);
  await eventually(async () => (await c.vx(1, ['network', 'ls'])).stdout.includes('isolated'), 5000);
  t.notOk(await reaches(i1, i3, 80), 'across hosts: no');
  t.notOk(await reaches(i1, i1b, 80), 'on the same host: no');
  t.notOk(await c.tb.ping(i3.ns, i1.ip, { count: 1, timeoutS: 1 }), 'nor ping');
  const dns = await $({ nothrow: true })`ip netns exec ${i1.ns} busybox nslookup three.iso.vxmesh 198.18.114.1`;
  t.match(dns.stdout, i3.ip, 'the network DNS server still answers its endpoints');
});

t.test('disconnect removes the routes and the filter everywhere', async (t) => {
  await c.vx(3, ['network', 'disconnect', 'b', 'a']);
  t.ok(
    await eventually(async () => !(await overlayRoutes(1, 5111)).includes('198.18.112.0/24'), 10_000),
    "host 1: a's overlay no longer routes to b",
  );
  t.ok(
    await eventually(
      async () =>
        (await $({ nothrow: true })`ip netns exec ${c.overlayPrefix(2)}5112 nft list table inet vxmesh`).exitCode !== 0,
      10_000,
    ),
    "host 2: b's filter is gone (rules from a are inactive without the connection)",
  );
  t.notOk(await reaches(a1, b2, 80), 'a → b:80 no more');
  t.ok(
    await eventually(
      async () =>
        (await $({ nothrow: true })`ip netns list`).stdout
          .split('\n')
          .every((l) => !l.startsWith(`${c.overlayPrefix(2)}5111`)),
      15_000,
    ),
    'host 2 no longer serves a (no endpoint of a there)',
  );
});
