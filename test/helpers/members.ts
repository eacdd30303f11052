/** Starts discovery members as separate processes (optionally inside a testbed host namespace). */
import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import type { DiscoveryOptions } from '../../discovery/discovery.js';

const MAIN = new URL('./member-main.js', import.meta.url).pathname;

export interface Seen {
  ids: string[];
  gone: string[];
  at: number;
}

export interface Snapshot {
  members: Array<{ name: string; state: string; incarnation: number }>;
  desired: Record<string, string[]>;
  endpoints: string[];
  networks: string[];
  stats: { dropped: Record<string, number>; gossipOut: number; gossipBytesOut: number; syncRuns: number; reasserts: number };
  rss: number;
  cpu: { user: number; system: number };
}

export class MemberProc {
  readonly child: ChildProcess;
  readonly name: string;
  peerId = '';
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  readonly seen: Seen[] = [];
  private readonly seenListeners: Array<(s: Seen) => void> = [];
  readonly ready: Promise<void>;
  private readonly rawListeners: Array<(id: string, at: number) => void> = [];
  exited = false;

  constructor(config: DiscoveryOptions, opts: { netns?: string; debug?: boolean } = {}) {
    this.name = config.name;
    const env = { ...process.env, VXMESH_MEMBER_CONFIG: JSON.stringify(config), VXMESH_MEMBER_DEBUG: opts.debug ? '1' : '0' };
    // Extra node flags (e.g. --cpu-prof) for one member, for profiling.
    const nodeArgs = (process.env.VXMESH_MEMBER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const args = opts.netns ? [`--net=/run/netns/${opts.netns}`, process.execPath, ...nodeArgs, MAIN] : [...nodeArgs, MAIN];
    this.child = spawn(opts.netns ? 'nsenter' : process.execPath, args, { env, stdio: ['pipe', 'pipe', 'inherit'] });
    this.child.once('exit', () => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`${this.name} exited`));
      this.waiting.clear();
    });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.child.once('exit', (code) => readyReject(new Error(`${this.name} exited with ${code} before ready`)));
    readline.createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let m: { type: string; id?: number; result?: unknown; error?: string; peerId?: string } & Partial<Seen>;
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      if (m.type === 'ready') {
        this.peerId = m.peerId ?? '';
        readyResolve();
      } else if (m.type === 'reply' && m.id !== undefined) {
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (m.error) w?.reject(new Error(m.error));
        else w?.resolve(m.result);
      } else if (m.type === 'raw') {
        const r = m as unknown as { id: string; at: number };
        for (const l of this.rawListeners) l(r.id, r.at);
      } else if (m.type === 'seen') {
        const s = { ids: m.ids ?? [], gone: m.gone ?? [], at: m.at ?? 0 };
        this.seen.push(s);
        for (const l of this.seenListeners) l(s);
      }
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<T = unknown>(cmd: string, args?: object): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.stdin?.write(`${JSON.stringify({ id, cmd, args })}\n`);
    });
  }

  snapshot(): Promise<Snapshot> {
    return this.call<Snapshot>('snapshot');
  }

  onRaw(fn: (id: string, at: number) => void): void {
    this.rawListeners.push(fn);
  }

  onSeen(fn: (s: Seen) => void): void {
    this.seenListeners.push(fn);
  }

  signal(sig: NodeJS.Signals): void {
    // With nsenter the node process is nsenter's exec image (same PID), so the PID is the member's.
    if (!this.exited) process.kill(this.pid, sig);
  }

  async kill(): Promise<void> {
    if (this.exited) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.signal('SIGKILL');
    await done;
  }
}

/** Polls `fn` until it returns true or the time is up; returns whether it became true. */
export async function eventually(fn: () => Promise<boolean> | boolean, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
