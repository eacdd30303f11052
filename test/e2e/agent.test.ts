/**
 * End to end: real `vxmesh agent` processes on 4 simulated hosts, driven through the CLI and the
 * admin API, checked with ping and with the kernel's own tables.
 */
import fs from 'node:fs';
import http from 'node:http';
import t, { type Test } from 'tap';
import { $ } from 'zx';
import { apiRequest } from '../../cli/admin-client.js';
import { Cluster } from '../../sim/cluster.js';
import { snapshot } from '../fixtures/kernel.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

$.verbose = false;
$.quiet = true;

const HOSTS = 4;
const AGENT_ARGS = ['--reconcile-interval-ms', '2000'];
const c = await Cluster.create(HOSTS, 'e2e', { cli: inProcessCli });
t.teardown(() => c.teardown());

interface Ct {
  host: number;
  netns: string;
  ip: string;
  net: string;
}

await c.startAgent(1, { args: [...AGENT_ARGS, '--metrics', '127.0.0.1:9475'] });
// The others join through h1, at the same time.
await Promise.all([2, 3, 4].map((i) => c.startAgent(i, { args: AGENT_ARGS })));
await c.vx(1, ['network', 'create', 'red', '--subnet', '198.18.20.0/24', '--vni', '2001']);
await c.vx(2, ['network', 'create', 'blue', '--subnet', '198.18.20.0/24', '--vni', '2002']);
await eventually(async () => (await c.vxJson<unknown[]>(4, ['network', 'ls'])).length === 2, 5000);

// The hosts attach at the same time (each its own three in turn); the list stays in host order.
const perHost = await Promise.all(
  Array.from({ length: HOSTS }, async (_, k) => {
    const i = k + 1;
    const mine: Ct[] = [];
    for (const [j, net] of [
      [1, 'red'],
      [2, 'red'],
      [3, 'blue'],
    ] as const) {
      const netns = await c.tb.addContainer(i, j);
      const ep = await c.vxJson<{ ip: string }>(i, ['attach', net, '--netns', netns]);
      mine.push({ host: i, netns, ip: ep.ip, net });
    }
    return mine;
  }),
);
const cts: Ct[] = perHost.flat();
const red = cts.filter((x) => x.net === 'red');
const blue = cts.filter((x) => x.net === 'blue');

/** Pairs that cannot ping: one echo each, and a pair whose echo was lost gets three more (56 pings
 * start at once on 2 cores: one lost echo is load, not a missing path; a missing path loses all). */
async function pingAll(list: Ct[], timeoutS = 1): Promise<string[]> {
  const fails: string[] = [];
  await Promise.all(
    list.flatMap((a) =>
      list
        .filter((b) => b !== a)
        .map(async (b) => {
          if (await c.tb.ping(a.netns, b.ip, { timeoutS })) return;
          if (!(await c.tb.ping(a.netns, b.ip, { timeoutS, count: 3 })))
            fails.push(`${a.net} h${a.host} ${a.ip} -> h${b.host} ${b.ip}`);
        }),
    ),
  );
  return fails;
}

const fdbCheck = (i: number) => c.vx(i, ['fdb', '--check'], { nothrow: true });
const status = (i: number) => apiRequest<{ counters: { reconcileChanges: number } }>(c.socket(i), 'GET', '/v1/status');

/** Restarts h1's agent with `args`; returns the MAC of `victim` once h1 knows it and its tables are clean. */
async function restartH1(t: Test, args: string[], victim: Ct): Promise<string> {
  await c.stopAgent(1);
  await c.startAgent(1, { args, join: [2, 3] });
  let mac = '';
  t.ok(
    await eventually(
      async () => {
        mac =
          (await c.vxJson<Array<{ ip: string; mac: string }>>(1, ['endpoints', 'red'])).find((e) => e.ip === victim.ip)
            ?.mac ?? '';
        return mac !== '' && (await fdbCheck(1)).exitCode === 0;
      },
      10000,
      200,
    ),
    'the restarted agent knows the cluster and its tables are clean',
  );
  return mac;
}

await t.test('two networks with the same subnet: all pairs within a network ping, never across', async (t) => {
  t.ok(await eventually(async () => (await pingAll(red)).length === 0, 10000, 200), 'red: all pairs');
  t.same(await pingAll(red), []);
  t.same(await pingAll(blue), [], 'blue: all pairs');
  // Same subnet: a blue container asks for a red container's address; it must not get there.
  const redOnly = red.find((r) => !blue.some((b) => b.ip === r.ip));
  t.ok(redOnly, 'a red address that blue does not use');
  t.notOk(await c.tb.ping(blue[0]!.netns, redOnly!.ip, { timeoutS: 1 }), 'blue cannot reach red');
  for (let i = 1; i <= HOSTS; i++) t.equal((await fdbCheck(i)).exitCode, 0, `h${i}: fdb --check passes`);
  const ips = cts.filter((x) => x.net === 'red').map((x) => x.ip);
  t.equal(new Set(ips).size, ips.length, 'IPAM gave unique addresses across hosts');
});

await t.test('metrics in Prometheus text format', async (t) => {
  const r = { stdout: await c.metricsText(1, 9475) };
  t.match(r.stdout, /vxmesh_members\{state="alive"\} 4/, 'four alive members');
  t.match(r.stdout, /vxmesh_endpoints\{status="local"\} 3/, 'three local endpoints on h1');
  t.match(r.stdout, /vxmesh_reconcile_runs_total \d+/);
  t.match(r.stdout, /vxmesh_reconcile_skipped_total \d+/);
  t.match(r.stdout, /vxmesh_sync_runs_total [1-9]/);
  t.match(
    r.stdout,
    /vxmesh_endpoint_refusals\{reason="ip-not-claimed"\} 0/,
    'no endpoint of an honest cluster refused',
  );
  t.match(r.stdout, /vxmesh_endpoint_refusals_total 0/);
});

await t.test('kill -9 an agent: its containers keep working; restart changes nothing', async (t) => {
  const victim = 3;
  const from = red.find((x) => x.host === 1) as Ct;
  const to = red.find((x) => x.host === victim) as Ct;
  const before = await Promise.all([1, 2, 4].map(async (i) => (await status(i)).counters.reconcileChanges));
  // 80 pings over 8 s across the kill and the restart: none may be lost.
  const pings = c.tb.exec(from.netns, ['ping', '-n', '-q', '-i', '0.1', '-c', '80', '-W', '1', to.ip], {
    nothrow: true,
  });
  await new Promise((r) => setTimeout(r, 300));
  await c.stopAgent(victim, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 3500)); // long enough to be declared dead
  const peers = await c.vxJson<Array<{ name: string; state: string; dataplaneHeld: boolean }>>(1, ['peers']);
  t.equal(peers.find((p) => p.name === `h${victim}`)?.dataplaneHeld, true, 'h1 holds h3 (agent dead, host answers)');
  t.ok(await c.tb.ping(to.netns, from.ip), "pings from the dead agent's container work");
  await c.startAgent(victim, { args: AGENT_ARGS });
  const r = await pings;
  const loss = /(\d+(?:\.\d+)?)% packet loss/.exec(r.stdout)?.[1];
  t.equal(loss, '0', `no ping lost across kill and restart (${r.stdout.trim().split('\n').pop()})`);
  await new Promise((res) => setTimeout(res, 2500)); // a periodic reconcile on every host
  t.equal((await status(victim)).counters.reconcileChanges, 0, 'the restarted agent changed no kernel entry');
  const after = await Promise.all([1, 2, 4].map(async (i) => (await status(i)).counters.reconcileChanges));
  t.same(after, before, 'no other agent removed or re-added an entry');
  t.same(await pingAll(red), [], 'red still all pairs');
});

await t.test(
  'host crash: its endpoints leave every kernel; the rest keeps pinging (timing: npm run bench:failover)',
  async (t) => {
    const victim = 4;
    const gone = cts.filter((x) => x.host === victim);
    const rest = red.filter((x) => x.host !== victim);
    const pings = c.tb.exec(
      rest[0]!.netns,
      ['ping', '-n', '-q', '-i', '0.1', '-c', '60', '-W', '1', rest[rest.length - 1]!.ip],
      { nothrow: true },
    );
    const victimVtep = c.tb.host(victim).vtep;
    await c.stopAgent(victim, 'SIGKILL');
    await c.tb.removeHost(victim);
    const t0 = Date.now();
    // Detection: the first host to declare h4 dead (admin API, polled every 50 ms).
    const peersOf = (i: number) => apiRequest<Array<{ name: string; state: string }>>(c.socket(i), 'GET', '/v1/peers');
    const dead = await eventually(
      async () =>
        (await Promise.all([1, 2, 3].map(peersOf))).some(
          (ps) => ps.find((p) => p.name === `h${victim}`)?.state === 'dead',
        ),
      15000,
      50,
    );
    const tDead = Date.now();
    t.ok(dead, `h4 declared dead ${tDead - t0} ms after the crash`);
    // Withdrawal: no overlay on h1..h3 has an fdb entry towards h4's VTEP (kernel read with iproute2).
    const withdrawn = await eventually(
      async () => {
        for (const i of [1, 2, 3]) {
          const rows = JSON.parse(
            (await $`bridge -n ${c.overlayPrefix(i)}2001 -j fdb show dev vxlan2001`).stdout,
          ) as Array<{ dst?: string }>;
          if (rows.some((e) => e.dst === victimVtep)) return false;
        }
        return true;
      },
      5000,
      50,
    );
    const tGone = Date.now();
    t.ok(withdrawn, `no host has an fdb entry towards h4 any more (${tGone - t0} ms after the crash)`);
    const r = await pings;
    t.match(r.stdout, / 0% packet loss/, 'the others kept pinging each other');
    for (const i of [1, 2, 3]) t.equal((await fdbCheck(i)).exitCode, 0, `h${i}: fdb --check passes`);
    t.ok(gone.length === 3, 'three containers were on h4');
  },
);

await t.test('a host rejoining after a crash (new namespace, same name) gets everything back', async (t) => {
  await c.tb.recreateHost(4);
  await c.startAgent(4, { args: AGENT_ARGS });
  const mine = red.filter((x) => x.host === 4);
  const ok = await eventually(async () => (await pingAll(red)).length === 0, 15000, 250);
  t.ok(ok, "red all pairs again, including h4's containers");
  t.same(await pingAll(blue), [], 'blue too');
  t.equal(mine.length, 2);
  for (let i = 1; i <= HOSTS; i++) t.equal((await fdbCheck(i)).exitCode, 0, `h${i}: fdb --check passes`);
});

await t.test('an fdb entry deleted by hand: fdb --check fails, the next reconcile restores it', async (t) => {
  // h1 runs without periodic reconciles and without kernel notifications here, so nothing repairs the
  // entry before the check; the "next reconcile" is then requested through the admin API.
  const victim = red.find((x) => x.host === 2) as Ct;
  const mac = await restartH1(t, ['--reconcile-interval-ms', '600000', '--no-kernel-events'], victim);
  await $`bridge -n ${c.overlayPrefix(1)}2001 fdb del ${mac} dev vxlan2001 self`;
  const r1 = await fdbCheck(1);
  t.equal(r1.exitCode, 1, 'fdb --check fails while the entry is missing');
  t.match(r1.stdout, new RegExp(`fdb\\s+${mac}.*missing`), 'the row is marked missing');
  const cl = await c.vx(3, ['fdb', '--cluster', '--check'], { nothrow: true });
  t.equal(cl.exitCode, 1, 'fdb --cluster --check asked on h3 fails: h1 drifts');
  t.match(cl.stdout, /h1\s+alive\s+drift\s+\d+\s+1\s/, 'h1 listed with drift 1');
  t.match(cl.stdout, new RegExp(`h1  red  vni 2001  drift 1[\\s\\S]*fdb\\s+${mac}.*missing`), 'with the missing row');
  t.match(cl.stdout, /h2\s+alive\s+ok\s/, 'h2 answered: ok');
  const rec = await apiRequest<Array<{ network: string; changes: number }>>(c.socket(1), 'POST', '/v1/reconcile');
  t.equal(rec.find((r) => r.network === 'red')?.changes, 1, 'the next reconcile writes exactly that entry');
  t.equal((await fdbCheck(1)).exitCode, 0, 'fdb --check passes after it');
  t.equal(
    (await $`bridge -n ${c.overlayPrefix(1)}2001 fdb show dev vxlan2001`).stdout.includes(mac),
    true,
    'the entry is back in the kernel',
  );
  const all = await c.vx(3, ['fdb', '--cluster', '--check', '--json'], { nothrow: true });
  t.equal(all.exitCode, 0, 'fdb --cluster --check passes');
  t.same(
    (JSON.parse(all.stdout) as Array<{ host: string; status: string }>).map((h) => `${h.host}:${h.status}`),
    ['h1:ok', 'h2:ok', 'h3:ok', 'h4:ok'],
    'every host answered ok',
  );
});

await t.test('fdb --cluster: a live member that does not answer is listed and fails the check', async (t) => {
  // Every member answering first, as h1 sees them (in two clean runs h4 was not asked at all: not live in
  // h1's view then — a passing check alone does not show that, a dead member is listed as not asked).
  const statuses = async () => {
    const r = await c.vx(1, ['fdb', '--cluster', '--check', '--json'], { nothrow: true });
    try {
      return (JSON.parse(r.stdout) as Array<{ host: string; status: string }>)
        .map((h) => `${h.host}:${h.status}`)
        .join(' ');
    } catch {
      return r.stdout;
    }
  };
  let seen = '';
  t.ok(
    await eventually(async () => (seen = await statuses()) === 'h1:ok h2:ok h3:ok h4:ok', 60000, 500),
    `all four answer h1 before h4 is stopped (${seen})`,
  );
  const pid = c.agents.get(4)?.child.pid as number;
  process.kill(pid, 'SIGSTOP');
  try {
    // Asked through the admin API at once (what `fdb --cluster` calls): a CLI process starting on a
    // loaded machine can take longer than h1 needs to declare the stopped h4 dead, and a dead member is
    // rightly "not asked" (seen in two clean runs: h4:dead:not-asked). The CLI's exit code on drift and
    // on a member that does not answer is tested in test/unit/agent.cluster-fdb.test.ts.
    const hosts = await apiRequest<Array<{ host: string; status: string; state: string; error?: string }>>(
      c.socket(1),
      'GET',
      '/v1/cluster/fdb',
    );
    t.equal(
      hosts.find((h) => h.host === 'h4')?.status,
      'no-answer',
      `h4 (stopped) is listed as not answering (${hosts.map((h) => `${h.host}:${h.state}:${h.status}`).join(' ')})`,
    );
    t.match(hosts.find((h) => h.host === 'h4')?.error ?? '', /no answer/, 'with the reason');
    t.same(
      hosts.filter((h) => h.host !== 'h4').map((h) => h.status),
      ['ok', 'ok', 'ok'],
      'the others answered',
    );
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  t.ok(
    await eventually(
      async () => (await c.vx(1, ['fdb', '--cluster', '--check'], { nothrow: true })).exitCode === 0,
      30000,
      500,
    ),
    'h4 answers again once it runs',
  );
});

await t.test(
  "entries deleted or changed by hand are repaired at the kernel's notification, long before the periodic run",
  async (t) => {
    // Periodic reconcile every 10 minutes: only the notification can repair within the test.
    const victim = red.find((x) => x.host === 3) as Ct;
    const mac = await restartH1(t, ['--reconcile-interval-ms', '600000', '--metrics', '127.0.0.1:9475'], victim);
    const ns = `${c.overlayPrefix(1)}2001`;
    const before = (await status(1)).counters.reconcileChanges;
    await $`bridge -n ${ns} fdb del ${mac} dev vxlan2001 self`;
    await $`ip -n ${ns} neigh del ${victim.ip} dev vxlan2001`;
    t.ok(
      await eventually(async () => (await fdbCheck(1)).exitCode === 0, 5000, 50),
      'both entries are back without a periodic run',
    );
    await $`ip -n ${ns} neigh replace ${victim.ip} lladdr 02:00:00:00:0e:0e dev vxlan2001 nud permanent`;
    t.ok(
      await eventually(
        async () => (await $`ip -n ${ns} neigh show ${victim.ip} dev vxlan2001`).stdout.includes(mac),
        5000,
        50,
      ),
      'a neighbour changed by hand gets its MAC back',
    );
    t.ok(await eventually(async () => (await fdbCheck(1)).exitCode === 0, 5000, 50), 'fdb --check passes');
    t.equal(
      (await status(1)).counters.reconcileChanges - before,
      3,
      'exactly the three damaged entries were written (own writes start no loop)',
    );
    const text = await c.metricsText(1, 9475);
    t.match(text, /vxmesh_drift_repaired_at_event_total 3\b/, 'the repairs are counted as made at the event');
    t.match(text, /vxmesh_kernel_events_total [1-9]/, 'notifications are counted');
    await c.stopAgent(1);
    await c.startAgent(1, { args: [...AGENT_ARGS, '--metrics', '127.0.0.1:9475'], join: [2, 3] });
  },
);

await t.test(
  'detach/attach churn of 200 endpoints ends with every kernel table equal to the desired one',
  async (t) => {
    const churn: Array<{ host: number; netns: string }> = [];
    for (let host = 1; host <= HOSTS; host++) {
      const ks = Array.from({ length: 200 / HOSTS }, (_, n) => n * HOSTS + host - 1);
      for (const netns of await c.tb.addContainers(
        host,
        ks.map((k) => 100 + k),
      ))
        churn.push({ host, netns });
    }
    // Attach all 200 (50 per host, concurrently per host), then detach every second one, re-attach every fourth.
    await Promise.all(
      [1, 2, 3, 4].map(async (h) => {
        for (const x of churn.filter((y) => y.host === h))
          await apiRequest(c.socket(h), 'POST', '/v1/attach', { network: 'blue', netns: x.netns });
      }),
    );
    await Promise.all(
      [1, 2, 3, 4].map(async (h) => {
        const list = churn.filter((y) => y.host === h);
        for (const [k, x] of list.entries())
          if (k % 2 === 0) await apiRequest(c.socket(h), 'POST', '/v1/detach', { network: 'blue', netns: x.netns });
        for (const [k, x] of list.entries())
          if (k % 4 === 0) await apiRequest(c.socket(h), 'POST', '/v1/attach', { network: 'blue', netns: x.netns });
      }),
    );
    const perHost = churn.length / HOSTS;
    const kept = Array.from({ length: perHost }, (_, k) => k % 2 !== 0 || k % 4 === 0).filter(Boolean).length;
    const expected = blue.length + kept * HOSTS; // the original blue endpoints + churn survivors
    const converged = await eventually(
      async () => {
        for (let i = 1; i <= HOSTS; i++) {
          if ((await c.vxJson<unknown[]>(i, ['endpoints', 'blue'])).length !== expected) return false;
          if ((await fdbCheck(i)).exitCode !== 0) return false;
        }
        return true;
      },
      20000,
      500,
    );
    const counts = await Promise.all(
      [1, 2, 3, 4].map(async (i) => (await c.vxJson<unknown[]>(i, ['endpoints', 'blue'])).length),
    );
    const checks = await Promise.all([1, 2, 3, 4].map(async (i) => (await fdbCheck(i)).exitCode));
    t.ok(
      converged,
      `every host: ${expected} blue endpoints (have ${counts.join(',')}) and fdb --check passes (exit ${checks.join(',')})`,
    );
    const ips = (await c.vxJson<Array<{ ip: string }>>(1, ['endpoints', 'blue'])).map((e) => e.ip);
    t.equal(new Set(ips).size, ips.length, 'all addresses unique');
    t.ok(await c.tb.ping(blue[0]!.netns, ips[ips.length - 1] as string, { timeoutS: 2 }), 'a churned endpoint answers');
  },
);

await t.test('bad input: clear errors, no state change', async (t) => {
  const watched = [`${c.overlayPrefix(1)}2001`, c.tb.host(1).netns];
  const kernelBefore = await snapshot(watched);
  const netsBefore = (await c.vx(1, ['network', 'ls', '--json'])).stdout;
  const epsBefore = (await c.vx(1, ['endpoints', '--json'])).stdout;
  const raw = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; json: { error?: string; field?: string } }>((resolve, reject) => {
      const req = http.request({ socketPath: c.socket(1), method, path }, (res) => {
        let s = '';
        res.on('data', (d: Buffer) => (s += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, json: JSON.parse(s) as { error?: string; field?: string } }),
        );
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  const cases: Array<[string, Promise<{ status: number; json: { error?: string; field?: string } }>, number, string]> =
    [
      ['bad JSON', raw('POST', '/v1/attach', '{"network": '), 400, 'body'],
      ['body not an object', raw('POST', '/v1/networks', '[1,2]'), 400, 'body'],
      ['unknown path', raw('GET', '/v1/nope'), 404, 'path'],
      ['wrong method', raw('PUT', '/v1/networks'), 405, 'method'],
      ['attach without netns', raw('POST', '/v1/attach', '{"network":"red"}'), 400, 'netns'],
      ['attach to unknown network', raw('POST', '/v1/attach', '{"network":"nope","netns":"x"}'), 404, 'network'],
      [
        'attach bad mac',
        raw('POST', '/v1/attach', JSON.stringify({ network: 'red', netns: cts[0]!.netns, ifname: 'eth9', mac: 'xx' })),
        400,
        'mac',
      ],
      [
        'attach to a missing namespace',
        raw(
          'POST',
          '/v1/attach',
          JSON.stringify({ network: 'red', netns: `${c.tb.prefix}missing`, ip: '198.18.20.200' }),
        ),
        404,
        'netns',
      ],
      ['invalid subnet', raw('POST', '/v1/networks', '{"name":"bad","subnet":"198.18.0.1/24"}'), 400, 'subnet'],
      ['invalid name', raw('POST', '/v1/networks', '{"name":"no spaces","subnet":"198.18.30.0/24"}'), 400, 'name'],
      ['VNI taken', raw('POST', '/v1/networks', '{"name":"green","subnet":"198.18.30.0/24","vni":2001}'), 400, 'vni'],
      ['same name, other subnet', raw('POST', '/v1/networks', '{"name":"red","subnet":"198.18.31.0/24"}'), 400, 'name'],
      ['huge body', raw('POST', '/v1/networks', `{"name":"${'x'.repeat(2 * 1024 * 1024)}"}`), 413, 'body'],
    ];
  for (const [name, p, status, field] of cases) {
    const r = await p;
    t.equal(r.status, status, `${name}: HTTP ${status} (${r.json.error})`);
    t.equal(r.json.field, field, `${name}: names ${field}`);
  }
  // An IP in use on another host.
  const taken = red.find((x) => x.host === 2) as Ct;
  const spare = await c.tb.addContainer(1, 99);
  const inUse = await c.vx(1, ['attach', 'red', '--netns', spare, '--ip', taken.ip], { nothrow: true });
  t.equal(inUse.exitCode, 1);
  t.match(inUse.stderr, new RegExp(`ip: ${taken.ip.replace(/\./g, '\\.')} is in use by endpoint .* on host h2`));
  // Bad CLI flags.
  const bad = await c.vx(1, ['attach', 'red', '--netns', spare, '--bogus'], { nothrow: true });
  t.equal(bad.exitCode, 2);
  t.match(bad.stderr, /Unknown option '--bogus'/);
  const noSubnet = await c.vx(1, ['network', 'create', 'x'], { nothrow: true });
  t.equal(noSubnet.exitCode, 2);
  t.match(noSubnet.stderr, /--subnet is required/);
  const agentBad =
    await $`${process.execPath} ${new URL('../../cli/cli.js', import.meta.url).pathname} agent --vxlan-port 99999 --state-dir /nonexistent-not-used`.nothrow();
  t.equal(agentBad.exitCode, 1);
  t.match(agentBad.stderr, /--vxlan-port: must be an integer in 1\.\.65535/);
  t.equal((await c.vx(1, ['network', 'ls', '--json'])).stdout, netsBefore, 'networks unchanged');
  t.equal((await c.vx(1, ['endpoints', '--json'])).stdout, epsBefore, 'endpoints unchanged');
  t.equal(await snapshot(watched), kernelBefore, 'kernel unchanged');
  for (const a of c.agents.values()) t.equal(a.child.exitCode, null, `agent h${a.host} still running`);
  t.ok(fs.existsSync(c.socket(1)));
});

await t.test('a /28 network (one IPAM block) on four hosts: every host gets addresses by borrowing', async (t) => {
  await c.vx(1, ['network', 'create', 'tiny', '--subnet', '198.18.40.0/28', '--vni', '2040']);
  t.ok(
    await eventually(
      async () => (await c.vxJson<Array<{ name: string }>>(4, ['network', 'ls'])).some((n) => n.name === 'tiny'),
      5000,
    ),
    'the definition reached every host',
  );
  // The first host claims the only block; the three others then borrow from it at the same time.
  const tiny: Ct[] = [];
  const attachTwo = async (i: number) => {
    for (const j of [1, 2]) {
      const netns = await c.tb.addContainer(i, 300 + j);
      const ep = await c.vxJson<{ ip: string }>(i, ['attach', 'tiny', '--netns', netns]);
      tiny.push({ host: i, netns, ip: ep.ip, net: 'tiny' });
    }
  };
  await attachTwo(1);
  await Promise.all([2, 3, 4].map(attachTwo));
  t.equal(
    new Set(tiny.map((x) => x.ip)).size,
    8,
    `8 unique addresses out of 13 usable (${tiny.map((x) => x.ip).join(' ')})`,
  );
  type Inspect = { ipamBlocks: Array<{ block: string; owner: string }> };
  const blocks = (await c.vxJson<Inspect>(1, ['network', 'inspect', 'tiny'])).ipamBlocks;
  t.equal(blocks.filter((b) => b.block === '198.18.40.0/28').length, 1, 'one block claim');
  t.equal(
    blocks.filter((b) => b.block.endsWith('/32')).length,
    6,
    'six borrowed addresses (two per host on the other three hosts)',
  );
  t.ok(await eventually(async () => (await pingAll(tiny)).length === 0, 10000, 250), 'all pairs ping across hosts');
  // Detaching a borrowed address gives it back: its /32 claim disappears everywhere.
  const borrowed = blocks.find((b) => b.block.endsWith('/32')) as { block: string; owner: string };
  const holder = tiny.find((x) => `${x.ip}/32` === borrowed.block) as Ct;
  await c.vx(holder.host, ['detach', 'tiny', '--netns', holder.netns]);
  t.ok(
    await eventually(
      async () =>
        !(await c.vxJson<Inspect>(4, ['network', 'inspect', 'tiny'])).ipamBlocks.some(
          (b) => b.block === borrowed.block,
        ),
      5000,
    ),
    `the /32 claim of ${holder.ip} is withdrawn after detach`,
  );
  for (let i = 1; i <= HOSTS; i++) t.equal((await fdbCheck(i)).exitCode, 0, `h${i}: fdb --check passes`);
});

await t.test('endpoint names travel with the records; a name held by a live endpoint stays with it', async (t) => {
  await c.vx(1, ['network', 'create', 'named', '--subnet', '198.18.41.0/24']);
  await c.vx(1, ['attach', 'named', '--netns', await c.tb.addContainer(1, 400), '--name', 'Web1', '--alias', 'api']);
  type Row = { id: string; host: string; name?: string; aliases?: string[]; nameHeldBy?: string };
  t.ok(
    await eventually(
      async () => (await c.vxJson<Array<{ name: string }>>(2, ['network', 'ls'])).some((n) => n.name === 'named'),
      10000,
    ),
    'h2 knows the network',
  );
  // Records are scoped by interest: h2 has no endpoint in the network yet, so it holds none of its records;
  // its first attach fetches them before the name is given (so the name conflict below is seen at once).
  t.same(
    await c.vxJson<Row[]>(2, ['endpoints', 'named']),
    [],
    'h2 holds no endpoint record of named before its attach',
  );
  await c.vx(2, ['attach', 'named', '--netns', await c.tb.addContainer(2, 400), '--name', 'web1', '--alias', 'api']);
  const rows = await c.vxJson<Row[]>(2, ['endpoints', 'named']);
  t.ok(
    rows.some((e) => e.host === 'h1' && e.name === 'web1'),
    "h2 holds h1's web1 (lower case) as its first attach returns",
  );
  const late = rows.find((e) => e.host === 'h2');
  t.same(late?.aliases, ['api'], 'aliases may be shared');
  t.match(late?.nameHeldBy, /on h1$/, "the later endpoint does not get the name: h1's keeps it");
  t.notOk(rows.find((e) => e.host === 'h1')?.nameHeldBy, 'the earlier one keeps it');
  t.match((await c.vx(2, ['endpoints', 'named'])).stdout, /web1,api \(name held by \S+ on h1\)/, 'the table says so');
  const bad = await c.vx(1, ['attach', 'named', '--netns', await c.tb.addContainer(1, 401), '--name', 'web_1'], {
    nothrow: true,
  });
  t.match(
    bad.stderr,
    /name: "web_1" must be a DNS label/,
    'a name that is not a DNS label is refused, naming the field',
  );
});
