/**
 * Boot order with Docker: a simulated Docker host loses power and boots again. Its containers have a
 * restart policy on a vxmesh network; they must come back connected whether dockerd or the agent
 * starts first. The host has no systemd: the test plays its part (the plugin socket made before any
 * service, passed to the agent by socket activation).
 */
import t, { type Test } from 'tap';
import { DockerHosts, IMAGE, type DockerHost } from '../../sim/docker-hosts.js';
import { eventually } from '../fixtures/members.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

const env = await DockerHosts.create(2, 'rb', { cli: inProcessCli });
t.teardown(() => env.teardown());
const [h1, h2] = [env.host(1), env.host(2)] as [DockerHost, DockerHost];

const ipOf = (h: DockerHost, name: string) => h.ipOf(name, 'boot');
const ping = async (h: DockerHost, from: string, ip: string) =>
  (await h.docker(['exec', from, 'ping', '-c', '1', '-W', '1', ip], { nothrow: true })).exitCode === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  await h1.startAgent();
  h2.createPluginSocket();
  await h2.startAgent([], { activated: true });
  await h1.createNetwork('boot', '198.18.54.0/24');
  await h2.createNetwork('boot', '198.18.54.0/24');
  await h1.docker(['run', '-d', '--name', 'ra', '--network', 'boot', IMAGE, 'sleep', '36000']);
  await h2.docker(['run', '-d', '--name', 'rb', '--restart', 'always', '--network', 'boot', IMAGE, 'sleep', '36000']);
} catch (e) {
  await env.teardown(); // a failed set-up must not leave the hosts behind
  throw e;
}
t.ok(
  await eventually(async () => ping(h1, 'ra', await ipOf(h2, 'rb')), 15_000, 200),
  'before the reboot: ra reaches rb',
);

/** After a boot, b runs again with an address on the network, and a and b reach each other. */
async function backConnected(t: Test, when: string): Promise<void> {
  const running = await eventually(
    async () =>
      (await h2.docker(['inspect', '-f', '{{.State.Running}}', 'rb'], { nothrow: true })).stdout.trim() === 'true',
    60_000,
    500,
  );
  t.ok(running, `${when}: Docker restarted rb (restart policy)`);
  const ip = await ipOf(h2, 'rb');
  t.match(ip, /^198\.18\.54\.\d+$/, `${when}: rb has an address on the vxmesh network`);
  t.ok(await eventually(() => ping(h1, 'ra', ip), 30_000, 250), `${when}: ra reaches rb (${ip}) across hosts`);
  t.ok(await eventually(async () => ping(h2, 'rb', await ipOf(h1, 'ra')), 10_000, 250), `${when}: and rb reaches ra`);
}

await t.test(
  'dockerd starts first, the agent 20 s later (past the ~15 s Docker retries for a missing plugin): Docker waits on the activated socket',
  async (t) => {
    await h2.crash();
    await h2.boot();
    h2.createPluginSocket(); // sockets.target comes before any service
    h2.spawnDockerd();
    await sleep(20_000);
    await h2.startAgent([], { activated: true });
    await h2.waitDockerd(60_000);
    await backConnected(t, 'dockerd first');
  },
);

await t.test('the agent starts first (READY before dockerd, as Type=notify orders it)', async (t) => {
  await h2.crash();
  await h2.boot();
  h2.createPluginSocket();
  await h2.startAgent([], { activated: true });
  await h2.startDockerd(60_000);
  await backConnected(t, 'agent first');
});
