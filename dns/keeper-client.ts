/**
 * The agent's side of the DNS keeper (keeper-server.ts): the same `ensure` and `counters` as an
 * in-process DnsService, carried over the keeper's unix socket. The keeper is adopted when one of this
 * protocol generation and these settings answers on the socket; otherwise (none, or another one, told
 * to exit first) one is launched. Lazily: nothing is launched before there is a network to serve. A
 * keeper that dies is launched again and given the last networks. `detach()` leaves it running (the
 * agent stops; names keep answering until the next agent adopts it).
 */
import net from 'node:net';
import type { Logger } from '../core/logger.js';
import { VxmeshError } from '../core/errors.js';
import { newDnsCounters, type DnsCounters, type DnsNetwork } from './dns-service.js';
import {
  encodeRequest,
  KEEPER_PROTOCOL,
  sameSettings,
  type KeeperReply,
  type KeeperRequest,
  type KeeperSettings,
} from './keeper-protocol.js';

type Request = KeeperRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

export interface KeeperClientOptions {
  socketPath: string;
  settings: KeeperSettings;
  log: Logger;
  /** Starts a keeper process listening on socketPath (detached: it outlives the agent). */
  launch(): void;
  /** How long a launched keeper has to answer (default 10 s). */
  startTimeoutMs?: number;
  /** How long a request may take (default 15 s). */
  requestTimeoutMs?: number;
  /** How often the counters are asked for while connected (default 5 s). */
  countersIntervalMs?: number;
}

export class DnsKeeperClient {
  readonly counters: DnsCounters = newDnsCounters();
  /** The keeper's PID once connected. */
  pid?: number;
  private conn?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private readonly pending = new Map<number, (r: KeeperReply | Error) => void>();
  private nextId = 1;
  private lastNets: DnsNetwork[] = [];
  private detached = false;
  private countersTimer?: NodeJS.Timeout;
  private relaunchTimer?: NodeJS.Timeout;

  constructor(private readonly opts: KeeperClientOptions) {}

  /** The keeper serves exactly these networks. */
  async ensure(nets: DnsNetwork[]): Promise<void> {
    this.lastNets = nets;
    if (this.detached) return;
    // Nothing to serve and no keeper connected: one running from before is still told (it may serve
    // networks gone meanwhile), none is launched.
    if (nets.length === 0 && !this.conn && !(await this.connect(false))) return;
    const reply = await this.request({ op: 'ensure', nets });
    this.takeCounters(reply);
  }

  /** Closes the connection, leaves the keeper running (it answers from the last zones). */
  detach(): void {
    this.detached = true;
    if (this.countersTimer) clearInterval(this.countersTimer);
    if (this.relaunchTimer) clearTimeout(this.relaunchTimer);
    this.conn?.destroy();
    this.conn = undefined;
  }

  /** Tells the keeper to close its servers and end (nothing when none runs). */
  async stopKeeper(): Promise<void> {
    if (!this.conn && !(await this.connect(false))) return;
    await this.request({ op: 'exit' }).catch(() => undefined);
    this.detach();
  }

  private takeCounters(reply: KeeperReply): void {
    if (reply.ok && reply.counters) Object.assign(this.counters, reply.counters);
  }

  private async request(r: Request): Promise<KeeperReply & { ok: true }> {
    const conn = await this.connection();
    const id = this.nextId++;
    const reply = await new Promise<KeeperReply | Error>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(
          new VxmeshError(`the DNS keeper did not answer ${r.op} within ${this.opts.requestTimeoutMs ?? 15_000} ms`),
        );
      }, this.opts.requestTimeoutMs ?? 15_000);
      this.pending.set(id, (x) => {
        clearTimeout(timer);
        resolve(x);
      });
      conn.write(encodeRequest({ ...r, id } as KeeperRequest));
    });
    if (reply instanceof Error) throw reply;
    if (!reply.ok) throw new VxmeshError(`the DNS keeper refused ${r.op}: ${reply.error}`);
    return reply;
  }

  private connection(): Promise<net.Socket> {
    if (this.conn) return Promise.resolve(this.conn);
    return this.connect(true) as Promise<net.Socket>;
  }

  /** Adopts a keeper (launching one when `launch`): the connection, or undefined when none (and not launched). */
  private connect(launch: boolean): Promise<net.Socket | undefined> {
    if (this.conn) return Promise.resolve(this.conn);
    if (this.connecting) return this.connecting;
    const attempt = this.open(launch).finally(() => (this.connecting = undefined));
    if (launch) this.connecting = attempt as Promise<net.Socket>;
    return attempt;
  }

  private async open(launch: boolean): Promise<net.Socket | undefined> {
    const { log } = this.opts;
    const found = await this.dial();
    if (found) {
      const hello = await this.hello(found);
      if (hello.protocol === KEEPER_PROTOCOL && hello.settings && sameSettings(hello.settings, this.opts.settings)) {
        log.info({ pid: hello.pid }, 'DNS keeper adopted: its names answered while the agent was down');
        return this.use(found, hello.pid);
      }
      log.warn({ pid: hello.pid, protocol: hello.protocol }, 'a DNS keeper of another release or settings: replaced');
      this.conn = found;
      await this.request({ op: 'exit' }).catch(() => undefined);
      found.destroy();
      this.conn = undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!launch) return undefined;
    this.opts.launch();
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 10_000);
    for (;;) {
      const conn = await this.dial();
      if (conn) {
        const hello = await this.hello(conn);
        log.info({ pid: hello.pid, socket: this.opts.socketPath }, 'DNS keeper started');
        return this.use(conn, hello.pid);
      }
      if (Date.now() > deadline)
        throw new VxmeshError(`the DNS keeper did not start within ${this.opts.startTimeoutMs ?? 10_000} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private dial(): Promise<net.Socket | undefined> {
    return new Promise((resolve) => {
      const conn = net.connect(this.opts.socketPath);
      conn.once('connect', () => {
        conn.removeAllListeners('error');
        this.read(conn);
        resolve(conn);
      });
      conn.once('error', () => resolve(undefined));
    });
  }

  private async hello(conn: net.Socket): Promise<KeeperReply & { ok: true }> {
    this.conn = conn;
    try {
      return await this.request({ op: 'hello' });
    } finally {
      this.conn = undefined;
    }
  }

  private use(conn: net.Socket, pid: number | undefined): net.Socket {
    this.conn = conn;
    this.pid = pid;
    conn.on('close', () => {
      if (this.conn !== conn) return;
      this.conn = undefined;
      if (this.countersTimer) clearInterval(this.countersTimer);
      if (this.detached) return;
      this.opts.log.warn({ pid }, 'the DNS keeper went away: launched again');
      this.relaunchTimer = setTimeout(() => void this.ensure(this.lastNets).catch(() => undefined), 1000);
      this.relaunchTimer.unref();
    });
    this.countersTimer = setInterval(
      () =>
        void this.request({ op: 'counters' }).then(
          (r) => this.takeCounters(r),
          () => undefined,
        ),
      this.opts.countersIntervalMs ?? 5000,
    );
    this.countersTimer.unref();
    return conn;
  }

  private read(conn: net.Socket): void {
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const reply = JSON.parse(line) as KeeperReply;
          this.pending.get(reply.id)?.(reply);
          this.pending.delete(reply.id);
        } catch {
          /* not a reply: ignored */
        }
      }
    });
    conn.on('error', () => undefined);
    conn.on('close', () => {
      for (const [id, settle] of this.pending) {
        settle(new VxmeshError('the DNS keeper closed the connection'));
        this.pending.delete(id);
      }
    });
  }
}
