/**
 * The chaos suite's Docker fault: three hosts with their own dockerd (Debian docker.io) and agent, a
 * container per host on one vxmesh network (restart policy always), pinging each other every 100 ms;
 * host 2's dockerd is stopped and started again. Hosts 1 and 3 must keep their traffic; host 2's
 * container comes back (Docker restarts it, the plugin joins it again) and the cluster converges.
 */
import { DockerHosts, IMAGE, type DockerHost } from '../../sim/docker-hosts.js';
import { convergence, startPings, type Ct, type FaultReport } from './faults.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function container(h: DockerHost, name: string): Promise<Ct> {
  const pid = (await h.docker(['inspect', '-f', '{{.State.Pid}}', name])).stdout.trim();
  const ip = await h.ipOf(name, 'chaosd');
  return { host: h.index, netns: `/proc/${pid}/ns/net`, ip };
}

const clusterClean = (h: DockerHost, timeoutMs: number) =>
  convergence((args) => h.vx(args, { nothrow: true }), timeoutMs);

export async function dockerdRestart(convergeTimeoutMs: number): Promise<FaultReport> {
  const env = await DockerHosts.create(3, 'chd', { cli: inProcessCli });
  try {
    const hs = [env.host(1), env.host(2), env.host(3)];
    for (const h of hs) await h.startAgent();
    await hs[0]?.createNetwork('chaosd', '198.18.71.0/24');
    for (const h of hs.slice(1)) {
      while ((await h.vx(['network', 'inspect', 'chaosd'], { nothrow: true })).exitCode !== 0) await sleep(200);
      await h.createNetwork('chaosd', '198.18.71.0/24');
    }
    for (const h of hs)
      await h.docker([
        'run',
        '-d',
        '--name',
        `k${h.index}`,
        '--restart',
        'always',
        '--network',
        'chaosd',
        IMAGE,
        'sleep',
        '36000',
      ]);
    const cts = await Promise.all(hs.map((h) => container(h, `k${h.index}`)));
    if ((await clusterClean(env.host(1), convergeTimeoutMs)) < 0)
      throw new Error('the Docker cluster never converged before the fault');
    const pings = startPings(cts.filter((x) => x.host !== 2));
    const errors: string[] = [];
    await env.host(2).stopDockerd();
    await env.host(2).startDockerd();
    const t0 = Date.now();
    let back: Ct | undefined;
    let backMs = -1;
    while (!back && Date.now() - t0 < convergeTimeoutMs) {
      const running =
        (await env.host(2).docker(['inspect', '-f', '{{.State.Running}}', 'k2'], { nothrow: true })).stdout.trim() ===
        'true';
      if (running) {
        back = await container(env.host(2), 'k2');
        backMs = Date.now() - t0;
      } else await sleep(250);
    }
    if (!back) errors.push('k2 never ran again after the dockerd restart');
    const converged = await clusterClean(env.host(1), convergeTimeoutMs);
    if (converged < 0) errors.push(`fdb --cluster --check still failing after ${convergeTimeoutMs} ms`);
    const reach = back
      ? (await env.host(1).docker(['exec', 'k1', 'ping', '-c', '1', '-W', '2', back.ip], { nothrow: true }))
          .exitCode === 0
      : false;
    if (back && !reach) errors.push(`k1 cannot reach k2 at ${back.ip} after the restart`);
    return {
      fault: 'dockerd of h2 restarted (Docker hosts, restart policy always)',
      ...(await pings.stop()),
      errors,
      convergenceMs: converged < 0 ? undefined : Date.now() - t0,
      containerBackAfterMs: backMs,
    };
  } finally {
    await env.teardown();
  }
}
