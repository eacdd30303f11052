/**
 * Pings between every ordered pair of containers (every 100 ms), each echo kept with its time, so
 * that losses can be put in the fault windows they fell in (`ping -D -O`: a timestamp on every line
 * and a "no answer yet" line for every echo still unanswered when the next one is sent). Containers
 * come and go during a run (a rebooted host's come back with new addresses): `add` starts the pairs
 * of a new container, `remove` ends those of a gone one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { Ct } from './faults.js';

/** One ordered pair's echoes: time (ms since the epoch) of each sequence number, and which were answered. */
export interface PairLog {
  from: number;
  to: number;
  /** When the pair's pinger started (ms). */
  bornAt: number;
  /** When it was stopped (ms), once stopped. */
  endedAt?: number;
  /** Time first seen of echo number k (index k); undefined for numbers never seen. */
  seenAt: number[];
  /** Echo numbers answered. */
  answered: Set<number>;
}

interface Pinger {
  log: PairLog;
  child: ChildProcess;
  closed: Promise<void>;
}

const LINE =
  /^\[(\d+\.\d+)\] (?:(?:\d+ bytes from \S+ icmp_seq=(\d+))|(?:no answer yet for icmp_seq=(\d+))|(?:From \S+ icmp_seq=(\d+)))/;

/** Reads one line of `ping -D -O` into a pair's log; false when it is none of the three kinds. */
export function readPingLine(log: PairLog, line: string): boolean {
  const m = LINE.exec(line);
  if (!m) return false;
  const at = Math.round(Number(m[1]) * 1000);
  const seq = Number(m[2] ?? m[3] ?? m[4]);
  if (log.seenAt[seq] === undefined) log.seenAt[seq] = at;
  if (m[2] !== undefined) log.answered.add(seq);
  return true;
}

/**
 * A pair's lost echoes as times: every echo seen and never answered, except those seen in the last
 * `inFlightMs` before the pinger ended (their answer may not have come yet).
 */
export function lostTimes(log: PairLog, inFlightMs = 1500): number[] {
  const end = log.endedAt ?? Date.now();
  const out: number[] = [];
  log.seenAt.forEach((at, seq) => {
    if (at !== undefined && !log.answered.has(seq) && at < end - inFlightMs) out.push(at);
  });
  return out;
}

/** Every echo of a pair as [time, answered], in order (for counting the echoes of a window). */
export function echoes(log: PairLog, inFlightMs = 1500): Array<[number, boolean]> {
  const end = log.endedAt ?? Date.now();
  const out: Array<[number, boolean]> = [];
  log.seenAt.forEach((at, seq) => {
    if (at !== undefined && (log.answered.has(seq) || at < end - inFlightMs)) out.push([at, log.answered.has(seq)]);
  });
  return out;
}

export class PingMesh {
  private readonly cts: Ct[] = [];
  private readonly live = new Map<string, Pinger>();
  /** Every pair's log, stopped ones included. */
  readonly logs: PairLog[] = [];

  /** Starts pinging between `ct` and every container already in the mesh, both ways. */
  add(ct: Ct): void {
    for (const other of this.cts) {
      this.start(ct, other);
      this.start(other, ct);
    }
    this.cts.push(ct);
  }

  /** Ends every pair of the containers of host `host` (a reboot took them). */
  async removeHost(host: number): Promise<void> {
    const gone = this.cts.filter((c) => c.host === host);
    for (const c of gone) this.cts.splice(this.cts.indexOf(c), 1);
    await Promise.all(
      [...this.live.entries()]
        .filter(([, p]) => p.log.from === host || p.log.to === host)
        .map(([key, p]) => this.end(key, p)),
    );
  }

  /** Ends every pinger; the logs stay. */
  async stop(): Promise<void> {
    await Promise.all([...this.live.entries()].map(([key, p]) => this.end(key, p)));
  }

  private start(a: Ct, b: Ct): void {
    const ns = a.netns.includes('/') ? a.netns : `/run/netns/${a.netns}`;
    const child = spawn('nsenter', [`--net=${ns}`, 'ping', '-n', '-D', '-O', '-i', '0.1', '-W', '1', b.ip], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const log: PairLog = { from: a.host, to: b.host, bornAt: Date.now(), seenAt: [], answered: new Set() };
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on('line', (l) => readPingLine(log, l));
    const closed = new Promise<void>((resolve) => lines.once('close', () => resolve()));
    this.logs.push(log);
    this.live.set(`${a.netns}>${b.netns}`, { log, child, closed });
  }

  private async end(key: string, p: Pinger): Promise<void> {
    this.live.delete(key);
    p.log.endedAt = Date.now();
    p.child.kill('SIGINT');
    await p.closed;
  }
}
