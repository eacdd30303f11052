/**
 * Simulated hosts that each run their own Docker engine and vxmesh agent (tests and benchmarks).
 *
 * Each host = a testbed network namespace + a mount namespace pinned on a file, in which sysfs and
 * the cgroup v1 hierarchies are mounted and per-host directories are bind-mounted over /run/docker,
 * /etc/docker and /run/containerd. `nsenter --net=NS --mount=FILE CMD` then runs CMD "on that host":
 * dockerd, the agent (whose plugin socket lands in that host's /run/docker/plugins), the docker CLI.
 * The agent's overlay namespaces live in that mount namespace and vanish with it.
 */
import { removeControlSockets, wireguardGoOf } from './wireguard-processes.js';
import { dnsKeeperPid } from '../core/dns-keeper-files.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { $ } from 'zx';
import { killAndWait, Testbed } from './testbed.js';
import { makeClusterKey, type CliResult, type CliRunner } from './cluster.js';
import { processesInMountNamespace } from './host-processes.js';
import { activationCommand, activationEnv, listeningSocket } from './service-manager.js';
import { plainShells } from './shell.js';

$.verbose = false;
$.quiet = true;
plainShells();

const CLI = new URL('../cli/cli.js', import.meta.url).pathname;
const CGROUPS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];
export const IMAGE = 'vxbusy';

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export class DockerHost {
  readonly dir: string;
  readonly mnt: string;
  readonly dockerSock: string;
  dockerd?: ChildProcess;
  agent?: ChildProcess;
  /** The plugin socket "systemd" made for the agent (socket activation); it outlives agent restarts. */
  private pluginListener?: { fd: number; close(): void };

  constructor(
    readonly env: DockerHosts,
    readonly index: number,
  ) {
    this.dir = path.join(env.dir, `h${index}`);
    this.mnt = path.join(env.mntDir, `h${index}.mnt`);
    this.dockerSock = path.join(this.dir, 'docker.sock');
  }

  get netns(): string {
    return this.env.tb.host(this.index).netns;
  }

  get vtep(): string {
    return this.env.tb.host(this.index).vtep;
  }

  private nsArgs(): string[] {
    return [`--net=/run/netns/${this.netns}`, `--mount=${this.mnt}`];
  }

  /** Runs a command on this host (its network and mount namespaces). */
  run(cmd: string[], opts: { nothrow?: boolean } = {}) {
    const p = $`nsenter ${this.nsArgs()} ${cmd}`;
    return opts.nothrow ? p.nothrow() : p;
  }

  docker(args: string[], opts: { nothrow?: boolean } = {}) {
    return this.run(['docker', '-H', `unix://${this.dockerSock}`, ...args], opts);
  }

  /** `docker network create -d vxmesh --ipam-driver vxmesh --subnet SUBNET -o vxmesh.network=NAME [EXTRA] NAME`. */
  createNetwork(name: string, subnet: string, extra: string[] = [], opts: { nothrow?: boolean } = {}) {
    const args = ['network', 'create', '-d', 'vxmesh', '--ipam-driver', 'vxmesh', '--subnet', subnet];
    return this.docker([...args, '-o', `vxmesh.network=${name}`, ...extra, name], opts);
  }

  /** A container's address on one network ('' when it has none). */
  async ipOf(container: string, network: string): Promise<string> {
    const format = `{{with index .NetworkSettings.Networks "${network}"}}{{.IPAddress}}{{end}}`;
    return (await this.docker(['inspect', '-f', format, container], { nothrow: true })).stdout.trim();
  }

  private spawnOnHost(
    cmd: string[],
    logName: string,
    extra: { env?: NodeJS.ProcessEnv; passFds?: number[] } = {},
  ): ChildProcess {
    return this.env.tb.spawnHere('nsenter', [...this.nsArgs(), ...cmd], {
      logFile: path.join(this.dir, logName),
      ...extra,
    });
  }

  /** The plugin socket's path as seen from outside the host (its /run/docker/plugins is bind-mounted). */
  get pluginSocketPath(): string {
    return path.join(this.dir, 'run-docker', 'plugins', 'vxmesh.sock');
  }

  async setup(): Promise<void> {
    for (const d of ['run-docker', 'etc-docker', 'run-containerd', 'data', 'exec', 'vxmesh'])
      fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    fs.writeFileSync(this.mnt, '');
    await $`unshare --mount=${this.mnt} --propagation slave true`;
    const script = [
      'set -e',
      'mount -t sysfs sysfs /sys',
      'mount -t tmpfs cgroup /sys/fs/cgroup',
      ...CGROUPS.map((c) => `mkdir -p /sys/fs/cgroup/${c} && mount -t cgroup -o ${c} cgroup /sys/fs/cgroup/${c}`),
      'mkdir -p /sys/fs/cgroup/systemd && mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd',
      'mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified',
      `mount --bind ${this.dir}/run-docker /run/docker`,
      `mount --bind ${this.dir}/etc-docker /etc/docker`,
      `mkdir -p /run/containerd && mount --bind ${this.dir}/run-containerd /run/containerd`,
      'mkdir -p /run/docker/plugins',
    ].join('\n');
    await $`mkdir -p /run/docker /etc/docker`;
    await this.run(['sh', '-c', script]);
  }

  /** Starts dockerd; waits up to `waitMs` for its API (a boot restoring containers answers late). */
  async startDockerd(waitMs = 10_000): Promise<void> {
    this.spawnDockerd();
    await this.waitDockerd(waitMs);
  }

  /** Starts dockerd without waiting (its API answers only once it has restored its containers). */
  spawnDockerd(): void {
    // docker_gwbridge (the egress leg of containers on vxmesh networks) takes its subnet from this pool,
    // never Docker's default 172.17.0.0/16. With `iptables`, dockerd manages the host's packet filter
    // (NAT egress, -p publishing, FORWARD policy DROP) as on a default install.
    const filter = this.env.iptables
      ? ['--iptables=true', '--ip-forward=true']
      : ['--iptables=false', '--ip-masq=false', '--ip-forward=false'];
    this.dockerd = this.spawnOnHost(
      [
        'dockerd',
        ...filter,
        '--ip6tables=false',
        '--bridge=none',
        '--default-address-pool',
        'base=198.19.128.0/17,size=24',
        '--storage-driver=overlay2',
        '--data-root',
        path.join(this.dir, 'data'),
        '--exec-root',
        path.join(this.dir, 'exec'),
        '-H',
        `unix://${this.dockerSock}`,
        '--pidfile',
        path.join(this.dir, 'docker.pid'),
      ],
      'dockerd.log',
    );
  }

  async waitDockerd(waitMs: number): Promise<void> {
    if (!this.dockerd) throw new Error(`h${this.index}: dockerd not started`);
    for (const end = Date.now() + waitMs; Date.now() < end;) {
      if ((await this.docker(['version', '--format', '{{.Server.Version}}'], { nothrow: true })).exitCode === 0) return;
      if (this.dockerd.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `dockerd on h${this.index} did not start:\n${fs.readFileSync(path.join(this.dir, 'dockerd.log'), 'utf8').slice(-2000)}`,
    );
  }

  async stopDockerd(): Promise<void> {
    const d = this.dockerd;
    if (!d) return;
    d.kill('SIGTERM');
    if (!(await waitExit(d, 15000))) d.kill('SIGKILL');
    await waitExit(d, 5000);
    this.dockerd = undefined;
  }

  async importImage(): Promise<void> {
    await this.docker(['import', this.env.rootfsTar, IMAGE]);
  }

  agentSocket(): string {
    return path.join(this.dir, 'vxmesh', 'vxmesh.sock');
  }

  /**
   * Makes the plugin socket as systemd's socket unit would, before anything else on the host starts:
   * the agent started with `{ activated: true }` serves it; Docker's connections wait in its backlog.
   */
  createPluginSocket(): void {
    fs.mkdirSync(path.dirname(this.pluginSocketPath), { recursive: true });
    this.pluginListener = listeningSocket(this.pluginSocketPath);
  }

  async startAgent(extra: string[] = [], opts: { activated?: boolean } = {}): Promise<void> {
    // Every host lists all others as seeds, so any of them can restart alone and find the cluster.
    const others = this.env.hosts.filter((h) => h !== this).map((h) => `${h.vtep}:7946`);
    const join = others.length ? ['--join', others.join(',')] : [];
    const cmd = [
      process.execPath,
      CLI,
      'agent',
      '--name',
      `h${this.index}`,
      '--vtep',
      this.vtep,
      '--underlay-dev',
      'eth0',
      '--listen',
      `${this.vtep}:7946`,
      '--state-dir',
      path.join(this.dir, 'vxmesh'),
      '--socket',
      this.agentSocket(),
      '--netns-prefix',
      this.env.tb.overlayPrefix(this.index),
      '--log-level',
      'debug',
      '--ipam-settle-ms',
      '300',
      '--cluster-key',
      this.env.keyFile,
      ...join,
      ...extra,
    ];
    const listener = opts.activated ? this.pluginListener : undefined;
    if (opts.activated && !listener) throw new Error(`h${this.index}: createPluginSocket() first`);
    this.agent = listener
      ? this.spawnOnHost(activationCommand(cmd), 'agent.log', {
          env: { ...process.env, ...activationEnv(['plugin']) },
          passFds: [listener.fd],
        })
      : this.spawnOnHost(cmd, 'agent.log');
    for (let i = 0; i < 200; i++) {
      if ((await this.vx(['peers'], { nothrow: true })).exitCode === 0 && fs.existsSync(this.pluginSocketPath)) return;
      if (this.agent.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(
      `agent on h${this.index} did not start:\n${fs.readFileSync(path.join(this.dir, 'agent.log'), 'utf8').slice(-2000)}`,
    );
  }

  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const a = this.agent;
    if (!a) return;
    a.kill(signal);
    await waitExit(a, 10000);
    this.agent = undefined;
  }

  /** `vxmesh ARGS` against this host's agent (its admin socket is reachable from everywhere: a path in the run's directory). */
  async vx(args: string[], opts: { nothrow?: boolean } = {}): Promise<CliResult> {
    const { cli } = this.env;
    if (!cli) return this.run([process.execPath, CLI, ...args, '--socket', this.agentSocket()], opts);
    const argv = [...args, '--socket', this.agentSocket()];
    const r = await cli(argv);
    if (r.exitCode !== 0 && !opts.nothrow)
      throw new Error(`vxmesh ${argv.join(' ')} exited with ${r.exitCode}: ${r.stderr.trim()}`);
    return r;
  }

  /**
   * A power loss: every process on the host killed at once (dockerd, containerd, shims, containers,
   * agent), its network cable pulled, and with its mount namespace all of /run gone (overlay and
   * container namespaces, sockets). What is on disk stays: Docker's data root, the agent's state dir.
   */
  async crash(): Promise<void> {
    await this.env.tb.unplug(this.index); // first: nothing the dying processes send gets out
    await killAndWait(processesInMountNamespace(this.mnt));
    this.dockerd = undefined;
    this.agent = undefined;
    this.pluginListener?.close();
    this.pluginListener = undefined;
    await $`umount ${this.mnt}`.nothrow();
    fs.rmSync(this.mnt, { force: true });
    await this.env.tb.removeHost(this.index);
    fs.rmSync(path.join(this.dir, 'docker.pid'), { force: true });
    for (const d of ['run-docker', 'run-containerd', 'exec'])
      fs.rmSync(path.join(this.dir, d), { recursive: true, force: true });
  }

  /** The host powered on again: network and an empty /run; nothing started yet. */
  async boot(): Promise<void> {
    await this.env.tb.recreateHost(this.index);
    await this.setup();
  }

  async teardown(): Promise<void> {
    this.pluginListener?.close();
    const ids = (await this.docker(['ps', '-aq'], { nothrow: true })).stdout.split('\n').filter(Boolean);
    if (ids.length) await this.docker(['rm', '-f', ...ids], { nothrow: true });
    await this.stopDockerd();
    await this.stopAgent();
    await $`umount ${this.mnt}`.nothrow();
    fs.rmSync(this.mnt, { force: true });
  }
}

export class DockerHosts {
  readonly hosts: DockerHost[] = [];
  readonly dir: string;
  readonly mntDir: string;
  readonly rootfsTar: string;
  /** The cluster key of every agent on these hosts. */
  readonly keyFile: string;

  private constructor(
    readonly tb: Testbed,
    /** dockerd manages iptables (egress tests); otherwise it leaves the packet filter alone. */
    readonly iptables = false,
    /** Runs `vxmesh` commands inside this process (tests); without it, `vxmesh` processes on the host. */
    readonly cli?: CliRunner,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-docker-'));
    // Pinned mount namespaces need a private mount to live on.
    this.mntDir = path.join('/run', `${tb.prefix}mnt`);
    this.rootfsTar = path.join(this.dir, 'rootfs.tar');
    this.keyFile = path.join(this.dir, 'cluster.key');
  }

  static async create(
    n: number,
    tag = 'dk',
    opts: { outside?: boolean; iptables?: boolean; cli?: CliRunner } = {},
  ): Promise<DockerHosts> {
    const env = new DockerHosts(
      await Testbed.create({ hosts: n, tag, outside: opts.outside }),
      opts.iptables,
      opts.cli,
    );
    try {
      fs.mkdirSync(env.mntDir, { recursive: true });
      await $`mount --bind ${env.mntDir} ${env.mntDir}`;
      await $`mount --make-private ${env.mntDir}`;
      // A tiny image from busybox-static: /bin/busybox and its applets.
      const root = path.join(env.dir, 'rootfs');
      fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
      fs.copyFileSync('/bin/busybox', path.join(root, 'bin', 'busybox'));
      for (const a of ['sh', 'ping', 'ip', 'sleep', 'ifconfig', 'arp', 'nc', 'cat', 'hostname', 'true', 'nslookup'])
        fs.symlinkSync('busybox', path.join(root, 'bin', a));
      await $`tar -C ${root} -cf ${env.rootfsTar} .`;
      await makeClusterKey(env.keyFile);
      for (let i = 1; i <= n; i++) {
        const h = new DockerHost(env, i);
        env.hosts.push(h);
        await h.setup();
        await h.startDockerd();
        await h.importImage();
      }
    } catch (e) {
      await env.teardown();
      throw e;
    }
    return env;
  }

  host(i: number): DockerHost {
    const h = this.hosts[i - 1];
    if (!h) throw new Error(`no docker host ${i}`);
    return h;
  }

  async teardown(): Promise<void> {
    const wg = wireguardGoOf(this.hosts.map((h) => path.join(h.dir, 'vxmesh')));
    for (const { pid } of wg) this.tb.track(pid);
    for (const h of this.hosts) {
      const keeper = dnsKeeperPid(path.join(h.dir, 'vxmesh'));
      if (keeper !== undefined) this.tb.track(keeper);
    }
    for (const h of this.hosts) await h.teardown().catch(() => undefined);
    await $`umount ${this.mntDir}`.nothrow();
    fs.rmSync(this.mntDir, { recursive: true, force: true });
    await this.tb.teardown();
    removeControlSockets(wg);
    if (process.env.VXMESH_KEEP_LOGS) console.error(`docker host logs kept in ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
