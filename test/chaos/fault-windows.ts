/**
 * Puts a ping mesh's echoes into the fault windows of a combined run. A window is one fault on some
 * hosts from `start` to `end`; a cut or a reboot *excuses* the pings to and from its hosts (they
 * cannot pass) until `graceMs` after its end; every other lost echo counts, in every window it fell
 * in (with the same tail), or outside all of them. A pair's first `warmupMs` (a container just
 * attached, its record still on its way to the others) are counted apart.
 */
import { echoes, type PairLog } from './ping-mesh.js';

export interface FaultWindow {
  fault: string;
  hosts: number[];
  start: number;
  end: number;
  /** The pings of `hosts` cannot pass during it (a cut underlay, a rebooting host). */
  excuses: boolean;
}

export interface WindowCount {
  fault: string;
  hosts: string;
  /** Offset from the run's start and length (s). */
  atS: number;
  lengthS: number;
  /** Echoes between hosts the window does not excuse, and of those lost. */
  sent: number;
  lost: number;
  /** For an excusing window: from its end to the first answered echo of every pair of its hosts (ms). */
  resumedAfterMs?: number;
  /** The same for the median pair (the slowest is often one whose other end is under another fault). */
  resumedMedianMs?: number;
}

export interface MeshReport {
  pingsSent: number;
  /** Lost echoes not excused by any window (the figure that must be 0). */
  pingsLost: number;
  lostByPair: Record<string, number>;
  /** Lost echoes to or from a cut or rebooting host (expected). */
  excusedLost: number;
  /** Lost echoes of a pair's first `warmupMs`. */
  warmupLost: number;
  lostOutsideWindows: number;
  windows: WindowCount[];
}

export function countByWindow(
  logs: PairLog[],
  windows: FaultWindow[],
  runStart: number,
  opts: { graceMs: number; warmupMs: number },
): MeshReport {
  const tail = (w: FaultWindow) => w.end + opts.graceMs;
  const counts: WindowCount[] = windows.map((w) => ({
    fault: w.fault,
    hosts: w.hosts.map((h) => `h${h}`).join(' '),
    atS: Math.round((w.start - runStart) / 100) / 10,
    lengthS: Math.round((w.end - w.start) / 100) / 10,
    sent: 0,
    lost: 0,
  }));
  const r: MeshReport = {
    pingsSent: 0,
    pingsLost: 0,
    lostByPair: {},
    excusedLost: 0,
    warmupLost: 0,
    lostOutsideWindows: 0,
    windows: counts,
  };
  for (const log of logs) {
    const pair = `h${log.from}→h${log.to}`;
    for (const [at, answered] of echoes(log)) {
      const excused = windows.some(
        (w) => w.excuses && at >= w.start && at <= tail(w) && (w.hosts.includes(log.from) || w.hosts.includes(log.to)),
      );
      if (excused) {
        if (!answered) r.excusedLost++;
        continue;
      }
      if (at < log.bornAt + opts.warmupMs) {
        if (!answered) r.warmupLost++;
        continue;
      }
      r.pingsSent++;
      let inWindow = false;
      windows.forEach((w, k) => {
        if (at < w.start || at > tail(w)) return;
        inWindow = true;
        const c = counts[k] as WindowCount;
        c.sent++;
        if (!answered) c.lost++;
      });
      if (answered) continue;
      r.pingsLost++;
      r.lostByPair[pair] = (r.lostByPair[pair] ?? 0) + 1;
      if (!inWindow) r.lostOutsideWindows++;
    }
  }
  // How long after an excusing window the pings of its hosts came back: the latest, over the pairs
  // of its hosts that lived through its end (made before it, not ended within its tail), of the first
  // answered echo after its end. Pairs made later (a later reboot's) are not its to wait for.
  windows.forEach((w, k) => {
    if (!w.excuses) return;
    const delays: number[] = [];
    for (const log of logs) {
      if (!(w.hosts.includes(log.from) || w.hosts.includes(log.to))) continue;
      if (log.bornAt > w.end || (log.endedAt ?? Infinity) < w.end + opts.graceMs) continue;
      const first = echoes(log).find(([at, ok]) => ok && at >= w.end);
      if (first) delays.push(first[0] - w.end);
    }
    if (delays.length === 0) return;
    delays.sort((a, b) => a - b);
    const c = counts[k] as WindowCount;
    c.resumedAfterMs = delays[delays.length - 1];
    c.resumedMedianMs = delays[Math.floor((delays.length - 1) / 2)];
  });
  return r;
}
