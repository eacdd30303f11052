/**
 * The chaos suite's faults, each a function of a running cluster that returns what it measured:
 * pings sent and lost between containers of live hosts (one `ping -i 0.1` per ordered pair), how long
 * the cluster took to be right again after the fault (`vxmesh fdb --cluster --check` passing), and
 * what went wrong. Used by `npm run chaos` (full durations) and by test/e2e/chaos.test.ts (short).
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { $ } from 'zx';
import type { Cluster } from '../../sim/cluster.js';
import { openNetns } from '../../dataplane/netns.js';
import { KernelEventSocket, type KernelEvent } from '../../dataplane/netlink/event-socket.js';
import { plainShells } from '../../sim/shell.js';

$.verbose = false;
$.quiet = true;
plainShells();

export const VNI = 7070;
export const NETWORK = 'chaos';
export const SUBNET = '198.18.70.0/24';

export interface Ct {
  host: number;
  /** A named namespace, or a path (e.g. /proc/PID/ns/net of a Docker container). */
  netns: string;
  ip: string;
}

export interface FaultReport {
  fault: string;
  pingsSent: number;
  pingsLost: number;
  /** Lost pings per ordered pair (`h1→h2`), only pairs that lost any. */
  lostByPair: Record<string, number>;
  /** From the end of the fault to `fdb --cluster --check` passing (ms), when measured. */
  convergenceMs?: number;
  errors: string[];
  [k: string]: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Continuous pings (every 100 ms) between every ordered pair of `cts`, until stop(). */
export function startPings(cts: Ct[]) {
  const procs: Array<{ pair: string; child: ChildProcess; out: string }> = [];
  for (const a of cts) {
    for (const b of cts) {
      if (a === b) continue;
      const child = spawn(
        'nsenter',
        [
          `--net=${a.netns.includes('/') ? a.netns : `/run/netns/${a.netns}`}`,
          'ping',
          '-n',
          '-i',
          '0.1',
          '-W',
          '1',
          b.ip,
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      const p = { pair: `h${a.host}→h${b.host}`, child, out: '' };
      child.stdout?.on('data', (d: Buffer) => {
        p.out += d.toString();
        if (p.out.length > 4096) p.out = p.out.slice(-1024); // only the summary at the end matters
      });
      procs.push(p);
    }
  }
  return {
    async stop(): Promise<Pick<FaultReport, 'pingsSent' | 'pingsLost' | 'lostByPair'>> {
      // 'close': the summary ping prints on SIGINT may still be in the pipe when the process exits.
      await Promise.all(
        procs.map(
          (p) =>
            new Promise<void>((resolve) => {
              if (p.child.stdout?.closed) return resolve();
              p.child.stdout?.once('close', () => resolve());
              p.child.kill('SIGINT');
            }),
        ),
      );
      let sent = 0;
      let lost = 0;
      const lostByPair: Record<string, number> = {};
      for (const p of procs) {
        const m = /(\d+) packets transmitted, (\d+) received/.exec(p.out);
        if (!m) throw new Error(`ping ${p.pair} printed no summary`);
        const s = Number(m[1]);
        const r = Number(m[2]);
        sent += s;
        // The last echo may still be in flight when ping is stopped: one missing reply is not a loss.
        const l = Math.max(0, s - r - 1);
        lost += l;
        if (l > 0) lostByPair[p.pair] = l;
      }
      return { pingsSent: sent, pingsLost: lost, lostByPair };
    },
  };
}

/** One deletion on a VXLAN device, in words: when, which entry, its last state. */
const describe = (e: KernelEvent): string => {
  const x = e.entry;
  return `${new Date().toISOString().slice(11, 23)} ${x?.family ?? '?'} ${x?.dst ?? ''} lladdr ${x?.mac ?? '-'} state 0x${(x?.state ?? 0).toString(16)}${x?.multicast ? ' (multicast)' : ''} by port ${e.senderPort}`;
};

/**
 * Counts deletions of fdb/neighbour entries on the VXLAN device of the given overlay namespaces
 * until stop(), each classified from the notification itself: the kernel makes and expires NOARP
 * entries for multicast addresses by itself (e.g. `ff02::2 lladdr 33:33:00:00:00:02`, after an IPv6
 * router solicitation of the device) — deleted, but never ours; `ours` counts the unicast ones.
 */
export async function watchDeletions(namespaces: string[]) {
  const socks = await Promise.all(
    namespaces.map(async (ns) => {
      const fd = openNetns(ns);
      const index = Number(/^(\d+):/.exec((await $`ip -n ${ns} -o link show vxlan${VNI}`).stdout)?.[1]);
      return {
        ns,
        fd,
        index,
        sock: KernelEventSocket.open(fd),
        deleted: 0,
        ours: 0,
        overruns: 0,
        details: [] as string[],
      };
    }),
  );
  const poll = () => {
    for (const s of socks) {
      const r = s.sock.read();
      if (r.overrun) s.overruns++; // events lost: the counts below may miss some
      for (const e of r.events) {
        if (e.kind !== 'neigh' || !e.deleted || e.ifindex !== s.index) continue;
        s.deleted++;
        if (!e.entry?.multicast) s.ours++;
        if (s.details.length < 50) s.details.push(describe(e));
      }
    }
  };
  const timer = setInterval(poll, 50);
  return {
    stop(): {
      deleted: Record<string, number>;
      ours: Record<string, number>;
      overruns: number;
      details: Record<string, string[]>;
    } {
      clearInterval(timer);
      poll();
      for (const s of socks) {
        s.sock.close();
        fs.closeSync(s.fd);
      }
      return {
        deleted: Object.fromEntries(socks.map((s) => [s.ns, s.deleted])),
        ours: Object.fromEntries(socks.map((s) => [s.ns, s.ours])),
        overruns: socks.reduce((a, s) => a + s.overruns, 0),
        details: Object.fromEntries(socks.filter((s) => s.details.length).map((s) => [s.ns, s.details])),
      };
    },
  };
}

/** How a fault asks one host's agent: `vxmesh ARGS` against it, not throwing. */
export type AskHost = (args: string[]) => Promise<{ exitCode: number | null }>;

/** ms until every live member answers `fdb --cluster --check` without drift (asked through `ask`), or -1. */
export async function convergence(ask: AskHost, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if ((await ask(['fdb', '--cluster', '--check'])).exitCode === 0) return Date.now() - t0;
    await sleep(250);
  }
  return -1;
}

/** Attaches a new container of host i to the chaos network (k: its number on that host). */
export async function attach(c: Cluster, i: number, k: number, extra: string[] = []): Promise<Ct> {
  const netns = await c.tb.addContainer(i, k);
  const ep = await c.vxJson<{ ip: string }>(i, ['attach', NETWORK, '--netns', netns, ...extra]);
  return { host: i, netns, ip: ep.ip };
}

/** Resident memory (kB) and open descriptors of a process. */
export function procUsage(pid: number): { rssKb: number; fds: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN), fds: fs.readdirSync(`/proc/${pid}/fd`).length };
}

/** Static fdb and neighbour entries in a host's overlay namespace. */
export async function kernelEntries(c: Cluster, i: number): Promise<number> {
  const ns = `${c.overlayPrefix(i)}${VNI}`;
  const fdb = (await $`bridge -n ${ns} fdb show dev vxlan${VNI}`.nothrow()).stdout
    .split('\n')
    .filter((l) => l.includes(' dst ')).length;
  const neigh = (await $`ip -n ${ns} neigh show dev vxlan${VNI} nud permanent`.nothrow()).stdout
    .split('\n')
    .filter(Boolean).length;
  return fdb + neigh;
}

export const stateFile = (c: Cluster, i: number) => path.join(c.agents.get(i)?.stateDir ?? '', 'agent-state.json');
