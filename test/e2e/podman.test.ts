/**
 * Podman (4.3, CNI backend) on two simulated hosts runs containers on a vxmesh network through the
 * `vxmesh` CNI plugin: they reach each other and a `vxmesh attach` namespace by address and by name,
 * `podman network ls` shows the network, `podman rm -f` withdraws a container from the other host's
 * kernel.
 */
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { Cluster } from '../../sim/cluster.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { busyboxRootfs, PodmanHost } from '../fixtures/podman.js';
import { ContainerdHost } from '../fixtures/containerd.js';

$.verbose = false;
$.quiet = true;

const c = await Cluster.create(2, 'pod', { cli: inProcessCli });
const hosts: PodmanHost[] = [];
t.teardown(async () => {
  for (const h of hosts) await h.cleanup();
  await c.teardown();
});
const pluginDir = path.join(c.dir, 'cni-bin');
await c.vx(1, ['cni', 'install', '--dir', pluginDir]);
for (const i of [1, 2]) await c.startAgent(i);
await c.vx(1, ['network', 'create', 'blue', '--subnet', '198.18.70.0/24', '--vni', '7001']);
await eventually(async () => (await c.vx(2, ['network', 'inspect', 'blue'], { nothrow: true })).exitCode === 0, 15_000);
const rootfs = busyboxRootfs(c.dir);
for (const i of [1, 2]) {
  const h = new PodmanHost(path.join(c.dir, `podman-h${i}`), c.tb.host(i).netns, [pluginDir, '/usr/lib/cni']);
  h.network('blue', [{ type: 'vxmesh', network: 'blue', socket: c.socket(i) }]);
  hosts.push(h);
}
const [p1, p2] = hosts as [PodmanHost, PodmanHost];

const ipOf = async (h: PodmanHost, name: string) =>
  (await h.podman(['inspect', '--format', '{{.NetworkSettings.Networks.blue.IPAddress}}', name])).stdout.trim();

t.test('podman run on two hosts: by address, by name, with a vxmesh attach namespace; rm -f withdraws', async (t) => {
  t.match(
    (await p1.podman(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).stdout,
    /blue vxmesh/,
    'podman network ls',
  );
  await p1.run('web', 'blue', rootfs);
  await p2.run('client', 'blue', rootfs);
  const webIp = await ipOf(p1, 'web');
  t.match(webIp, /^198\.18\.70\.\d+$/, 'an address of the vxmesh network');
  const plain = await c.tb.addContainer(2, 1);
  const p = await c.vxJson<{ ip: string }>(2, ['attach', 'blue', '--netns', plain]);
  const ping = (h: PodmanHost, name: string, to: string) =>
    eventually(async () => (await h.exec(name, ['ping', '-c', '1', '-W', '1', to])).code === 0, 20_000);
  t.ok(await ping(p2, 'client', webIp), 'host 2 container → host 1 container, by address');
  t.ok(await ping(p1, 'web', p.ip), 'podman container → vxmesh attach namespace');
  t.ok(await c.tb.ping(plain, webIp, { count: 1, timeoutS: 2 }), 'vxmesh attach namespace → podman container');
  const ns = await p2.exec('client', ['nslookup', 'web.blue.vxmesh', '198.18.70.1']);
  t.match(ns.stdout, webIp, `the container's name answers from the network's DNS server: ${ns.stdout} ${ns.stderr}`);
  const resolv = (await p2.exec('client', ['cat', '/etc/resolv.conf'])).stdout;
  t.match(resolv, /nameserver 198\.18\.70\.1/, `podman writes the result's DNS server into resolv.conf: ${resolv}`);
  t.ok(await ping(p2, 'client', 'web'), 'by name, through resolv.conf (search blue.vxmesh)');
  const mac = (await p1.exec('web', ['cat', '/sys/class/net/eth0/address'])).stdout.trim();
  const fdb = async () => (await $`bridge -n ${c.overlayPrefix(2)}7001 fdb show dev vxlan7001`).stdout;
  t.ok((await fdb()).includes(mac), "in host 2's kernel");
  await p1.podman(['rm', '-f', '-t', '0', 'web']);
  t.ok(await eventually(async () => !(await fdb()).includes(mac), 15_000), "podman rm -f: gone from host 2's kernel");
  t.notOk(
    (await c.vxJson<Array<{ ip: string }>>(1, ['endpoints', 'blue'])).some((e) => e.ip === webIp),
    'and from the agent of host 1',
  );
});

t.test(
  'portmap chained after vxmesh (hostRoute): a published port reaches the container from another host',
  async (t) => {
    p1.network('bluepub', [
      { type: 'vxmesh', network: 'blue', socket: c.socket(1), hostRoute: true },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
    await p1.run(
      'srv',
      'bluepub',
      rootfs,
      ['-p', '8080:80'],
      ['/bin/sh', '-c', 'while true; do echo hello-from-srv | nc -l -p 80; done'],
    );
    const ip = (
      await p1.podman(['inspect', '--format', '{{.NetworkSettings.Networks.bluepub.IPAddress}}', 'srv'])
    ).stdout.trim();
    const routes = (await $`ip -n ${c.tb.host(1).netns} route show ${'198.18.70.0/24'}`).stdout;
    t.match(
      routes,
      /198\.18\.70\.0\/24 via \S+ dev vxg7001/,
      `host 1 routes the subnet through the gateway link: ${routes}`,
    );
    t.ok(await c.tb.ping(c.tb.host(1).netns, ip, { count: 1, timeoutS: 2 }), 'host 1 → the container');
    const fetch = async () =>
      (await $({ nothrow: true })`ip netns exec ${c.tb.host(2).netns} busybox nc -w 2 ${c.tb.host(1).vtep} 8080`)
        .stdout;
    const reached = await eventually(async () => (await fetch()).includes('hello-from-srv'), 20_000);
    const why = reached
      ? ''
      : `: ${(await $`ip netns exec ${c.tb.host(1).netns} iptables-save`).stdout} ${(await $`ip -n ${c.tb.host(1).netns} route`).stdout}`;
    t.ok(reached, `host 2 → host 1:8080 → the container${why}`);
    await p1.podman(['rm', '-f', '-t', '0', 'srv']);
    t.ok(
      await eventually(
        async () => !(await $`ip -n ${c.tb.host(1).netns} route show`).stdout.includes('198.18.70.0/24 via'),
        15_000,
      ),
      'the last such container gone: the route too',
    );
  },
);

t.test(
  'containerd (ctr run --cni) on host 2 and Podman on host 1 share the network; a one-off container exiting is withdrawn',
  async (t) => {
    const ctrHost = new ContainerdHost(c.tb, path.join(c.dir, 'containerd-h2'), c.tb.host(2).netns, {
      vxmesh: path.join(pluginDir, 'vxmesh'),
      loopback: '/usr/lib/cni/loopback',
    });
    t.teardown(() => ctrHost.cleanup());
    ctrHost.network('blue', [{ type: 'vxmesh', network: 'blue', socket: c.socket(2) }]);
    await ctrHost.start();
    await ctrHost.run('ctr1', rootfs);
    const shown = await ctrHost.exec('ctr1', ['/bin/ip', '-4', '-o', 'addr', 'show', 'eth0']);
    const addr = `${shown.stdout}${shown.stderr}`;
    const ctrIp = /inet (198\.18\.70\.\d+)\//.exec(addr)?.[1] ?? '';
    t.ok(ctrIp, `the ctr container has an address of the network: ${addr}`);
    await p1.run('web3', 'blue', rootfs);
    const podIp = await ipOf(p1, 'web3');
    t.ok(
      await eventually(
        async () => (await ctrHost.exec('ctr1', ['/bin/ping', '-c', '1', '-W', '1', podIp])).code === 0,
        20_000,
      ),
      'containerd container (host 2) → Podman container (host 1)',
    );
    t.ok(
      await eventually(async () => (await p1.exec('web3', ['ping', '-c', '1', '-W', '1', ctrIp])).code === 0, 20_000),
      'Podman container (host 1) → containerd container (host 2)',
    );
    // ctr runs DEL only for a container it ran in the foreground with --rm, when the task exits.
    const once = await ctrHost.ctr(
      [
        'run',
        '--rm',
        '--cni',
        '--rootfs',
        rootfs,
        'ctr2',
        '/bin/sh',
        '-c',
        `ip -4 -o addr show eth0; ping -c 1 -W 2 ${podIp}`,
      ],
      { nothrow: true },
    );
    const onceIp = /inet (198\.18\.70\.\d+)\//.exec(once.stdout)?.[1] ?? '';
    t.equal(
      once.code,
      0,
      `ctr run --rm --cni: a one-off container reaches the Podman container: ${once.stdout} ${once.stderr}`,
    );
    t.ok(onceIp, 'with an address of the network');
    t.ok(
      await eventually(
        async () => !(await c.vxJson<Array<{ ip: string }>>(1, ['endpoints', 'blue'])).some((e) => e.ip === onceIp),
        15_000,
      ),
      "its exit ran the plugin's DEL: gone from host 1's table",
    );
    t.ok(
      (await c.vxJson<Array<{ ip: string }>>(1, ['endpoints', 'blue'])).some((e) => e.ip === ctrIp),
      'the detached one stays',
    );
  },
);
