/**
 * Docker, Podman and plain namespaces on one vxmesh network, on two simulated hosts that each run a
 * Docker engine, Podman (CNI backend, the `vxmesh` plugin) and a vxmesh agent: every container reaches
 * every other one by address, across hosts and across runtimes, and by name through the network's DNS
 * server; containers leaving through either runtime leave the other host's kernel. About half a
 * minute here: `npm run test:runtimes` (npm test covers Podman and containerd without Docker,
 * test/e2e/podman.test.ts).
 */
import path from 'node:path';
import t from 'tap';
import { $ } from 'zx';
import { DockerHosts, IMAGE, type DockerHost } from '../../sim/docker-hosts.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { busyboxRootfs, PodmanHost } from '../fixtures/podman.js';

$.verbose = false;
$.quiet = true;

const env = await DockerHosts.create(2, 'rt', { cli: inProcessCli });
const podmen: PodmanHost[] = [];
t.teardown(async () => {
  for (const p of podmen) await p.cleanup();
  await env.teardown();
});
const hosts = [env.host(1), env.host(2)] as [DockerHost, DockerHost];
for (const h of hosts) await h.startAgent(['--docker-names', '--docker-host', h.dockerSock]);
const pluginDir = path.join(env.dir, 'cni-bin');
await hosts[0].vx(['cni', 'install', '--dir', pluginDir]);
const rootfs = busyboxRootfs(env.dir);
for (const h of hosts) {
  const p = new PodmanHost(path.join(env.dir, `podman-h${h.index}`), h.netns, [pluginDir, '/usr/lib/cni'], h.mnt);
  p.network('mixed', [{ type: 'vxmesh', network: 'mixed', socket: h.agentSocket() }]);
  podmen.push(p);
}

interface Member {
  label: string;
  ip: string;
  name?: string;
  ping(to: string): Promise<boolean>;
}
const members: Member[] = [];

t.test('Docker, Podman and a vxmesh attach namespace on two hosts, one network', async (t) => {
  for (const h of hosts) t.equal((await h.createNetwork('mixed', '198.18.80.0/24', [], { nothrow: true })).exitCode, 0);
  for (const h of hosts) {
    const d = `dk${h.index}`;
    await h.docker(['run', '-d', '--name', d, '--network', 'mixed', IMAGE, 'sleep', '3600']);
    members.push({
      label: `docker ${d} (h${h.index})`,
      ip: await h.ipOf(d, 'mixed'),
      name: d,
      ping: async (to) =>
        (await h.docker(['exec', d, 'ping', '-c', '1', '-W', '2', to], { nothrow: true })).exitCode === 0,
    });
    const p = podmen[h.index - 1] as PodmanHost;
    const pd = `pm${h.index}`;
    await p.run(pd, 'mixed', rootfs);
    members.push({
      label: `podman ${pd} (h${h.index})`,
      ip: (await p.podman(['inspect', '--format', '{{.NetworkSettings.Networks.mixed.IPAddress}}', pd])).stdout.trim(),
      name: pd,
      ping: async (to) => (await p.exec(pd, ['ping', '-c', '1', '-W', '2', to])).code === 0,
    });
  }
  const plain = await env.tb.addContainer(2, 1);
  const attached = await hosts[1].vx(['attach', 'mixed', '--netns', plain, '--json']);
  members.push({
    label: 'vxmesh attach (h2)',
    ip: (JSON.parse(attached.stdout) as { ip: string }).ip,
    ping: (to) => env.tb.ping(plain, to, { count: 1, timeoutS: 2 }),
  });
  t.equal(new Set(members.map((m) => m.ip)).size, members.length, `every member has its own address`);
  for (const m of members) t.match(m.ip, /^198\.18\.80\.\d+$/, `${m.label}: ${m.ip}`);
  for (const from of members)
    for (const to of members)
      if (from !== to) t.ok(await eventually(() => from.ping(to.ip), 20_000), `${from.label} → ${to.label} (${to.ip})`);
  // Docker's containers (--docker-names) and Podman's (their CNI name) answer from the network's DNS server.
  const [dk1, pm1] = [members[0], members[1]] as [Member, Member];
  const p2 = podmen[1] as PodmanHost;
  const asked = await p2.exec('pm2', ['nslookup', `${dk1.name}.mixed.vxmesh`, '198.18.80.1']);
  t.match(asked.stdout, dk1.ip, `podman on h2 resolves docker's ${dk1.name}: ${asked.stdout}`);
  const back = await hosts[1].docker(['exec', 'dk2', 'nslookup', `${pm1.name}.mixed.vxmesh`, '198.18.80.1'], {
    nothrow: true,
  });
  t.match(back.stdout, pm1.ip, `docker on h2 resolves podman's ${pm1.name}: ${back.stdout}`);
});

t.test('leaving through either runtime leaves the other host', async (t) => {
  const inTable = async (ip: string) =>
    (JSON.parse((await hosts[1].vx(['endpoints', 'mixed', '--json'])).stdout) as Array<{ ip: string }>).some(
      (e) => e.ip === ip,
    );
  const [dk1, pm1] = [members[0], members[1]] as [Member, Member];
  t.ok((await inTable(dk1.ip)) && (await inTable(pm1.ip)), "both of host 1's containers are in host 2's table");
  await hosts[0].docker(['rm', '-f', 'dk1']);
  await (podmen[0] as PodmanHost).podman(['rm', '-f', '-t', '0', 'pm1']);
  t.ok(await eventually(async () => !(await inTable(dk1.ip)), 15_000), 'docker rm -f: gone on host 2');
  t.ok(await eventually(async () => !(await inTable(pm1.ip)), 15_000), 'podman rm -f: gone on host 2');
});
