/**
 * Faults together on a larger cluster: underlay cuts, agent kill loops, host reboots (agent, DNS keeper
 * and namespaces gone) and attach/detach churn at the same time on different hosts, under pings
 * between one container of every host and every other (ping-mesh.ts); and rolling upgrades from an
 * earlier release under the same pings and churn. Each phase reports pings lost per fault window
 * (fault-windows.ts), the time to converge after its last fault, and whether every host's tables,
 * claims and names are then the same (cluster-views.ts).
 */
import fs from 'node:fs';
import { $ } from 'zx';
import { Cluster, type AgentOptions } from '../../sim/cluster.js';
import { dnsKeeperPid } from '../../core/dns-keeper-files.js';
import { inProcessCli } from '../fixtures/in-process-cli.js';
import { convergence, NETWORK, SUBNET, VNI, type Ct } from './faults.js';
import { PingMesh } from './ping-mesh.js';
import { countByWindow, type FaultWindow, type MeshReport } from './fault-windows.js';
import { compareViews, type ViewsReport } from './cluster-views.js';

export interface CombinedPlan {
  hosts: number;
  /** How long faults go on (s). */
  faultS: number;
  /** A cut lasts this long (s), one every `partitionEveryS`. */
  partitionS: number;
  partitionEveryS: number;
  /** A random agent is kill -9ed and restarted every `killEveryS`. */
  killEveryS: number;
  /** A random host reboots every `rebootEveryS`. */
  rebootEveryS: number;
  /** Attach/detach loops running at once, each on a random host. */
  churnLanes: number;
  convergeTimeoutMs: number;
}

export const COMBINED_FULL: CombinedPlan = {
  hosts: 10,
  faultS: 600,
  partitionS: 20,
  partitionEveryS: 45,
  killEveryS: 8,
  rebootEveryS: 75,
  churnLanes: 2,
  convergeTimeoutMs: 180_000,
};

export const COMBINED_SHORT: CombinedPlan = {
  hosts: 4,
  faultS: 18,
  partitionS: 8,
  partitionEveryS: 14,
  killEveryS: 5,
  rebootEveryS: 16,
  churnLanes: 1,
  convergeTimeoutMs: 90_000,
};

/** An earlier release's agent (test/fixtures/previous-release.ts). */
export interface OtherBuild {
  cli: string;
}

export interface PhaseReport extends MeshReport {
  fault: string;
  errors: string[];
  convergenceMs?: number;
  /** From the end of the last fault until every host's views were equal (ms). */
  viewsEqualAfterMs?: number;
  views?: ViewsReport;
  [k: string]: unknown;
}

type Lane = 'partition' | 'kill' | 'reboot' | 'churn' | 'upgrade';
/** Which lanes may act on a host another lane is acting on. */
const EXCLUDES: Record<Lane, Lane[]> = {
  partition: ['partition', 'reboot', 'upgrade'],
  kill: ['kill', 'reboot', 'churn', 'upgrade'],
  reboot: ['partition', 'kill', 'reboot', 'churn', 'upgrade'],
  churn: ['kill', 'reboot', 'upgrade'],
  upgrade: ['partition', 'kill', 'reboot', 'churn', 'upgrade'],
};
const BASE_ARGS = ['--reconcile-interval-ms', '2000', '--log-level', 'info'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class CombinedRun {
  /** The pinged containers: one per host, named. */
  cts: Array<Ct & { name: string }> = [];
  private readonly builds = new Map<number, 'current' | 'previous'>();
  private readonly acting = new Map<number, Set<Lane>>();
  private containerSeq = 0;
  private churnSeq = 0;
  private windows: FaultWindow[] = [];
  private mesh = new PingMesh();

  private constructor(
    readonly c: Cluster,
    readonly plan: CombinedPlan,
    private readonly previous?: OtherBuild,
  ) {}

  /** `previousHosts` start on the earlier release (`previous`). */
  static async create(plan: CombinedPlan, opts: { previous?: OtherBuild; previousHosts?: number[] } = {}) {
    const c = await Cluster.create(plan.hosts, 'comb', { cli: inProcessCli });
    const run = new CombinedRun(c, plan, opts.previous);
    try {
      for (let i = 1; i <= plan.hosts; i++) run.builds.set(i, opts.previousHosts?.includes(i) ? 'previous' : 'current');
      // Started a few at a time: each start costs a second or more of CPU.
      for (let i = 1; i <= plan.hosts; i += 3)
        await Promise.all([i, i + 1, i + 2].filter((j) => j <= plan.hosts).map((j) => run.start(j)));
      await c.vx(1, ['network', 'create', NETWORK, '--subnet', SUBNET, '--vni', String(VNI)]);
      // Every host attaches its first container as soon as it knows the network (the list in host order).
      const hosts = Array.from({ length: plan.hosts }, (_, k) => k + 1);
      const firsts = await Promise.all(
        hosts.map(async (i) => {
          while ((await c.vx(i, ['network', 'inspect', NETWORK], { nothrow: true })).exitCode !== 0) await sleep(200);
          return run.attachNamed(i);
        }),
      );
      run.cts.push(...firsts);
      if ((await convergence((a) => c.vx(1, a, { nothrow: true }), plan.convergeTimeoutMs)) < 0)
        throw new Error('the cluster never converged before the faults');
    } catch (e) {
      await c.teardown();
      throw e;
    }
    return run;
  }

  buildOf(i: number): 'current' | 'previous' {
    return this.builds.get(i) ?? 'current';
  }

  private agentOptions(i: number): AgentOptions {
    const others = [...this.builds.keys()].filter((j) => j !== i);
    const old = this.buildOf(i) === 'previous' ? this.previous : undefined;
    return { args: BASE_ARGS, join: others, ...(old ? { cli: old.cli } : {}) };
  }

  private async start(i: number): Promise<void> {
    await this.c.startAgent(i, { ...this.agentOptions(i), readyTimeoutMs: 60_000 });
  }

  private async attachNamed(i: number): Promise<Ct & { name: string }> {
    const k = this.containerSeq++;
    const name = `c${i}x${k}`;
    const netns = await this.c.tb.addContainer(i, k);
    const ep = await this.c.vxJson<{ ip: string }>(i, ['attach', NETWORK, '--netns', netns, '--name', name]);
    return { host: i, netns, ip: ep.ip, name };
  }

  /** Takes a host for a lane when no excluding lane acts on it: a random free one of `from`. */
  private take(lane: Lane, from = [...this.builds.keys()]): number | undefined {
    const free = from.filter((i) => ![...(this.acting.get(i) ?? [])].some((l) => EXCLUDES[lane].includes(l)));
    const i = free[Math.floor(Math.random() * free.length)];
    if (i !== undefined) this.acting.set(i, new Set([...(this.acting.get(i) ?? []), lane]));
    return i;
  }

  private release(i: number, lane: Lane): void {
    this.acting.get(i)?.delete(lane);
  }

  /** Runs `act` on a taken host (one of `from`) as a fault window; false when none was free. */
  private async window(
    lane: Lane,
    fault: string,
    excuses: boolean,
    act: (i: number) => Promise<void>,
    from?: number[],
  ): Promise<boolean> {
    const i = this.take(lane, from);
    if (i === undefined) return false;
    const w: FaultWindow = { fault, hosts: [i], start: Date.now(), end: 0, excuses };
    this.windows.push(w);
    try {
      await act(i);
    } finally {
      w.end = Date.now();
      this.release(i, lane);
    }
    return true;
  }

  private async reboot(i: number, errors: string[]): Promise<void> {
    const { c } = this;
    await this.mesh.removeHost(i);
    // The host goes down: its agent, its DNS keeper, every namespace it had.
    const keeper = dnsKeeperPid(c.agents.get(i)?.stateDir ?? '');
    await c.stopAgent(i, 'SIGKILL');
    if (keeper !== undefined) {
      process.kill(keeper, 'SIGKILL');
      for (let n = 0; n < 100 && (await $`kill -0 ${keeper}`.nothrow()).exitCode === 0; n++) await sleep(50);
    }
    const names = (await $`ip netns list`).stdout.split('\n').map((l) => l.split(' ')[0] as string);
    for (const n of names.filter((n) => n.startsWith(c.overlayPrefix(i)) || n.startsWith(`${c.tb.prefix}h${i}c`)))
      await $`ip netns del ${n}`.nothrow();
    this.cts = this.cts.filter((x) => x.host !== i);
    await sleep(2000);
    try {
      await this.start(i);
      const ct = await this.attachNamed(i);
      this.cts.push(ct);
      this.mesh.add(ct);
    } catch (e) {
      errors.push(`reboot of h${i}: ${(e as Error).message.split('\n')[0]}`);
    }
  }

  private async churn(until: () => boolean, errors: string[]): Promise<number> {
    let cycles = 0;
    while (!until()) {
      const i = this.take('churn');
      if (i === undefined) {
        await sleep(200);
        continue;
      }
      const k = 1000 + this.churnSeq++;
      try {
        const netns = await this.c.tb.addContainer(i, k);
        try {
          await this.c.vx(i, ['attach', NETWORK, '--netns', netns]);
          await this.c.vx(i, ['detach', NETWORK, '--netns', netns]);
          cycles++;
        } catch (e) {
          errors.push(`h${i} churn: ${(e as Error).message.split('\n')[0]}`);
        }
        await $`ip netns del ${netns}`.nothrow();
      } finally {
        this.release(i, 'churn');
      }
    }
    return cycles;
  }

  /** Runs `lanes` under the ping mesh and churn; then converges and compares every host's views. */
  private async phase(
    fault: string,
    lanes: (until: () => boolean, errors: string[]) => Array<Promise<unknown>>,
    extra: () => Record<string, unknown>,
  ): Promise<PhaseReport> {
    this.windows = [];
    this.mesh = new PingMesh();
    for (const ct of this.cts) this.mesh.add(ct);
    const t0 = Date.now();
    const errors: string[] = [];
    let done = false;
    const until = () => done;
    const churn = Array.from({ length: this.plan.churnLanes }, () => this.churn(until, errors));
    await Promise.all(lanes(() => done, errors));
    done = true;
    const churnCycles = (await Promise.all(churn)).reduce((a, b) => a + b, 0);
    const lastFault = Date.now();
    const conv = await convergence((a) => this.c.vx(1, a, { nothrow: true }), this.plan.convergeTimeoutMs);
    let views: ViewsReport | undefined;
    let viewsEqualAfterMs: number | undefined;
    const hosts = [...this.builds.keys()];
    for (const end = Date.now() + this.plan.convergeTimeoutMs; ; await sleep(500)) {
      views = await compareViews(this.c, hosts, NETWORK, this.cts);
      const equal = [views.endpointDiffs, views.ipamDiffs, views.heldTwice, views.dnsDiffs].every((x) => !x.length);
      if (equal) viewsEqualAfterMs = Date.now() - lastFault;
      if (equal || Date.now() > end) break;
    }
    // Pings on the converged cluster close the run (a second per 4 hosts: the short run stays short).
    await sleep(Math.min(3000, 250 * this.plan.hosts));
    await this.mesh.stop();
    const counts = countByWindow(this.mesh.logs, this.windows, t0, { graceMs: 15_000, warmupMs: 5_000 });
    const report: PhaseReport = {
      fault,
      ...counts,
      errors,
      churnCycles,
      ...extra(),
      ...(conv >= 0 ? { convergenceMs: conv } : {}),
      ...(viewsEqualAfterMs !== undefined ? { viewsEqualAfterMs } : {}),
      views,
      lengthS: Math.round((lastFault - t0) / 1000),
    };
    if (conv < 0) errors.push(`fdb --cluster --check still failing after ${this.plan.convergeTimeoutMs} ms`);
    if (viewsEqualAfterMs === undefined) errors.push('the hosts still disagree on the network (views)');
    return report;
  }

  /** Cuts, kill loops, reboots and churn at the same time for `faultS`. */
  async combinedFaults(): Promise<PhaseReport> {
    const p = this.plan;
    let kills = 0;
    let cuts = 0;
    let reboots = 0;
    const every = async (firstS: number, periodS: number, until: () => boolean, act: () => Promise<void>) => {
      await sleep(firstS * 1000);
      while (!until()) {
        const t = Date.now();
        await act();
        await sleep(Math.max(0, periodS * 1000 - (Date.now() - t)));
      }
    };
    const end = Date.now() + p.faultS * 1000;
    const over = () => Date.now() >= end;
    return this.phase(
      `cuts (${p.partitionS} s every ${p.partitionEveryS} s), kill -9 every ${p.killEveryS} s, a reboot every ${p.rebootEveryS} s and ${p.churnLanes} churn loop(s) together on ${p.hosts} hosts for ${p.faultS} s`,
      (_until, errors) => [
        every(p.partitionEveryS / 3, p.partitionEveryS, over, async () => {
          await this.window('partition', 'underlay cut', true, async (i) => {
            cuts++;
            await this.c.tb.disconnect(i);
            await sleep(p.partitionS * 1000);
            await this.c.tb.reconnect(i);
          });
        }),
        every(1, p.killEveryS, over, async () => {
          await this.window('kill', 'kill -9 + restart', false, async (i) => {
            kills++;
            await this.c.stopAgent(i, 'SIGKILL');
            await this.start(i).catch((e: Error) => errors.push(`restart of h${i}: ${e.message.split('\n')[0]}`));
          });
        }),
        every(p.rebootEveryS / 2, p.rebootEveryS, over, async () => {
          await this.window('reboot', 'reboot', true, async (i) => {
            reboots++;
            await this.reboot(i, errors);
          });
        }),
      ],
      () => ({ kills, cuts, reboots, previousReleaseHosts: this.hostsOn('previous') }),
    );
  }

  /** Each of `hosts` in turn: SIGTERM, started again on this build, its first sync awaited; then the next. */
  async rollingUpgrade(hosts: number[]): Promise<PhaseReport> {
    const from = hosts.map((i) => `h${i}:${this.buildOf(i)}`).join(' ');
    return this.phase(
      `rolling upgrade to this build (${from}) under pings and churn`,
      (_until, errors) => [
        (async () => {
          for (const i of hosts) {
            // Waits for the churn on that host to end (the upgrade takes it alone).
            const upgrade = () =>
              this.window(
                'upgrade',
                `upgrade h${i}`,
                false,
                async () => {
                  await this.c.stopAgent(i, 'SIGTERM');
                  this.builds.set(i, 'current');
                  await this.start(i).catch((e: Error) => errors.push(`start of h${i}: ${e.message.split('\n')[0]}`));
                  for (let n = 0; n < 100; n++) {
                    const s = await this.c.vxJson<{ initialSyncDone: boolean }>(i, ['status']).catch(() => undefined);
                    if (s?.initialSyncDone) break;
                    await sleep(200);
                  }
                },
                [i],
              );
            while (!(await upgrade())) await sleep(100);
            // The next host after 2 s of pings through this one's new agent (none after the last).
            if (i !== hosts[hosts.length - 1]) await sleep(2000);
          }
        })(),
      ],
      () => ({ upgraded: hosts.map((i) => `h${i}`).join(' '), previousReleaseHosts: this.hostsOn('previous') }),
    );
  }

  private hostsOn(build: 'current' | 'previous'): string {
    return [...this.builds]
      .filter(([, b]) => b === build)
      .map(([i]) => `h${i}`)
      .join(' ');
  }

  async teardown(): Promise<void> {
    await this.mesh.stop().catch(() => undefined);
    // VXMESH_CHAOS_LOGS=DIR keeps every agent's log (each start appends to its host's).
    const keep = process.env.VXMESH_CHAOS_LOGS;
    if (keep) {
      fs.mkdirSync(keep, { recursive: true });
      for (const [i, a] of this.c.agents) if (fs.existsSync(a.logFile)) fs.copyFileSync(a.logFile, `${keep}/h${i}.log`);
    }
    await this.c.teardown();
  }
}
