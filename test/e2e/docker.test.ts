/**
 * vxmesh as Docker's network and IPAM driver, with real Docker engines (Debian docker.io): two
 * simulated hosts, each with its own dockerd and vxmesh agent.
 */
import fs from 'node:fs';
import t from 'tap';
import { $ } from 'zx';
import { DockerHosts, IMAGE, type DockerHost } from '../../sim/docker-hosts.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

const env = await DockerHosts.create(2, 'dk', { cli: inProcessCli });
t.teardown(() => env.teardown());
const [h1, h2] = [env.host(1), env.host(2)] as [DockerHost, DockerHost];
// --docker-names: containers' endpoints are named after them (Engine API), for the networks' DNS servers.
const NAMES = (h: DockerHost) => ['--docker-names', '--docker-host', h.dockerSock];
await h1.startAgent(NAMES(h1));
await h2.startAgent(NAMES(h2));

const ipOf = (h: DockerHost, name: string, net = 'dnet') => h.ipOf(name, net);
const runCt = (h: DockerHost, name: string, extra: string[] = []) =>
  h.docker(['run', '-d', '--name', name, '--network', 'dnet', ...extra, IMAGE, 'sleep', '3600']);
const ping = async (h: DockerHost, from: string, ip: string) =>
  (await h.docker(['exec', from, 'ping', '-c', '1', '-W', '2', ip], { nothrow: true })).exitCode === 0;

await t.test('docker network create on both engines; containers on both ping each other', async (t) => {
  t.equal(fs.statSync(h1.pluginSocketPath).mode & 0o777, 0o600, 'the plugin socket is root-only');
  t.equal((await h1.createNetwork('dnet', '198.18.50.0/24', [], { nothrow: true })).exitCode, 0, 'created on engine 1');
  t.ok(
    await eventually(async () => (await h2.vx(['network', 'ls'])).stdout.includes('dnet'), 5000),
    'the vxmesh network is known on host 2',
  );
  t.equal(
    (await h2.createNetwork('dnet', '198.18.50.0/24', [], { nothrow: true })).exitCode,
    0,
    'created on engine 2 (same vxmesh network)',
  );
  await runCt(h1, 'a1');
  await runCt(h2, 'b1');
  const [ipa, ipb] = [await ipOf(h1, 'a1'), await ipOf(h2, 'b1')];
  t.match(ipa, /^198\.18\.50\./);
  t.not(ipa, ipb);
  t.ok(await eventually(() => ping(h1, 'a1', ipb), 10000, 200), `a1 (${ipa}) pings b1 (${ipb}) across hosts`);
  t.ok(await ping(h2, 'b1', ipa), 'and back');
  const inside = (await h1.docker(['exec', 'a1', 'ip', 'addr', 'show', 'eth0'])).stdout;
  t.match(inside, /mtu 1450/, 'container interface at the overlay MTU');
  // Changed with egress (issue 12): Join returns no Gateway, so Docker adds its docker_gwbridge leg (eth1)
  // and the default route goes there; the overlay subnet stays on-link on eth0.
  const route = (await h1.docker(['exec', 'a1', 'ip', 'route'])).stdout;
  t.match(route, /198\.18\.50\.0\/24 dev eth0/, 'the overlay subnet is on-link on eth0');
  t.match(
    route,
    /default via 198\.19\.\d+\.1 dev eth1/,
    "default route through docker_gwbridge (eth1, from the daemon's address pool)",
  );
});

await t.test('20 containers over 2 engines with the vxmesh IPAM: all addresses unique', async (t) => {
  for (let k = 0; k < 20; k++) await runCt(k % 2 ? h2 : h1, `m${k}`);
  const ips = await Promise.all(Array.from({ length: 20 }, (_, k) => ipOf(k % 2 ? h2 : h1, `m${k}`)));
  t.equal(ips.filter((x) => /^198\.18\.50\.\d+$/.test(x)).length, 20, 'every container has an address');
  t.equal(new Set([...ips, await ipOf(h1, 'a1'), await ipOf(h2, 'b1')]).size, 22, 'all 22 addresses unique');
  await h1.docker(['rm', '-f', ...Array.from({ length: 10 }, (_, k) => `m${2 * k}`)]);
  await h2.docker(['rm', '-f', ...Array.from({ length: 10 }, (_, k) => `m${2 * k + 1}`)]);
});

await t.test(
  'docker run --ip with one address on both engines at the same moment: one container gets it',
  async (t) => {
    const ip = '198.18.50.200';
    const [r1, r2] = await Promise.all([
      runCt(h1, 'race1', ['--ip', ip]).then(
        () => 0,
        (e: Error) => e,
      ),
      runCt(h2, 'race2', ['--ip', ip]).then(
        () => 0,
        (e: Error) => e,
      ),
    ]);
    const failed = [r1, r2].filter((r): r is Error => r !== 0);
    t.equal(failed.length, 1, 'exactly one docker run failed');
    t.match(
      String(failed[0]),
      /ip/,
      `and its error names ip: ${
        String(failed[0])
          .split('\n')
          .find((l) => /ip/.test(l)) ?? ''
      }`,
    );
    const [winner, name] = r1 === 0 ? [h1, 'race1'] : [h2, 'race2'];
    t.equal(await ipOf(winner, name), ip, 'the winner has the address');
    const other = winner === h1 ? h2 : h1;
    t.ok(
      await eventually(
        async () =>
          (JSON.parse((await other.vx(['endpoints', 'dnet', '--json'])).stdout) as Array<{ ip: string }>).filter(
            (e) => e.ip === ip,
          ).length === 1,
        5000,
      ),
      'one endpoint with that address in the cluster',
    );
    await h1.docker(['rm', '-f', 'race1'], { nothrow: true });
    await h2.docker(['rm', '-f', 'race2'], { nothrow: true });
  },
);

await t.test('docker network create --ipv6 on both engines: containers reach each other over IPv6', async (t) => {
  const v6 = ['--ipv6', '--subnet', '2001:db8:56::/64'];
  t.equal((await h1.createNetwork('d6net', '198.18.56.0/24', v6, { nothrow: true })).exitCode, 0, 'engine 1');
  t.ok(await eventually(async () => (await h2.vx(['network', 'ls'])).stdout.includes('d6net'), 5000));
  t.equal((await h2.createNetwork('d6net', '198.18.56.0/24', v6, { nothrow: true })).exitCode, 0, 'engine 2');
  const net = JSON.parse((await h2.vx(['network', 'inspect', 'd6net', '--json'])).stdout) as Record<string, unknown>;
  t.match(net, { subnet: '198.18.56.0/24', subnet6: '2001:db8:56::/64' }, 'one vxmesh network, dual-stack');
  for (const [h, name] of [
    [h1, 'six1'],
    [h2, 'six2'],
  ] as const)
    await h.docker(['run', '-d', '--name', name, '--network', 'd6net', IMAGE, 'sleep', '3600']);
  const v6of = async (h: DockerHost, name: string) =>
    (
      await h.docker([
        'inspect',
        '-f',
        '{{with index .NetworkSettings.Networks "d6net"}}{{.GlobalIPv6Address}}{{end}}',
        name,
      ])
    ).stdout.trim();
  const [a, b] = [await v6of(h1, 'six1'), await v6of(h2, 'six2')];
  t.match(a, /^2001:db8:56:/, `six1 has an IPv6 address from vxmesh's IPAM (${a})`);
  t.match(b, /^2001:db8:56:/);
  t.not(a, b);
  const eps = (await h1.vx(['endpoints', 'd6net'])).stdout;
  t.ok(
    eps.includes(b) || (await eventually(async () => (await h1.vx(['endpoints', 'd6net'])).stdout.includes(b), 5000)),
    'endpoint records carry the IPv6 address',
  );
  t.ok(await eventually(() => ping(h1, 'six1', b), 10000, 200), `six1 pings six2 over IPv6 (${b})`);
  t.ok(await ping(h2, 'six2', a), 'and back');
  t.ok(await ping(h1, 'six1', await ipOf(h2, 'six2', 'd6net')), 'IPv4 too');
  t.equal((await h1.vx(['fdb', '--check'], { nothrow: true })).exitCode, 0, 'fdb --check passes');
  await h1.docker(['rm', '-f', 'six1']);
  await h2.docker(['rm', '-f', 'six2']);
});

await t.test('network connect / disconnect on a running container; docker rm -f withdraws everywhere', async (t) => {
  // c1 starts on a second vxmesh network, then joins and leaves dnet while running.
  await h1.createNetwork('dnet2', '198.18.51.0/24');
  await h1.docker(['run', '-d', '--name', 'c1', '--network', 'dnet2', IMAGE, 'sleep', '3600']);
  await h1.docker(['network', 'connect', 'dnet', 'c1']);
  const ip = await ipOf(h1, 'c1');
  t.match(ip, /^198\.18\.50\./, 'connected');
  t.ok(await eventually(() => ping(h2, 'b1', ip), 10000, 200), 'reachable from host 2');
  await h1.docker(['network', 'disconnect', 'dnet', 'c1']);
  t.ok(
    await eventually(async () => !(await h2.vx(['endpoints', 'dnet'])).stdout.includes(` ${ip} `), 5000),
    'disconnect withdraws it on host 2',
  );
  await h1.docker(['network', 'connect', 'dnet', 'c1']);
  const ip2 = await ipOf(h1, 'c1');
  t.ok(await eventually(() => ping(h2, 'b1', ip2), 10000, 200), 'reconnected');
  await h1.docker(['rm', '-f', 'c1']);
  const gone = await eventually(async () => {
    const fdb = JSON.parse((await h2.vx(['fdb', '--json'])).stdout) as Array<{ rows: Array<{ ip?: string }> }>;
    return (
      !fdb.some((r) => r.rows.some((x) => x.ip === ip2)) &&
      !(await h2.vx(['endpoints', 'dnet'])).stdout.includes(` ${ip2} `)
    );
  }, 5000);
  t.ok(gone, 'docker rm -f: no kernel entry for it on host 2');
  t.equal((await h2.vx(['fdb', '--check'], { nothrow: true })).exitCode, 0, 'host 2 fdb --check passes');
});

await t.test('--docker-sync: a network created with docker on one host appears on the other engine', async (t) => {
  await h2.stopAgent();
  await h2.startAgent(['--docker-sync', 'true', ...NAMES(h2)]);
  await h1.createNetwork('synced', '198.18.52.0/24', ['--ipv6', '--subnet', '2001:db8:52::/64']);
  const appeared = await eventually(
    async () =>
      (await h2.docker(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).stdout.includes('synced vxmesh'),
    10000,
    250,
  );
  t.ok(appeared, 'engine 2 has the network without a docker command there');
  const made = (
    await h2.docker(['network', 'inspect', '-f', '{{.EnableIPv6}} {{range .IPAM.Config}}{{.Subnet}} {{end}}', 'synced'])
  ).stdout;
  t.equal(made.trim(), 'true 198.18.52.0/24 2001:db8:52::/64', 'dual-stack: made with --ipv6 and both subnets');
  await h1.docker(['run', '-d', '--name', 's1', '--network', 'synced', IMAGE, 'sleep', '3600']);
  await h2.docker(['run', '-d', '--name', 's2', '--network', 'synced', IMAGE, 'sleep', '3600']);
  const ip2 = await ipOf(h2, 's2', 'synced');
  t.ok(await eventually(() => ping(h1, 's1', ip2), 10000, 200), `s1 reaches s2 (${ip2}) on the synced network`);
});

await t.test('agent restart while containers run; dockerd restart keeps networks working', async (t) => {
  const [ipa, ipb] = [await ipOf(h1, 'a1'), await ipOf(h2, 'b1')];
  await h1.stopAgent('SIGTERM');
  t.ok(await ping(h2, 'b1', ipa), 'containers keep pinging while the agent is down');
  await h1.startAgent(NAMES(h1));
  t.ok(await ping(h1, 'a1', ipb), 'and after the restart');
  await runCt(h1, 'a2');
  const ipa2 = await ipOf(h1, 'a2');
  t.ok(await eventually(() => ping(h2, 'b1', ipa2), 10000, 200), 'a new container starts and is reachable');
  await h2.stopDockerd();
  await h2.startDockerd();
  await h2.docker(['start', 'b1']);
  const ipb2 = await ipOf(h2, 'b1');
  t.ok(
    await eventually(() => ping(h2, 'b1', ipa), 10000, 200),
    `after a dockerd restart b1 (${ipb2}) reaches a1 again`,
  );
  await runCt(h2, 'b2');
  t.ok(
    await eventually(async () => ping(h1, 'a1', await ipOf(h2, 'b2')), 10000, 200),
    'a new container on the restarted engine works',
  );
});

await t.test(
  'names across engines: docker run --dns <gateway> resolves containers of the other host by name',
  async (t) => {
    const gw = '198.18.50.1';
    const inspect = JSON.parse((await h1.vx(['network', 'inspect', 'dnet'])).stdout) as { dns: { dockerFlag: string } };
    t.equal(inspect.dns.dockerFlag, `--dns ${gw}`, 'network inspect prints the flag');
    await runCt(h2, 'web2', ['--network-alias', 'api2']);
    await runCt(h2, 'Web_Odd');
    await runCt(h1, 'asker', ['--dns', gw]);
    const web2 = await ipOf(h2, 'web2');
    t.ok(
      await eventually(
        async () =>
          (await h1.docker(['exec', 'asker', 'ping', '-c', '1', '-W', '2', 'web2'], { nothrow: true })).exitCode === 0,
        15000,
        300,
      ),
      'docker exec asker ping web2 (h1 → h2, by the container name)',
    );
    const look = async (name: string) =>
      (await h1.docker(['exec', 'asker', 'nslookup', name], { nothrow: true })).stdout;
    t.match(await look('api2'), new RegExp(web2.replace(/\./g, '\\.')), 'the network alias resolves too');
    t.match(
      await look('web-odd'),
      /198\.18\.50\./,
      'Web_Odd is answered as web-odd (documented mapping); docker run did not fail',
    );
    const rows = JSON.parse((await h1.vx(['endpoints', 'dnet', '--json'])).stdout) as Array<{
      ip: string;
      name?: string;
      aliases?: string[];
    }>;
    t.same(rows.find((r) => r.ip === web2)?.aliases, ['api2'], 'the endpoint carries the alias in the cluster');
    await h1.docker(['rm', '-f', 'asker'], { nothrow: true });
    await h2.docker(['rm', '-f', 'web2', 'Web_Odd'], { nothrow: true });
  },
);

await t.test(
  'an encrypted network through Docker (-o encrypted, two engines): containers reach each other inside WireGuard',
  async (t) => {
    t.equal((await h1.createNetwork('denc', '198.18.53.0/24', ['-o', 'encrypted'], { nothrow: true })).exitCode, 0);
    t.ok(
      await eventually(async () => (await h2.vx(['network', 'ls'])).stdout.includes('denc'), 5000),
      'known on host 2',
    );
    t.equal(
      (await h2.createNetwork('denc', '198.18.53.0/24', ['-o', 'encrypted=true'], { nothrow: true })).exitCode,
      0,
      'created on engine 2 with -o encrypted=true (the same vxmesh network)',
    );
    const inspect = JSON.parse((await h2.vx(['network', 'inspect', 'denc', '--json'])).stdout) as {
      encrypted?: boolean;
      vni: number;
    };
    t.equal(inspect.encrypted, true, 'the vxmesh network is encrypted');
    await h1.docker(['run', '-d', '--name', 'e1', '--network', 'denc', IMAGE, 'sleep', '3600']);
    await h2.docker(['run', '-d', '--name', 'e2', '--network', 'denc', IMAGE, 'sleep', '3600']);
    const [ip1, ip2] = [await ipOf(h1, 'e1', 'denc'), await ipOf(h2, 'e2', 'denc')];
    t.ok(await eventually(() => ping(h1, 'e1', ip2), 15000, 300), `e1 (${ip1}) pings e2 (${ip2}) across engines`);
    t.match(
      (await h1.docker(['exec', 'e1', 'ip', 'addr', 'show', 'eth0'])).stdout,
      /mtu 1370/,
      'at the encrypted MTU (1500 - 60 - 70)',
    );
    const vx = await h1.vx(['fdb', 'denc', '--check'], { nothrow: true });
    t.equal(vx.exitCode, 0, 'fdb --check: no drift');
    t.match(vx.stdout, /fd7a:6d73:6801:/, "the remote entry points at host 2's tunnel address");
    await h1.docker(['rm', '-f', 'e1'], { nothrow: true });
    await h2.docker(['rm', '-f', 'e2'], { nothrow: true });
  },
);

await t.test(
  'without -o vxmesh.network the Docker name is used (asked of the engine); the MTU option is honoured, bounded by the underlay',
  async (t) => {
    const create = (name: string, subnet: string, extra: string[]) =>
      h1.docker(['network', 'create', '-d', 'vxmesh', '--ipam-driver', 'vxmesh', '--subnet', subnet, ...extra, name], {
        nothrow: true,
      });
    const made = await create('byname', '198.18.54.0/24', ['-o', 'com.docker.network.driver.mtu=1400']);
    t.equal(made.exitCode, 0, made.stderr);
    await h1.docker(['run', '-d', '--name', 'n1', '--network', 'byname', IMAGE, 'sleep', '3600']);
    const inspect = JSON.parse((await h1.vx(['network', 'inspect', 'byname', '--json'])).stdout) as { mtu?: number };
    t.equal(inspect.mtu, 1400, 'the vxmesh network is named after the Docker network, with its MTU');
    t.match((await h1.docker(['exec', 'n1', 'ip', 'addr', 'show', 'eth0'])).stdout, /mtu 1400/, 'the container too');
    const tooBig = await create('jumbo', '198.18.55.0/24', ['-o', 'com.docker.network.driver.mtu=9000']);
    t.not(tooBig.exitCode, 0, 'an MTU above the underlay allows is refused');
    t.match(tooBig.stderr, /com\.docker\.network\.driver\.mtu.*9000 exceeds the largest overlay MTU/);
    t.equal((await h1.vx(['network', 'inspect', 'jumbo'], { nothrow: true })).exitCode, 1, 'nothing made');
    await h1.docker(['rm', '-f', 'n1'], { nothrow: true });
  },
);

await t.test('a Docker swarm on the VXLAN port is named in vxmesh status (asked of the engine)', async (t) => {
  t.notMatch((await h1.vx(['status'])).stdout, /swarm/, 'no swarm: no warning');
  const init = await h1.docker(['swarm', 'init', '--advertise-addr', h1.vtep], { nothrow: true });
  t.equal(init.exitCode, 0, init.stderr);
  t.teardown(() => h1.docker(['swarm', 'leave', '--force'], { nothrow: true }));
  t.match(
    (await h1.vx(['status'])).stdout,
    /Docker swarm is active on this host and its overlay data path uses UDP 4789/,
    'the clash is named, with what to do',
  );
  await h1.docker(['swarm', 'leave', '--force'], { nothrow: true });
  t.notMatch((await h1.vx(['status'])).stdout, /swarm/, 'gone with the swarm');
});

await t.test(
  'routing and policy: a Docker container is routed to a connected network and subject to its rules',
  async (t) => {
    await h1.vx(['network', 'create', 'dpol', '--subnet', '198.18.57.0/24']);
    const ns = await env.tb.addContainer(2, 57);
    const ep = JSON.parse((await h2.vx(['attach', 'dpol', '--netns', ns, '--json'])).stdout) as { ip: string };
    for (const port of [80, 81])
      env.tb.spawnIn(ns, 'busybox', ['nc', '-ll', '-p', String(port), '-e', 'busybox', 'echo', `hi-${port}`], {
        stdio: 'ignore',
      });
    await h1.docker([
      ...['run', '-d', '--name', 'pa', '--network', 'dnet', IMAGE],
      ...['nc', '-ll', '-p', '80', '-e', '/bin/busybox', 'echo', 'hi-pa'],
    ]);
    const pa = await ipOf(h1, 'pa');
    const fromDocker = async (port: number) =>
      (await h1.docker(['exec', 'pa', 'nc', '-w', '2', ep.ip, String(port)], { nothrow: true })).stdout.includes(
        `hi-${port}`,
      );
    await h1.vx(['network', 'connect', 'dnet', 'dpol']);
    await h2.vx(['policy', 'allow', 'dpol', '--from', 'dnet', '--to-port', 'tcp/80']);
    t.ok(await eventually(() => fromDocker(80), 15_000, 300), 'the Docker container reaches the allowed port');
    const routes = (await h1.docker(['exec', 'pa', 'ip', 'route'])).stdout;
    t.match(
      routes,
      /198\.18\.57\.0\/24 via 198\.18\.50\.1 dev eth0/,
      `routed through its network's gateway: ${routes}`,
    );
    t.notOk(await fromDocker(81), 'not another port');
    const back = await $({ nothrow: true })`ip netns exec ${ns} timeout 3 busybox nc -w 2 ${pa} 80`;
    t.notMatch(back.stdout, /hi-pa/, 'the other network cannot open connections to the Docker container');
    await h1.vx(['network', 'disconnect', 'dnet', 'dpol']);
    t.ok(
      await eventually(
        async () => !(await h1.docker(['exec', 'pa', 'ip', 'route'])).stdout.includes('198.18.57.0'),
        15_000,
      ),
      "disconnect takes the container's route away",
    );
    await h1.docker(['rm', '-f', 'pa'], { nothrow: true });
  },
);
