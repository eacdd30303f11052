/**
 * One DNS server per network with local endpoints, on the network's gateway address inside its
 * overlay namespace (UDP and TCP 53): answers from the network's zone (responder.ts, zone.ts),
 * forwards the rest upstream (forwarder.ts), SERVFAIL when upstream does not answer; within limits per
 * client and network (query-limits.ts): beyond them questions are dropped, forwards REFUSED. `ensure` is a
 * reconciler: listeners for new networks are opened, zones swapped in place, listeners of networks
 * gone are closed. A listener that cannot open is retried at the next `ensure`.
 */
import type { Logger } from '../core/logger.js';
import { forwardQuestion, UpstreamHealth, type Upstream, type UpstreamHealthSettings } from './forwarder.js';
import { listenInNamespace, type DnsListener } from './listener.js';
import { errorReply, RCODE, respond } from './responder.js';
import type { DnsZone } from './zone.js';
import { DEFAULT_QUERY_LIMITS, QueryLimits, type QueryLimitSettings } from './query-limits.js';

export interface DnsNetwork {
  vni: number;
  /** The overlay namespace (path). */
  netns: string;
  /** The gateway addresses on br0 (IPv4, IPv6: one or both), where the server answers. */
  addresses: string[];
  zone: DnsZone;
}

export interface DnsCounters {
  queries: number;
  answered: number;
  nxdomain: number;
  forwarded: number;
  servfail: number;
  malformed: number;
  /** REFUSED: an outside name asked on an internal network, or a forward beyond the limits. */
  refused: number;
  /** Dropped unanswered: beyond a client's questions per second, or a TCP connection beyond the limits. */
  limited: number;
}

export interface DnsServiceOptions {
  log: Logger;
  /** Where other names go; undefined: every forwarded question gets SERVFAIL. */
  upstream?: Upstream;
  /** Default 53 (tests may use another). */
  port?: number;
  /** Deadlines of forwarded questions and how long a silent upstream is remembered (default DEFAULT_UPSTREAM_HEALTH). */
  upstreamHealth?: UpstreamHealthSettings;
  /** Per client and per network (default DEFAULT_QUERY_LIMITS). */
  limits?: QueryLimitSettings;
}

interface Served {
  key: string;
  zone: DnsZone;
  listener: DnsListener;
  limits: QueryLimits;
}

/** Every counter at zero. */
export const newDnsCounters = (): DnsCounters => ({
  queries: 0,
  answered: 0,
  nxdomain: 0,
  forwarded: 0,
  servfail: 0,
  malformed: 0,
  refused: 0,
  limited: 0,
});

export class DnsService {
  readonly counters: DnsCounters = newDnsCounters();
  private readonly served = new Map<number, Served>();
  private closed = false;
  private readonly health: UpstreamHealth;
  private upstreamDown = false;

  constructor(private readonly opts: DnsServiceOptions) {
    this.health = new UpstreamHealth(opts.upstreamHealth);
  }

  /** Serves exactly these networks. Nothing after close(): a listener opening meanwhile is closed again. */
  async ensure(nets: DnsNetwork[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Set(nets.map((n) => n.vni));
    for (const [vni, s] of this.served) {
      if (!wanted.has(vni)) {
        s.listener.close();
        this.served.delete(vni);
      }
    }
    for (const n of nets) {
      const key = `${n.netns} ${n.addresses.join(' ')}`;
      const s = this.served.get(n.vni);
      if (s && s.key === key) {
        s.zone = n.zone;
        continue;
      }
      s?.listener.close();
      this.served.delete(n.vni);
      try {
        const limits = new QueryLimits(this.opts.limits ?? DEFAULT_QUERY_LIMITS);
        const entry: Served = { key, zone: n.zone, listener: { close: () => undefined }, limits };
        const listeners: DnsListener[] = [];
        entry.listener = { close: () => listeners.forEach((l) => l.close()) };
        try {
          for (const address of n.addresses)
            listeners.push(
              await listenInNamespace(
                n.netns,
                address,
                this.opts.port ?? 53,
                (msg, client) => this.handle(msg, entry.zone, client, limits),
                (e) => this.opts.log.warn({ network: n.zone.network, err: e.message }, 'DNS socket error'),
                limits,
                () => void this.counters.limited++,
              ),
            );
        } catch (e) {
          entry.listener.close();
          throw e;
        }
        if (this.closed) {
          entry.listener.close();
          return;
        }
        this.served.set(n.vni, entry);
        this.opts.log.info({ network: n.zone.network, addresses: n.addresses }, 'DNS server listening');
      } catch (e) {
        this.opts.log.warn(
          { network: n.zone.network, addresses: n.addresses, err: (e as Error).message },
          'DNS server could not listen (retried)',
        );
      }
    }
  }

  /** The networks served now (VNIs). */
  servedVnis(): number[] {
    return [...this.served.keys()];
  }

  close(): void {
    this.closed = true;
    for (const s of this.served.values()) s.listener.close();
    this.served.clear();
  }

  private async handle(msg: Buffer, zone: DnsZone, client: string, limits: QueryLimits): Promise<Buffer | undefined> {
    const c = this.counters;
    c.queries++;
    const d = respond(msg, zone);
    if ('drop' in d) {
      c.malformed++;
      return undefined;
    }
    if ('reply' in d) {
      const rcode = d.reply.length >= 4 ? d.reply.readUInt16BE(2) & 0xf : -1;
      if (rcode === RCODE.NXDOMAIN) c.nxdomain++;
      else if (rcode === RCODE.REFUSED) c.refused++;
      else if (rcode === RCODE.FORMERR || rcode === RCODE.NOTIMP) c.malformed++;
      else c.answered++;
      return d.reply;
    }
    if (this.opts.upstream && !limits.forwards.take(client)) {
      c.refused++;
      return errorReply(msg, RCODE.REFUSED);
    }
    if (this.opts.upstream) {
      let up;
      try {
        up = await forwardQuestion(msg, this.opts.upstream, this.health.deadlineMs());
      } finally {
        limits.forwards.release(client);
      }
      this.health.record(up);
      // Logged once per change (many questions may be in flight when it stops answering).
      if ('reply' in up) {
        if (this.upstreamDown)
          this.opts.log.info({ upstream: this.opts.upstream }, 'the upstream resolver answers again');
        this.upstreamDown = false;
        c.forwarded++;
        return up.reply;
      }
      if (!this.upstreamDown)
        this.opts.log.warn(
          { upstream: this.opts.upstream, failed: up.failed, err: up.message },
          'the upstream resolver did not answer: forwarded questions get SERVFAIL quickly until it does',
        );
      this.upstreamDown = true;
    }
    c.servfail++;
    return errorReply(msg, RCODE.SERVFAIL);
  }
}
