/**
 * vxmesh agents on simulated hosts: one `vxmesh agent` process per testbed host (started with
 * nsenter, so only the network namespace changes), each with its own state directory, admin socket
 * and overlay namespace prefix. Used by the end-to-end tests, the demo and benchmarks.
 */
import { removeControlSockets, subdirs, wireguardGoOf } from './wireguard-processes.js';
import { dnsKeeperPid } from '../core/dns-keeper-files.js';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { $ } from 'zx';
import { Testbed } from './testbed.js';
import { plainShells } from './shell.js';

$.verbose = false;
$.quiet = true;
plainShells();

const CLI = new URL('../cli/cli.js', import.meta.url).pathname;

/** Whether an agent's admin API answers `GET /v1/status` on its socket. */
function adminAnswers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath, method: 'GET', path: '/v1/status', timeout: 5000 }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** A new cluster key file, made as a user makes one: `vxmesh keygen FILE`. */
export async function makeClusterKey(file: string): Promise<void> {
  await $`${process.execPath} ${CLI} keygen ${file}`;
}

/** Reads `http://127.0.0.1:PORT/metrics` for each PORT line on stdin, one JSON line each; exits 3 s after the last. */
const METRICS_RELAY = `
let idle;
const bye = () => { clearTimeout(idle); idle = setTimeout(() => process.exit(0), 3000); };
bye();
require('readline').createInterface({ input: process.stdin }).on('line', async (port) => {
  clearTimeout(idle); // no idle exit while a question is out (a busy agent may take seconds)
  let out;
  try {
    const r = await fetch('http://127.0.0.1:' + Number(port) + '/metrics', { signal: AbortSignal.timeout(30000) });
    out = { text: await r.text() };
  } catch (e) {
    out = { error: String(e) };
  }
  process.stdout.write(JSON.stringify(out) + '\\n');
  bye();
});
process.stdin.on('end', () => process.exit(0));
`;

/** What a `vxmesh` command printed and its exit code. */
export interface CliResult {
  stdout: string;
  stderr: string;
  exitCode: number | null;
}

/** Runs `vxmesh ARGV` (test/fixtures/in-process-cli.ts runs the CLI's main inside the test process). */
export type CliRunner = (argv: string[]) => Promise<CliResult>;

export interface AgentOptions {
  /** Extra agent flags. */
  args?: string[];
  /** Members to join through (host indexes). Default: host 1 (none for host 1 itself). */
  join?: number[];
  /** Start with `--insecure` instead of the cluster's key. */
  insecure?: boolean;
  /** Another key file instead of the cluster's (a key change). */
  keyFile?: string;
  /** How long to wait for its admin API. Default 30 s. */
  readyTimeoutMs?: number;
  /** Extra node flags of the agent (e.g. --expose-gc: the soak's heap after a forced collection). */
  nodeArgs?: string[];
  /** Extra environment of the agent (e.g. LD_PRELOAD of libfaketime: a host whose clock steps). */
  env?: Record<string, string>;
  /** The CLI entry of another build (an earlier release in a rolling upgrade; its loader in nodeArgs). */
  cli?: string;
}

export interface RunningAgent {
  host: number;
  child: ChildProcess;
  socket: string;
  stateDir: string;
  logFile: string;
}

export class Cluster {
  readonly agents = new Map<number, RunningAgent>();
  readonly dir: string;

  private constructor(
    readonly tb: Testbed,
    private readonly cli?: CliRunner,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-cluster-'));
  }

  /**
   * `cli`: runs `vxmesh` commands inside this process (the CLI's own code, without a Node start per
   * command: tests); without it every command is a `vxmesh` process, as a user runs it.
   */
  static async create(
    hosts: number,
    tag?: string,
    opts: { outside?: boolean; outside6?: boolean; cli?: CliRunner; ipv6Underlay?: boolean } = {},
  ): Promise<Cluster> {
    const c = new Cluster(
      await Testbed.create({
        hosts,
        tag,
        outside: opts.outside,
        outside6: opts.outside6,
        ipv6Underlay: opts.ipv6Underlay,
      }),
      opts.cli,
    );
    try {
      if (c.cli) await c.run(['keygen', c.keyFile]);
      else await makeClusterKey(c.keyFile);
    } catch (e) {
      await c.teardown();
      throw e;
    }
    return c;
  }

  /** The cluster key every agent of this cluster starts with (made by `vxmesh keygen`). */
  get keyFile(): string {
    return path.join(this.dir, 'cluster.key');
  }

  socket(i: number): string {
    return path.join(this.dir, `h${i}`, 'vxmesh.sock');
  }

  overlayPrefix(i: number): string {
    return this.tb.overlayPrefix(i);
  }

  /** Starts the agent of host i and waits until its admin API answers. */
  async startAgent(i: number, opts: AgentOptions = {}): Promise<RunningAgent> {
    const h = this.tb.host(i);
    const stateDir = path.join(this.dir, `h${i}`);
    fs.mkdirSync(stateDir, { recursive: true });
    const at = (vtep: string) => (vtep.includes(':') ? `[${vtep}]:7946` : `${vtep}:7946`);
    const join = (opts.join ?? (i === 1 ? [] : [1])).map((j) => at(this.tb.host(j).vtep));
    // Extra node flags for the agents (e.g. --cpu-prof), for profiling.
    const nodeArgs = [
      ...(process.env.VXMESH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean),
      ...(opts.nodeArgs ?? []),
    ];
    const args = [
      ...nodeArgs,
      opts.cli ?? CLI,
      'agent',
      '--name',
      `h${i}`,
      '--vtep',
      h.vtep,
      '--underlay-dev',
      h.underlayDev,
      '--listen',
      at(h.vtep),
      '--state-dir',
      stateDir,
      '--socket',
      this.socket(i),
      '--netns-prefix',
      this.tb.overlayPrefix(i),
      '--log-level',
      process.env.VXMESH_LOG_LEVEL ?? 'debug',
      '--docker-plugin',
      'false',
      ...(opts.insecure ? ['--insecure'] : ['--cluster-key', opts.keyFile ?? this.keyFile]),
      ...(join.length ? ['--join', join.join(',')] : []),
      ...(opts.args ?? []),
    ];
    const logFile = path.join(stateDir, 'agent.log');
    const env = opts.env ? { ...process.env, ...opts.env } : undefined;
    const child = this.tb.spawnIn(h.netns, process.execPath, args, { logFile, env });
    const a: RunningAgent = { host: i, child, socket: this.socket(i), stateDir, logFile };
    this.agents.set(i, a);
    const readyMs = opts.readyTimeoutMs ?? 30_000;
    const deadline = Date.now() + readyMs;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`agent h${i} exited with ${child.exitCode}:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`);
      // Asked over the admin socket directly: a CLI process per poll costs a core's worth at 50 agents.
      if (await adminAnswers(this.socket(i))) return a;
      if (Date.now() > deadline)
        throw new Error(
          `agent h${i} not ready after ${readyMs / 1000} s:\n${fs.readFileSync(logFile, 'utf8').slice(-3000)}`,
        );
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops an agent by PID: SIGTERM (graceful) or SIGKILL. */
  async stopAgent(i: number, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const a = this.agents.get(i);
    if (!a || a.child.exitCode !== null || a.child.signalCode !== null) return;
    const done = new Promise((r) => a.child.once('exit', r));
    a.child.kill(signal);
    await done;
  }

  /**
   * The Prometheus text of host i's agent, started with `--metrics 127.0.0.1:PORT`, read inside its
   * namespace by a small relay process there (one per host, started at the first read, gone after 3 s
   * without one: it must not hold a namespace a test removes): a Node start per read cost about a
   * second of CPU on a loaded machine, and tests poll metrics.
   */
  metricsText(i: number, port: number): Promise<string> {
    const read = (this.metricsQueue.get(i) ?? Promise.resolve()).then(() => this.relayRead(i, port));
    this.metricsQueue.set(
      i,
      read.catch(() => undefined),
    );
    return read;
  }

  private readonly metricsQueue = new Map<number, Promise<unknown>>();
  private readonly relays = new Map<number, { child: ChildProcess; lines: AsyncIterator<string> }>();

  private async relayRead(i: number, port: number, retry = true): Promise<string> {
    let relay = this.relays.get(i);
    if (!relay || relay.child.exitCode !== null || relay.child.signalCode !== null) {
      const child = this.tb.spawnIn(this.tb.host(i).netns, process.execPath, ['-e', METRICS_RELAY], { stdio: 'pipe' });
      child.stdin?.on('error', () => undefined); // written to as it exits: the read below sees it gone
      const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
      relay = { child, lines };
      this.relays.set(i, relay);
    }
    relay.child.stdin?.write(`${port}\n`);
    const line = await relay.lines.next();
    // Gone between the check and the question (its idle time ran out): once more with a new one.
    if (line.done) {
      this.relays.delete(i);
      if (retry) return this.relayRead(i, port, false);
      throw new Error(`the metrics relay of h${i} exited`);
    }
    const r = JSON.parse(line.value) as { text?: string; error?: string };
    if (r.text === undefined) throw new Error(`metrics of h${i} on port ${port}: ${r.error ?? 'no answer'}`);
    return r.text;
  }

  /** Runs `vxmesh ARGS` against host i's agent (the CLI itself runs in the root namespace). */
  vx(i: number, args: string[], opts: { nothrow?: boolean } = {}): Promise<CliResult> {
    return this.run([...args, '--socket', this.socket(i)], opts);
  }

  private async run(argv: string[], opts: { nothrow?: boolean } = {}): Promise<CliResult> {
    if (!this.cli) {
      const p = $`${process.execPath} ${CLI} ${argv}`;
      return opts.nothrow ? p.nothrow() : p;
    }
    const r = await this.cli(argv);
    if (r.exitCode !== 0 && !opts.nothrow)
      throw new Error(`vxmesh ${argv.join(' ')} exited with ${r.exitCode}: ${r.stderr.trim()}`);
    return r;
  }

  async vxJson<T>(i: number, args: string[]): Promise<T> {
    const r = await this.vx(i, [...args, '--json']);
    return JSON.parse(r.stdout) as T;
  }

  async teardown(): Promise<void> {
    // wireguard-go outlives its agent on purpose (and its namespace too): stopped by the PID it left.
    const wg = wireguardGoOf(subdirs(this.dir));
    for (const { pid } of wg) this.tb.track(pid);
    // So does each agent's DNS keeper (names through agent restarts).
    for (const dir of subdirs(this.dir)) {
      const keeper = dnsKeeperPid(dir);
      if (keeper !== undefined) this.tb.track(keeper);
    }
    await this.tb.teardown();
    removeControlSockets(wg);
    if (process.env.VXMESH_KEEP_LOGS) console.error(`agent logs kept in ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
