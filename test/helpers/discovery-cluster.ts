/** A discovery cluster for tests: one member process per simulated host. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DiscoveryTimers } from '../../discovery/discovery.js';
import { Testbed } from '../../scripts/testbed.js';
import { MemberProc } from './members.js';

export class DiscoveryCluster {
  readonly procs = new Map<number, MemberProc>();
  readonly stateRoot: string;
  private constructor(
    readonly tb: Testbed,
    private readonly timers: Partial<DiscoveryTimers>,
  ) {
    this.stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'vxmesh-disc-'));
  }

  static async create(hosts: number, timers: Partial<DiscoveryTimers> = {}, tag?: string): Promise<DiscoveryCluster> {
    return new DiscoveryCluster(await Testbed.create({ hosts, tag }), timers);
  }

  start(i: number, opts: { seeds?: number[]; clusterKeyFile?: string; debug?: boolean } = {}): MemberProc {
    const h = this.tb.host(i);
    const p = new MemberProc(
      {
        name: `h${i}`,
        vtep: h.vtep,
        listen: `${h.vtep}:7946`,
        seeds: (opts.seeds ?? [1]).map((s) => `${this.tb.host(s).vtep}:7946`),
        stateDir: path.join(this.stateRoot, `h${i}`),
        clusterKeyFile: opts.clusterKeyFile,
        timers: this.timers,
      },
      { netns: h.netns, debug: opts.debug },
    );
    this.procs.set(i, p);
    return p;
  }

  get(i: number): MemberProc {
    const p = this.procs.get(i);
    if (!p) throw new Error(`no member h${i}`);
    return p;
  }

  running(): MemberProc[] {
    return [...this.procs.values()].filter((p) => !p.exited);
  }

  /** Cuts (or restores) host i's underlay link at the switch. */
  async cut(i: number, down: boolean): Promise<void> {
    const { $ } = await import('zx');
    await $`ip -n ${this.tb.switchNs} link set h${i} ${down ? 'down' : 'up'}`;
  }

  async teardown(): Promise<void> {
    for (const p of this.procs.values()) p.signal('SIGCONT');
    await Promise.all([...this.procs.values()].map((p) => p.kill()));
    await this.tb.teardown();
    fs.rmSync(this.stateRoot, { recursive: true, force: true });
  }
}

export const endpointOf = (tb: Testbed, i: number, k: number) => ({
  network: 'blue',
  id: `e${i}-${k}`,
  mac: `02:00:00:00:${i.toString(16).padStart(2, '0')}:${k.toString(16).padStart(2, '0')}`,
  ip: `198.18.${i}.${k}`,
  vtep: tb.host(i).vtep,
  host: `h${i}`,
});
