/**
 * Names on this host (issue 13): for every network with local endpoints, the zone its DNS server
 * answers from — the names and aliases of the network's endpoints that are in this host's kernel
 * (local, remote of live owners, held), a name only where its holder is (names.ts) — and the resolver
 * file of named namespaces attached here. Rebuilt on every table change (coalesced), attach and detach.
 */
import { endpointAddresses } from '../core/records.js';
import type { Logger } from '../core/logger.js';
import type { DnsNetwork, DnsService } from '../dns/dns-service.js';
import type { DnsZone } from '../dns/zone.js';
import type { EndpointRow } from './endpoint-list.js';
import type { LocalEndpoint } from './local-state.js';
import type { NetworkDefinition } from './networks.js';
import type { OverlayDriver } from './ports.js';

/** The DNS side the agent drives (dns/): servers per network, and the resolver files of namespaces. */
export interface DnsPort {
  ensure: DnsService['ensure'];
  readonly counters: DnsService['counters'];
  writeResolvConf(netns: string, server: string, network: string): boolean;
  removeResolvConf(netns: string): void;
}

export interface DnsInputs {
  networks(): Map<string, NetworkDefinition>;
  localEndpoints(): LocalEndpoint[];
  rows(): EndpointRow[];
  /** The networks connected to a network (their names are answered too). */
  connectedTo?(network: string): string[];
  /**
   * Whether this host's view of the other hosts' endpoints is complete enough to replace the zones the
   * servers answer from (absent: always): after a restart, before the first exchange with another member.
   */
  settled?(): boolean;
}

/** The longest the first run waits for `settled` after the agent's start. */
export const SETTLE_LIMIT_MS = 10_000;

const ANSWERED = new Set(['local', 'remote', 'held']);

/** Pure: a network's zone from the endpoint rows. */
export function zoneOf(network: string, rows: EndpointRow[], internal = false): DnsZone {
  const names = new Map<string, string[]>();
  const add = (label: string, ip: string) => {
    const list = names.get(label) ?? [];
    if (!list.includes(ip)) names.set(label, [...list, ip]);
  };
  for (const r of rows) {
    if (r.network !== network || !ANSWERED.has(r.status)) continue;
    for (const ip of endpointAddresses(r)) {
      if (r.name !== undefined && r.nameHeldBy === undefined) add(r.name, ip);
      for (const a of r.aliases ?? []) add(a, ip);
    }
  }
  return internal ? { network, names, internal } : { network, names };
}

/** The zone with those of the connected networks added. */
function withConnected(zone: DnsZone, connected: string[], rows: EndpointRow[]): DnsZone {
  if (connected.length === 0) return zone;
  return { ...zone, connected: new Map(connected.map((c) => [c.toLowerCase(), zoneOf(c, rows).names])) };
}

export class DnsSync {
  private timer?: NodeJS.Timeout;
  private running = Promise.resolve();
  private stopped = false;
  /**
   * No run before the agent has started (its table synced): the servers (in the DNS keeper, which
   * outlives the agent) keep the zones of the previous agent until then, instead of a partial zone.
   */
  private begun = false;

  constructor(
    private readonly inputs: DnsInputs,
    private readonly driver: Pick<OverlayDriver, 'overlayNetnsPath'>,
    private readonly dns: DnsPort,
    private readonly log: Logger,
  ) {}

  /** A run soon (changes arriving together are coalesced). */
  schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, 10);
    this.timer.unref();
  }

  private begunAt = 0;

  /** The agent has started: runs from now on (the first once the view is settled, SETTLE_LIMIT_MS at most). */
  begin(): Promise<void> {
    this.begun = true;
    this.begunAt = performance.now();
    return this.run();
  }

  private waitingToSettle(): boolean {
    if (this.inputs.settled?.() ?? true) return false;
    if (performance.now() - this.begunAt >= SETTLE_LIMIT_MS) {
      this.log.warn({ afterMs: SETTLE_LIMIT_MS }, 'DNS zones replaced before the first exchange with another member');
      this.inputs.settled = undefined;
      return false;
    }
    // Asked again soon (a change also schedules a run).
    if (!this.settleTimer) {
      this.settleTimer = setTimeout(() => {
        this.settleTimer = undefined;
        this.schedule();
      }, 200);
      this.settleTimer.unref();
    }
    return true;
  }
  private settleTimer?: NodeJS.Timeout;

  run(): Promise<void> {
    if (this.stopped || !this.begun) return this.running;
    this.running = this.running
      .then(() => this.once())
      .catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'DNS update failed'));
    return this.running;
  }

  private async once(): Promise<void> {
    if (this.waitingToSettle()) return;
    const vnis = new Set(this.inputs.localEndpoints().map((e) => e.vni));
    // No local endpoint (most changes on a host that serves no network): nothing to compute.
    const nets = vnis.size > 0 ? [...this.inputs.networks().values()] : [];
    const rows = vnis.size > 0 ? this.inputs.rows() : [];
    const out: DnsNetwork[] = [];
    for (const vni of vnis) {
      const n = nets.find((x) => x.vni === vni && x.usable);
      const addresses = [n?.gateway, n?.gateway6].filter((a): a is string => a !== undefined);
      if (!n || addresses.length === 0) continue;
      out.push({
        vni,
        netns: this.driver.overlayNetnsPath(vni),
        addresses,
        zone: withConnected(zoneOf(n.name, rows, n.internal === true), this.inputs.connectedTo?.(n.name) ?? [], rows),
      });
    }
    await this.dns.ensure(out);
  }

  /** A named namespace just attached: its resolver is the network's DNS server. */
  attached(ep: LocalEndpoint, gateway: string | undefined): void {
    if (gateway !== undefined && this.dns.writeResolvConf(ep.netns, gateway, ep.network))
      this.log.info({ netns: ep.netns, server: gateway }, 'resolv.conf written for the namespace');
  }

  detached(ep: LocalEndpoint): void {
    // Another endpoint of the same namespace may still use it.
    if (!this.inputs.localEndpoints().some((e) => e.netns === ep.netns)) this.dns.removeResolvConf(ep.netns);
  }

  /** No run after this one; resolves when a run in progress has ended. */
  stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
    return this.running;
  }
}
