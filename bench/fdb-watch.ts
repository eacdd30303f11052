/**
 * Kernel fdb changes of many overlay namespaces, as they happen: one `bridge -n NS monitor fdb` per
 * namespace (iproute2, independent of the code under test), each line time-stamped on arrival. Used
 * to time "record written on one host → entry in every other host's kernel" without polling.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';

export interface FdbEvent {
  /** Which watched namespace (the caller's key, e.g. the host index). */
  host: number;
  mac: string;
  dst: string;
  deleted: boolean;
  /** performance.now() when the line arrived. */
  at: number;
}

const LINE = /^(Deleted )?([0-9a-f:]{17}) dev \S+ dst (\S+)/;

export class FdbWatch {
  readonly events: FdbEvent[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly listeners: Array<(e: FdbEvent) => void> = [];

  /** Starts watching `netns` as `host`; resolves once the monitor runs. */
  async watch(host: number, netns: string): Promise<void> {
    const child = spawn('bridge', ['-n', netns, 'monitor', 'fdb'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.children.push(child);
    readline.createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const m = LINE.exec(line);
      if (!m) return;
      const e: FdbEvent = {
        host,
        mac: m[2] as string,
        dst: m[3] as string,
        deleted: m[1] !== undefined,
        at: performance.now(),
      };
      this.events.push(e);
      for (const l of this.listeners) l(e);
    });
    await new Promise((r) => setTimeout(r, 20));
    if (child.exitCode !== null) throw new Error(`bridge monitor fdb in ${netns} exited with ${child.exitCode}`);
  }

  /** Resolves with the arrival time per host once every host in `hosts` saw an event passing `test`. */
  firstPerHost(
    hosts: number[],
    test: (e: FdbEvent) => boolean,
    since: number,
    timeoutMs: number,
  ): Promise<Map<number, number>> {
    const seen = new Map<number, number>();
    for (const e of this.events)
      if (e.at >= since && hosts.includes(e.host) && !seen.has(e.host) && test(e)) seen.set(e.host, e.at);
    return new Promise((resolve) => {
      if (seen.size === hosts.length) return resolve(seen);
      const done = () => {
        clearTimeout(timer);
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolve(seen);
      };
      const timer = setTimeout(done, timeoutMs);
      const listener = (e: FdbEvent) => {
        if (e.at < since || !hosts.includes(e.host) || seen.has(e.host) || !test(e)) return;
        seen.set(e.host, e.at);
        if (seen.size === hosts.length) done();
      };
      this.listeners.push(listener);
    });
  }

  stop(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    this.listeners.length = 0;
  }
}
