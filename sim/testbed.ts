/**
 * Simulated hosts on one machine, built with iproute2 only (independent of the code under test).
 *
 *   switch namespace <run>sw   bridge sw0, one veth per host
 *   host namespaces  <run>h1.. eth0 = 198.51.100.(10+i)/24 (the underlay), lo up
 *   containers       <run>h1c1 plain namespaces, wired up by whatever is under test
 *   with `outside`:  router <run>rt on the switch (198.51.100.1) and on 203.0.113.254/24, the outside
 *                    host <run>out = 203.0.113.1/24 behind it; every host's default route via 198.51.100.1
 *
 * Every name starts with the run prefix `vxt<id>-`, where <id> is the owning process's PID in base 36.
 * A registry file per run lists the namespaces' prefix and the PIDs started; `cleanupLeftovers()`
 * removes the runs whose owner is dead (a crashed earlier run), and `teardown()` removes this run's.
 *
 * As a command (after `npm run build`): `node dist/sim/testbed.js up N` / `down PREFIX` / `clean`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { $ } from 'zx';
import {
  BASE_PREFIX,
  REGISTRY_DIR,
  cleanupLeftovers,
  deleteNamespacesWithPrefix,
  killAndWait,
  pidAlive,
  type Registry,
} from './leftovers.js';
import { plainShells } from './shell.js';

export { BASE_PREFIX, cleanupLeftovers, killAndWait };

$.verbose = false;
$.quiet = true;
plainShells();

export const UNDERLAY_NET = '198.51.100';

export interface SimHost {
  index: number;
  name: string;
  /** Host namespace name (`ip netns` name). */
  netns: string;
  netnsPath: string;
  /** Underlay address, also the VTEP. */
  vtep: string;
  underlayDev: string;
}

export interface TestbedOptions {
  hosts: number;
  /** Underlay MTU. Default 1500. */
  mtu?: number;
  /** Distinguishes several testbeds in one process. */
  tag?: string;
  /** An "outside" network behind a router namespace, each host's default route (egress tests). */
  outside?: boolean;
  /** An IPv6-only underlay: eth0 = 2001:db8:100::(10+i)/64 (no IPv4 address), the VTEP. */
  ipv6Underlay?: boolean;
  /**
   * With `outside`: IPv6 too — the router at 2001:db8:100::1 and 2001:db8:203::fe, the outside host
   * 2001:db8:203::1, every host an address 2001:db8:100::(10+i) beside its IPv4 one and an IPv6
   * default route via the router (its VTEP stays IPv4).
   */
  outside6?: boolean;
}

/** The outside host's IPv6 address (with `outside6`). */
export const OUTSIDE_HOST6 = '2001:db8:203::1';
const ROUTER_UNDERLAY6 = '2001:db8:100::1';

export const UNDERLAY_NET6 = '2001:db8:100::';

/** The outside host's address (with `outside`), and the router's on each side. */
export const OUTSIDE_HOST = '203.0.113.1';
export const ROUTER_UNDERLAY = `${UNDERLAY_NET}.1`;

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  stdio?: 'pipe' | 'ignore' | 'inherit';
  /** Append the process's stdout and stderr to this file. */
  logFile?: string;
  /** Open descriptors of this process handed to the child as its fds 3, 4, ... */
  passFds?: number[];
}

/**
 * The kernel's ARP table is one table for all namespaces: its garbage-collection thresholds
 * (net.ipv4.neigh.default.gc_thresh1/2/3, set in the initial namespace only) count the entries of
 * every simulated host together. N hosts that all talk to each other hold about N² underlay entries:
 * past the default gc_thresh3 of 1024 (about 33 hosts) new entries are refused ("neighbor table
 * overflow" in the kernel log) and packets to a host whose entry expired are dropped, which looks
 * like a failed member. Raised (never lowered) to fit the run; a real host needs this only with more
 * than about 1,000 peers (docs/scale.md).
 */
function ensureNeighbourTable(hosts: number): void {
  const need = Math.max(1024, 4 * hosts * hosts);
  const key = (n: number) => `/proc/sys/net/ipv4/neigh/default/gc_thresh${n}`;
  const now = Number(fs.readFileSync(key(3), 'utf8'));
  if (now >= need) return;
  // Written in this order so that thresh1 ≤ thresh2 ≤ thresh3 holds at every step.
  fs.writeFileSync(key(3), String(need));
  fs.writeFileSync(key(2), String(Math.max(Number(fs.readFileSync(key(2), 'utf8')), need / 2)));
  fs.writeFileSync(key(1), String(Math.max(Number(fs.readFileSync(key(1), 'utf8')), need / 8)));
}

export class Testbed {
  readonly prefix: string;
  readonly switchNs: string;
  readonly hosts: SimHost[] = [];
  readonly containers: string[] = [];
  /** Hosts get an IPv6 underlay address only (TestbedOptions.ipv6Underlay). */
  ipv6Underlay = false;
  /** The outside network has IPv6 too (TestbedOptions.outside6). */
  outside6 = false;
  /** The outside host's namespace (with `outside`). */
  outsideNs?: string;
  private readonly registryFile: string;
  private readonly reg: Registry;
  private readonly children = new Set<ChildProcess>();

  private constructor(prefix: string) {
    this.prefix = prefix;
    this.switchNs = `${prefix}sw`;
    this.registryFile = path.join(REGISTRY_DIR, `${prefix}.json`);
    this.reg = { prefix, ownerPid: process.pid, pids: [] };
  }

  static async create(opts: TestbedOptions): Promise<Testbed> {
    await cleanupLeftovers();
    const prefix = `${BASE_PREFIX}${process.pid.toString(36)}-${opts.tag ?? Math.random().toString(36).slice(2, 6)}-`;
    const tb = new Testbed(prefix);
    tb.saveRegistry();
    try {
      ensureNeighbourTable(opts.hosts);
      await $`ip netns add ${tb.switchNs}`;
      await $`ip -n ${tb.switchNs} link add sw0 type bridge`;
      await $`ip -n ${tb.switchNs} link set sw0 up`;
      tb.outside6 = opts.outside === true && opts.outside6 === true;
      if (opts.outside) await tb.addOutside();
      tb.ipv6Underlay = opts.ipv6Underlay === true;
      for (let i = 1; i <= opts.hosts; i++) await tb.addHost(i, opts.mtu ?? 1500);
    } catch (err) {
      await tb.teardown();
      throw err;
    }
    return tb;
  }

  private saveRegistry(): void {
    fs.mkdirSync(REGISTRY_DIR, { recursive: true });
    fs.writeFileSync(this.registryFile, JSON.stringify(this.reg));
  }

  /** The router and the outside host (the router forwards; nothing NATs there). */
  private async addOutside(): Promise<void> {
    const rt = `${this.prefix}rt`;
    const out = `${this.prefix}out`;
    await $`ip netns add ${rt}`;
    await $`ip netns add ${out}`;
    await $`ip -n ${this.switchNs} link add rt mtu 1500 type veth peer name eth0 netns ${rt}`;
    await $`ip -n ${this.switchNs} link set rt master sw0 up`;
    await $`ip -n ${rt} addr add ${ROUTER_UNDERLAY}/24 dev eth0`;
    await $`ip -n ${rt} link add eth1 type veth peer name eth0 netns ${out}`;
    await $`ip -n ${rt} addr add 203.0.113.254/24 dev eth1`;
    for (const l of ['lo', 'eth0', 'eth1']) await $`ip -n ${rt} link set ${l} up`;
    await $`nsenter --net=/run/netns/${rt} sysctl -q -w net.ipv4.ip_forward=1`;
    await $`ip -n ${out} addr add ${OUTSIDE_HOST}/24 dev eth0`;
    for (const l of ['lo', 'eth0']) await $`ip -n ${out} link set ${l} up`;
    await $`ip -n ${out} route add default via 203.0.113.254`;
    if (this.outside6) {
      await $`ip -n ${rt} addr add ${ROUTER_UNDERLAY6}/64 dev eth0 nodad`;
      await $`ip -n ${rt} addr add 2001:db8:203::fe/64 dev eth1 nodad`;
      await $`nsenter --net=/run/netns/${rt} sysctl -q -w net.ipv6.conf.all.forwarding=1`;
      await $`ip -n ${out} addr add ${OUTSIDE_HOST6}/64 dev eth0 nodad`;
      await $`ip -n ${out} -6 route add default via 2001:db8:203::fe`;
    }
    this.outsideNs = out;
  }

  private async addHost(i: number, mtu: number): Promise<SimHost> {
    const netns = `${this.prefix}h${i}`;
    const vtep = this.ipv6Underlay ? `${UNDERLAY_NET6}${10 + i}` : `${UNDERLAY_NET}.${10 + i}`;
    await $`ip netns add ${netns}`;
    await $`ip -n ${this.switchNs} link add h${i} mtu ${mtu} type veth peer name eth0 mtu ${mtu} netns ${netns}`;
    await $`ip -n ${this.switchNs} link set h${i} master sw0 up`;
    // nodad: a tentative address cannot be bound (the agent listens on it at once).
    if (this.ipv6Underlay) await $`ip -n ${netns} addr add ${vtep}/64 dev eth0 nodad`;
    else await $`ip -n ${netns} addr add ${vtep}/24 dev eth0`;
    await $`ip -n ${netns} link set eth0 up`;
    await $`ip -n ${netns} link set lo up`;
    if (this.outsideNs) await $`ip -n ${netns} route add default via ${ROUTER_UNDERLAY}`;
    if (this.outside6 && !this.ipv6Underlay) {
      await $`ip -n ${netns} addr add ${UNDERLAY_NET6}${10 + i}/64 dev eth0 nodad`;
      await $`ip -n ${netns} -6 route add default via ${ROUTER_UNDERLAY6}`;
    }
    const host: SimHost = {
      index: i,
      name: `h${i}`,
      netns,
      netnsPath: `/run/netns/${netns}`,
      vtep,
      underlayDev: 'eth0',
    };
    this.hosts.push(host);
    return host;
  }

  host(i: number): SimHost {
    const h = this.hosts.find((x) => x.index === i);
    if (!h) throw new Error(`no host ${i} in this testbed`);
    return h;
  }

  /** A prefix for overlay namespaces of the vxmesh instance on host i. */
  overlayPrefix(i: number): string {
    return `${this.prefix}h${i}-vx-`;
  }

  /** Creates an empty namespace standing for a container on host i. */
  async addContainer(hostIndex: number, j: number): Promise<string> {
    const name = `${this.prefix}h${hostIndex}c${j}`;
    await $`ip netns add ${name}`;
    await $`ip -n ${name} link set lo up`;
    this.containers.push(name);
    return name;
  }

  /**
   * Many container namespaces at once, with one `ip -batch` process (a process per namespace costs
   * seconds on a loaded machine). Their `lo` stays down until something brings it up: a vxmesh attach
   * that configures the interface does.
   */
  async addContainers(hostIndex: number, js: number[]): Promise<string[]> {
    const names = js.map((j) => `${this.prefix}h${hostIndex}c${j}`);
    await $({ input: names.map((n) => `netns add ${n}\n`).join('') })`ip -batch -`;
    this.containers.push(...names);
    return names;
  }

  /** Builds host i again after removeHost (a crashed host coming back: same name, same address). */
  async recreateHost(i: number, mtu = 1500): Promise<SimHost> {
    if (this.hosts.some((h) => h.index === i)) throw new Error(`host ${i} exists`);
    const h = await this.addHost(i, mtu);
    this.hosts.sort((a, b) => a.index - b.index);
    return h;
  }

  /** Cuts host i off the underlay (its switch port down) until {@link reconnect}: a partition. */
  async disconnect(i: number): Promise<void> {
    await $`ip -n ${this.switchNs} link set h${i} down`;
  }

  async reconnect(i: number): Promise<void> {
    await $`ip -n ${this.switchNs} link set h${i} up`;
  }

  /** Pulls host i's underlay cable (deletes the switch end of its veth pair: both ends go at once). */
  async unplug(i: number): Promise<void> {
    await $`ip -n ${this.switchNs} link del h${i}`.nothrow();
  }

  /**
   * A crashed host: unplugs its underlay cable, then deletes its namespace. The kernel tears a deleted
   * namespace down asynchronously (its devices can answer for a while after `ip netns del` returns, longer
   * on a loaded machine); deleting the switch end of the veth pair removes both ends at once.
   */
  async removeHost(i: number): Promise<void> {
    await this.unplug(i);
    await $`ip netns del ${this.host(i).netns}`.nothrow();
    this.hosts.splice(this.hosts.indexOf(this.host(i)), 1);
  }

  /** Runs a command in a namespace (nsenter: only the network namespace changes). */
  exec(netns: string, cmd: string[], opts: { nothrow?: boolean } = {}) {
    const p = $`nsenter --net=/run/netns/${netns} ${cmd}`;
    return opts.nothrow ? p.nothrow() : p;
  }

  /** Pings once (or `count` times) from a namespace; resolves true if any reply came back. */
  async ping(
    fromNetns: string,
    ip: string,
    opts: { count?: number; timeoutS?: number; size?: number; df?: boolean } = {},
  ): Promise<boolean> {
    const args = ['ping', '-n', '-q', '-c', String(opts.count ?? 1), '-W', String(opts.timeoutS ?? 1)];
    if (opts.count && opts.count > 1) args.push('-i', '0.2');
    if (opts.size !== undefined) args.push('-s', String(opts.size));
    if (opts.df) args.push('-M', 'do');
    args.push(ip);
    const r = await this.exec(fromNetns, args, { nothrow: true });
    // nsenter exits 127 (command not found) or ping 2 with its own message: a missing tool, not a lost
    // packet. "No such file" alone is not proof (nsenter prints it too): ask the system for ping.
    if (r.exitCode === 127 || /ping: (not found|command not found)|No such file/.test(r.stderr)) {
      if ((await $`command -v ping`.nothrow()).exitCode !== 0)
        throw new Error('the `ping` command is missing: install the Debian package iputils-ping');
      return false;
    }
    return r.exitCode === 0;
  }

  /** Starts a long-running process in a namespace; it is killed by PID at teardown. */
  spawnIn(netns: string, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.spawnHere('nsenter', [`--net=/run/netns/${netns}`, cmd, ...args], opts);
  }

  /** Starts a long-running process in this (the caller's) namespace; it is killed by PID at teardown. */
  spawnHere(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    // With a log file, the child writes its stdout and stderr there itself (appending).
    const log = opts.logFile !== undefined ? fs.openSync(opts.logFile, 'a') : undefined;
    const base = log !== undefined ? ['ignore', log, log] : (opts.stdio ?? 'pipe');
    // Extra descriptors land at 3, 4, ... in the child (as a service manager passes sockets).
    const stdio = opts.passFds?.length ? [...(Array.isArray(base) ? base : [base, base, base]), ...opts.passFds] : base;
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: stdio as 'pipe' });
    if (log !== undefined) fs.closeSync(log);
    if (child.pid !== undefined) {
      this.reg.pids.push(child.pid);
      this.saveRegistry();
    }
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** A process started by the code under test (e.g. a detached wireguard-go): killed by PID at teardown too. */
  track(pid: number): void {
    this.reg.pids.push(pid);
    this.saveRegistry();
  }

  /** Kills every process this testbed started (by PID) and deletes every namespace with its prefix. */
  async teardown(): Promise<void> {
    const pids = [...this.children].map((c) => c.pid).filter((p): p is number => p !== undefined);
    await killAndWait([...new Set([...pids, ...this.reg.pids])].filter(pidAlive));
    await deleteNamespacesWithPrefix(this.prefix);
    fs.rmSync(this.registryFile, { force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, arg] = argv;
  if (cmd === 'up') {
    const tb = await Testbed.create({ hosts: Number(arg ?? 3) });
    // Detach from this process: the registry's owner is set to 1 (init) so cleanup leaves it alone.
    fs.writeFileSync(
      path.join(REGISTRY_DIR, `${tb.prefix}.json`),
      JSON.stringify({ prefix: tb.prefix, ownerPid: 1, pids: [] }),
    );
    console.log(tb.prefix);
  } else if (cmd === 'down' && arg) {
    await deleteNamespacesWithPrefix(arg);
    fs.rmSync(path.join(REGISTRY_DIR, `${arg}.json`), { force: true });
  } else if (cmd === 'clean') {
    console.log((await cleanupLeftovers()).join('\n'));
  } else {
    console.error('usage: testbed up [N] | down PREFIX | clean');
    process.exitCode = 2;
  }
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) await main(process.argv.slice(2));
