/**
 * The CNI plugin's speed, beside the reference plugins in the same run (two simulated hosts, agents
 * running). Interleaved, CNI_ROUNDS (20) each:
 *   - ADD and DEL as a runtime invokes a plugin (a process, stdin, CNI_*), of a next container of the
 *     network on the host (one stands there): vxmesh's launcher, and the
 *     reference `bridge` + `host-local` plugins (Debian's containernetworking-plugins) in the same host;
 *   - the launcher's bare start (VERSION: answered without the agent): the part of its time that is a
 *     Node.js process start;
 *   - ADD on host 1 → the fdb entry in host 2's kernel (its notification);
 *   - `podman run --rm` end to end on the vxmesh network and on a reference bridge network
 *     (CNI_PODMAN_ROUNDS, 5).
 * Goal: vxmesh ADD ≤ 1.5 × the reference ADD + one bare start of the launcher.
 *
 * npm run bench:cni → bench/results/cni.json
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { $ } from 'zx';
import { openNetns } from '../dataplane/netns.js';
import { KernelEventSocket } from '../dataplane/netlink/event-socket.js';
import { Cluster } from '../sim/cluster.js';
import { busyboxRootfs, PodmanHost } from '../test/fixtures/podman.js';
import { until } from './wait.js';

$.verbose = false;
$.quiet = true;
const ROUNDS = Number(process.env.CNI_ROUNDS ?? 20);
const PODMAN_ROUNDS = Number(process.env.CNI_PODMAN_ROUNDS ?? 5);
const REFERENCE_DIR = '/usr/lib/cni';
const VNI = 7301;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? NaN;

const c = await Cluster.create(2, 'cnb');
const podmen: PodmanHost[] = [];
let watchFd: number | undefined;
let watch: KernelEventSocket | undefined;

/** One plugin call in host `i`'s namespace as a runtime makes it; ms, and stdout when it succeeded. */
async function invoke(
  i: number,
  plugin: string,
  env: Record<string, string>,
  config: unknown,
): Promise<{ ms: number; out: string }> {
  const t0 = performance.now();
  const child = spawn('nsenter', [`--net=/run/netns/${c.tb.host(i).netns}`, plugin], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CNI_PATH: REFERENCE_DIR, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin.end(JSON.stringify(config));
  const code = await new Promise<number>((r) => child.on('close', (x) => r(x ?? -1)));
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${plugin} ${env.CNI_COMMAND ?? ''} exited with ${code}: ${out} ${err}`);
  return { ms, out };
}

try {
  await c.startAgent(1);
  await c.startAgent(2);
  const pluginDir = path.join(c.dir, 'cni-bin');
  await c.vx(1, ['cni', 'install', '--dir', pluginDir]);
  const vxmesh = path.join(pluginDir, 'vxmesh');
  await c.vx(1, ['network', 'create', 'bench', '--subnet', '198.18.80.0/22', '--vni', String(VNI)]);
  await until(async () => (await c.vx(2, ['network', 'inspect', 'bench'], { nothrow: true })).exitCode === 0, 15_000);
  // Host 2 needs the overlay (an endpoint) to receive entries; host 1 has one standing endpoint, so each
  // measured ADD is a next container of the network there (the first pays the overlay and its egress).
  await c.vx(2, ['attach', 'bench', '--netns', await c.tb.addContainer(2, 1)]);
  await c.vx(1, ['attach', 'bench', '--netns', await c.tb.addContainer(1, 1)]);
  const vxConf = { cniVersion: '1.0.0', name: 'bench', type: 'vxmesh', network: 'bench', socket: c.socket(1) };
  const refConf = {
    cniVersion: '1.0.0',
    name: 'ref',
    type: 'bridge',
    bridge: 'cnibr0',
    isGateway: true,
    ipam: { type: 'host-local', subnet: '198.18.90.0/24', dataDir: path.join(c.dir, 'host-local') },
  };
  watchFd = openNetns(`${c.overlayPrefix(2)}${VNI}`);
  watch = KernelEventSocket.open(watchFd);
  const t = {
    refAdd: [] as number[],
    refDel: [] as number[],
    vxAdd: [] as number[],
    vxDel: [] as number[],
    bare: [] as number[],
    remote: [] as number[],
  };
  for (let r = 0; r < ROUNDS + 2; r++) {
    const ns = await c.tb.addContainer(1, 10 + r);
    const env = (command: string, id: string, ifname: string) => ({
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: `/run/netns/${ns}`,
      CNI_IFNAME: ifname,
    });
    const refAdd = await invoke(1, path.join(REFERENCE_DIR, 'bridge'), env('ADD', `ref${r}`, 'eth1'), refConf);
    watch.read();
    let seenAt: number | undefined;
    const poll = setInterval(() => {
      for (const e of (watch as KernelEventSocket).read().events)
        if (!e.deleted && e.entry?.family === 'bridge' && seenAt === undefined) seenAt = performance.now();
    }, 2);
    const t0 = performance.now();
    const vxAdd = await invoke(1, vxmesh, env('ADD', `vx${r}`, 'eth0'), vxConf);
    await until(() => Promise.resolve(seenAt !== undefined), 30_000, 2);
    clearInterval(poll);
    const bare = await invoke(1, vxmesh, { CNI_COMMAND: 'VERSION' }, { cniVersion: '1.0.0' });
    const refDel = await invoke(1, path.join(REFERENCE_DIR, 'bridge'), env('DEL', `ref${r}`, 'eth1'), refConf);
    const vxDel = await invoke(1, vxmesh, env('DEL', `vx${r}`, 'eth0'), vxConf);
    if (r < 2) continue; // warm-up
    t.refAdd.push(refAdd.ms);
    t.vxAdd.push(vxAdd.ms);
    t.bare.push(bare.ms);
    t.refDel.push(refDel.ms);
    t.vxDel.push(vxDel.ms);
    t.remote.push((seenAt ?? NaN) - t0);
  }
  // podman run end to end, interleaved.
  const rootfs = busyboxRootfs(c.dir);
  const p = new PodmanHost(path.join(c.dir, 'podman'), c.tb.host(1).netns, [pluginDir, REFERENCE_DIR]);
  podmen.push(p);
  p.network('bench', [{ type: 'vxmesh', network: 'bench', socket: c.socket(1) }]);
  p.network('ref', [{ ...refConf, name: undefined, cniVersion: undefined }]);
  const pod = { vx: [] as number[], ref: [] as number[] };
  for (let r = 0; r < PODMAN_ROUNDS + 1; r++)
    for (const net of ['ref', 'bench'] as const) {
      const t0 = performance.now();
      await p.podman([
        'run',
        '--rm',
        '--ulimit',
        'nofile=1024:1024',
        '--ulimit',
        'nproc=1024:1024',
        '--network',
        net,
        '--rootfs',
        rootfs,
        '/bin/sh',
        '-c',
        'true',
      ]);
      if (r > 0) (net === 'bench' ? pod.vx : pod.ref).push(performance.now() - t0);
    }
  const m = (xs: number[]) => +median(xs).toFixed(1);
  const goal = 1.5 * median(t.refAdd) + median(t.bare);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    rounds: ROUNDS,
    add_ms: { vxmesh: m(t.vxAdd), reference_bridge_host_local: m(t.refAdd) },
    del_ms: { vxmesh: m(t.vxDel), reference_bridge_host_local: m(t.refDel) },
    launcher_bare_start_ms: m(t.bare),
    add_goal_ms: +goal.toFixed(1),
    add_over_goal: +(median(t.vxAdd) / goal).toFixed(2),
    add_to_other_host_kernel_ms: m(t.remote),
    podman_run_ms: { vxmesh: m(pod.vx), reference_bridge: m(pod.ref), rounds: PODMAN_ROUNDS },
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(
    `ADD ${result.add_ms.vxmesh} ms vs reference ${result.add_ms.reference_bridge_host_local} ms + launcher start ${result.launcher_bare_start_ms} ms: ${result.add_over_goal}× the goal (1.5× reference + one start)`,
  );
  const file = path.join(path.dirname(new URL(import.meta.url).pathname), '..', '..', 'bench', 'results', 'cni.json');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  watch?.close();
  if (watchFd !== undefined) fs.closeSync(watchFd);
  for (const p of podmen) await p.cleanup();
  await c.teardown();
}
