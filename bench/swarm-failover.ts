/**
 * The same host crash with Docker's own swarm overlay (the baseline of bench:failover): two simulated
 * hosts with their own dockerd in one swarm, an attachable overlay network, a container on each; host
 * 2 loses power (cable pulled, every process killed, /run gone). Measured from the power loss: when
 * host 1's swarm overlay namespace has no fdb entry towards host 2's VTEP. Host 2 boots and rejoins
 * between crashes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readNamespaceTables } from '../dataplane/tables.js';
import { DockerHosts, IMAGE, type DockerHost } from '../sim/docker-hosts.js';
import { sleep, until } from './wait.js';

/**
 * Whether host h's swarm overlay namespaces (`<exec-root>/netns/1-<network id>`, bind mounts that exist
 * only inside the host's mount namespace, reached through its dockerd's /proc/PID/root) hold an fdb
 * entry towards `vtep`. Read over netlink, the same way as vxmesh's side of the bench.
 */
async function entriesTowards(h: DockerHost, vtep: string): Promise<boolean> {
  const pid = h.dockerd?.pid;
  if (pid === undefined) return false;
  const dir = `/proc/${pid}/root${path.join(h.dir, 'exec', 'netns')}`; // under dockerd's --exec-root
  const names = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => /^\d+-/.test(f)) : [];
  for (const n of names) {
    const tables = await readNamespaceTables(path.join(dir, n)).catch(() => []);
    if (tables.some((t) => t.fdb.some((e) => e.dst === vtep))) return true;
  }
  return false;
}

/** Host 1's engine starts a swarm (manager), host 2's joins it (worker). */
export async function formSwarm(h1: DockerHost, h2: DockerHost): Promise<void> {
  await h1.docker(['swarm', 'init', '--advertise-addr', h1.vtep, '--listen-addr', `${h1.vtep}:2377`]);
  const token = (await h1.docker(['swarm', 'join-token', '-q', 'worker'])).stdout.trim();
  await h2.docker([
    'swarm',
    'join',
    '--token',
    token,
    '--advertise-addr',
    h2.vtep,
    '--listen-addr',
    `${h2.vtep}:2377`,
    `${h1.vtep}:2377`,
  ]);
}

export async function swarmHostCrash(crashes: number, log: (s: string) => void): Promise<number[]> {
  const env = await DockerHosts.create(2, 'sw');
  try {
    const [h1, h2] = [env.host(1), env.host(2)];
    const vtep2 = h2.vtep;
    await formSwarm(h1, h2);
    await h1.docker(['network', 'create', '-d', 'overlay', '--attachable', '--subnet', '198.18.31.0/24', 'swo']);
    await h1.docker(['run', '-d', '--name', 's1', '--network', 'swo', IMAGE, 'sleep', '36000']);
    const samples: number[] = [];
    for (let k = 0; k < crashes; k++) {
      // The attachable network reaches host 2 with its first container there (each life: a new one).
      await until(
        async () =>
          (
            await h2.docker(['run', '-d', '--name', `s2-${k}`, '--network', 'swo', IMAGE, 'sleep', '36000'], {
              nothrow: true,
            })
          ).exitCode === 0,
        60_000,
        1000,
      );
      if (!(await until(() => entriesTowards(h1, vtep2), 60_000)))
        throw new Error("swarm: host 2 never appeared in host 1's overlay fdb");
      await sleep(3000);
      const t0 = performance.now();
      await h2.crash();
      if (!(await until(async () => !(await entriesTowards(h1, vtep2)), 60_000, 20)))
        throw new Error('swarm: entries towards the crashed host still there after 60 s');
      const ms = Math.round(performance.now() - t0);
      samples.push(ms);
      log(`swarm N=2 crash ${k + 1}: withdrawn from the other kernel after ${ms} ms`);
      if (k < crashes - 1) {
        await h2.boot();
        await h2.startDockerd(60_000); // its data root (swarm identity, image) survived
      }
    }
    return samples;
  } finally {
    await env.teardown();
  }
}
