/**
 * Egress, published ports, internal networks and IPAM ranges with a real dockerd that manages the
 * host's iptables (FORWARD policy DROP, its own NAT), on a simulated host with an outside network.
 * Docker containers leave through docker_gwbridge (Join returns no gateway); vxmesh-attached
 * endpoints of the same host leave through vxmesh's gateway link, beside Docker's rules.
 */
import t from 'tap';
import { DockerHosts, IMAGE, type DockerHost } from '../../sim/docker-hosts.js';
import { OUTSIDE_HOST } from '../../sim/testbed.js';
import { askAddress, startAddressEcho } from '../../sim/address-echo.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

const env = await DockerHosts.create(1, 'dkeg', { outside: true, iptables: true, cli: inProcessCli });
t.teardown(() => env.teardown());
const h1 = env.host(1) as DockerHost;
const tb = env.tb;
const out = tb.outsideNs as string;
await h1.startAgent();
await startAddressEcho(tb, out, 7000);

const dockerNet = (name: string, subnet: string, extra: string[] = []) => h1.createNetwork(name, subnet, extra);
const ipOf = (name: string, net: string) => h1.ipOf(name, net);
const exec = (name: string, cmd: string[]) => h1.docker(['exec', name, ...cmd], { nothrow: true });

await dockerNet('egnet', '198.18.52.0/24');
await h1.docker(['run', '-d', '--name', 'c1', '--network', 'egnet', IMAGE, 'sleep', '3600']);

t.test('a container has the overlay on eth0 and docker_gwbridge on eth1, and reaches the outside host', async (t) => {
  const links = (await exec('c1', ['ip', '-o', 'addr', 'show'])).stdout;
  t.match(links, /eth0\s+inet 198\.18\.52\.\d+\/24/, 'eth0: the overlay address');
  t.match(links, /eth1\s+inet 198\.19\.\d+\.\d+\/24/, "eth1: docker_gwbridge, from the daemon's address pool");
  t.equal((await exec('c1', ['ping', '-c', '2', '-W', '2', OUTSIDE_HOST])).exitCode, 0, 'ping 203.0.113.1');
  t.equal(
    (await exec('c1', ['nc', '-w', '3', OUTSIDE_HOST, '7000'])).stdout.trim(),
    h1.vtep,
    "TCP: the outside host sees the host's address (Docker's NAT)",
  );
});

t.test('docker run -p publishes a port of a container on a vxmesh network', async (t) => {
  await h1.docker([
    'run',
    '-d',
    '--name',
    'web',
    '--network',
    'egnet',
    '-p',
    '8080:80',
    IMAGE,
    'nc',
    '-ll',
    '-p',
    '80',
    '-e',
    'hostname',
  ]);
  const hostname = (await h1.docker(['inspect', '-f', '{{.Config.Hostname}}', 'web'])).stdout.trim();
  let got: string | undefined;
  for (let i = 0; i < 50 && got === undefined; i++) {
    got = await askAddress(tb, out, h1.vtep, 8080);
    if (got === undefined) await new Promise((r) => setTimeout(r, 200));
  }
  t.equal(got, hostname, 'outside → host:8080 → the container');
});

t.test("a vxmesh-attached endpoint on the same host: egress and --publish beside dockerd's rules", async (t) => {
  const ns = await tb.addContainer(1, 1);
  const ep = JSON.parse(
    (await h1.vx(['attach', 'egnet', '--netns', `/run/netns/${ns}`, '--publish', '8081:7001', '--json'])).stdout,
  ) as { ip: string };
  await startAddressEcho(tb, ns, 7001);
  t.match(
    (await h1.run(['iptables', '-S', 'FORWARD'])).stdout,
    /-P FORWARD DROP/,
    'dockerd set the FORWARD policy to DROP',
  );
  const forward = (await h1.run(['iptables', '-S', 'FORWARD'])).stdout.split('\n');
  t.ok(
    forward.indexOf('-A FORWARD -j DOCKER-USER') >= 0 &&
      forward.indexOf('-A FORWARD -j VXMESH-FORWARD') > forward.indexOf('-A FORWARD -j DOCKER-USER'),
    `vxmesh's chain comes after DOCKER-USER (${forward.join(' | ')})`,
  );
  t.notMatch((await h1.run(['iptables', '-S', 'DOCKER-USER'])).stdout, /VXMESH/, 'DOCKER-USER is left to the admin');
  t.ok(await tb.ping(ns, OUTSIDE_HOST, { count: 2, timeoutS: 2 }), 'the endpoint pings the outside host');
  // The admin's own DOCKER-USER rules come first: a drop there stops vxmesh's egress too.
  await h1.run(['iptables', '-I', 'DOCKER-USER', '-i', 'vxg+', '-j', 'DROP']);
  t.notOk(await tb.ping(ns, OUTSIDE_HOST, { timeoutS: 1 }), "an admin's DOCKER-USER drop applies to vxmesh's egress");
  await h1.run(['iptables', '-D', 'DOCKER-USER', '-i', 'vxg+', '-j', 'DROP']);
  // Docker's drop for a port it did not publish holds for vxmesh's endpoints too.
  await h1.docker(['exec', '-d', 'c1', 'nc', '-ll', '-p', '7002', '-e', 'hostname']);
  const leg = /inet (198\.19\.\d+\.\d+)/.exec((await exec('c1', ['ip', '-o', 'addr', 'show', 'eth1'])).stdout)?.[1];
  t.ok(leg, `c1's docker_gwbridge address ${leg}`);
  let listening: string | undefined;
  for (let i = 0; i < 20 && listening === undefined; i++) {
    listening = await askAddress(tb, h1.netns, leg as string, 7002, 1500);
    if (listening === undefined) await new Promise((r) => setTimeout(r, 200));
  }
  t.ok(listening, 'c1 listens on 7002 (reached from its host)');
  t.equal(
    await askAddress(tb, ns, leg as string, 7002, 1500),
    undefined,
    "the endpoint cannot reach a Docker container's unpublished port through egress",
  );
  t.equal(await askAddress(tb, ns, OUTSIDE_HOST, 7000), h1.vtep, 'TCP out, seen as the host');
  t.equal(
    await askAddress(tb, out, h1.vtep, 8081),
    OUTSIDE_HOST,
    'outside → host:8081 → the endpoint (it sees the client)',
  );
  t.equal(
    (await exec('c1', ['nc', '-w', '3', ep.ip, '7001'])).stdout.trim(),
    await ipOf('c1', 'egnet'),
    'container → endpoint over the overlay: not NATed',
  );
});

t.test('docker network create --internal: no docker_gwbridge leg, no way out', async (t) => {
  t.equal((await dockerNet('inet', '198.18.53.0/24', ['--internal'])).exitCode, 0, 'created');
  const inspect = JSON.parse((await h1.vx(['network', 'inspect', 'inet'])).stdout) as { internal?: boolean };
  t.equal(inspect.internal, true, 'the vxmesh network is internal');
  await h1.docker(['run', '-d', '--name', 'c3', '--network', 'inet', IMAGE, 'sleep', '3600']);
  const links = (await exec('c3', ['ip', '-o', 'addr', 'show'])).stdout;
  t.notMatch(links, /eth1/, 'no second interface');
  t.notOk((await exec('c3', ['ip', 'route'])).stdout.includes('default'), 'no default route');
  t.not((await exec('c3', ['ping', '-c', '1', '-W', '1', OUTSIDE_HOST])).exitCode, 0, 'ping out fails');
});

t.test('--ip-range and --aux-address: addresses only from the range, never the aux address', async (t) => {
  t.equal(
    (await dockerNet('rnet', '198.18.54.0/24', ['--ip-range', '198.18.54.128/28', '--aux-address', 'r1=198.18.54.129']))
      .exitCode,
    0,
    'created',
  );
  const inspect = JSON.parse((await h1.vx(['network', 'inspect', 'rnet'])).stdout) as {
    ipRange?: string;
    reserved?: string[];
  };
  t.same(
    [inspect.ipRange, inspect.reserved],
    ['198.18.54.128/28', ['198.18.54.129']],
    'the range and the aux address are in the network definition',
  );
  const ips: string[] = [];
  for (let k = 0; k < 4; k++) {
    await h1.docker(['run', '-d', '--name', `r${k}`, '--network', 'rnet', IMAGE, 'sleep', '3600']);
    ips.push(await ipOf(`r${k}`, 'rnet'));
  }
  const last = (ip: string) => Number(ip.split('.')[3]);
  t.ok(
    ips.every((ip) => ip.startsWith('198.18.54.') && last(ip) >= 128 && last(ip) <= 143),
    `all inside 198.18.54.128/28: ${ips.join(' ')}`,
  );
  t.notOk(ips.includes('198.18.54.129'), 'the aux address is never handed out');
  const taken = await h1.docker(
    ['run', '-d', '--name', 'rx', '--network', 'rnet', '--ip', '198.18.54.129', IMAGE, 'sleep', '3600'],
    { nothrow: true },
  );
  t.not(taken.exitCode, 0, 'docker run --ip on the aux address is refused');
});
