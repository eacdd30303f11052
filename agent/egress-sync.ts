/**
 * Egress on this host: for every network with local endpoints, its gateway link (built or repaired
 * by the data plane; removed for an internal network) and the packet-filter rules for it and for the
 * ports published to its endpoints (egress/). One run at a time; runs after each reconcile, attach and
 * detach, and on the periodic tick (a rule or link removed by hand comes back).
 */
import type { Logger } from '../core/logger.js';
import type { EgressResult } from '../egress/egress.js';
import type { EgressNetwork, GuardedNetwork, VxlanGuard } from '../egress/rules.js';
import type { LocalEndpoint } from './local-state.js';
import type { NetworkDefinition } from './networks.js';
import type { Overlays } from './overlays.js';
import type { EgressPort, OverlayDriver } from './ports.js';

/** Egress drift repair every this many periodic ticks. */
export const EGRESS_EVERY = 6;
/** The same while the packet filter reports its changes (watch()): a safety net only (5 min at 5 s). */
export const EGRESS_EVERY_WATCHED = 60;
/** A run this long after a reported change (a burst of changes, e.g. dockerd's, ends in one run). */
export const FILTER_CHANGE_DELAY_MS = 200;

export interface EgressInputs {
  networks(): Map<string, NetworkDefinition>;
  endpoints(): LocalEndpoint[];
  /** Which VXLAN frames the host accepts (absent: no guard). */
  vxlanGuard?(): VxlanGuard;
}

export class EgressSync {
  /** The networks with egress as of the last run. */
  current: EgressNetwork[] = [];
  /** The networks whose DNS server's kernel guard was applied, as of the last run. */
  guarded: GuardedNetwork[] = [];
  private running?: Promise<EgressResult | undefined>;
  /** The run after the one in progress (which read its inputs before the change that asks for it). */
  private queued?: Promise<EgressResult | undefined>;
  private ticks = 0;
  /** Packet-filter changes are reported (watch()): the periodic run is a safety net only. */
  watched = false;
  private changeRun?: NodeJS.Timeout;
  private warnedNoUplink = false;
  private lastGuard?: string;
  /** What the last run without errors was made of (intent()): an attach or detach that keeps it runs nothing. */
  private lastClean?: string;

  constructor(
    private readonly inputs: EgressInputs,
    private readonly driver: Pick<OverlayDriver, 'ensureGatewayLink' | 'overlayNetnsPath'>,
    private readonly overlays: Overlays,
    private readonly egress: Pick<EgressPort, 'reconcile' | 'drift' | 'watchChanges' | 'stopWatching'>,
    private readonly log: Logger,
  ) {}

  /**
   * A run that starts after this call: while one is in progress, the caller gets the next one (one
   * for all callers meanwhile), so `detach` returns only once its published ports are gone.
   */
  run(): Promise<EgressResult | undefined> {
    if (this.running) {
      this.queued ??= this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.run();
        });
      return this.queued;
    }
    this.running = this.once().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /**
   * The periodic drift repair: a run every EGRESS_EVERY ticks only (30 s at the default 5 s interval):
   * reading the packet filter costs two processes per network (measured: a run every 5 s added ~0.35 %
   * of a core to an idle agent with one network). Attach, detach and start run at once.
   */
  async periodic(): Promise<EgressResult | undefined> {
    if (++this.ticks % (this.watched ? EGRESS_EVERY_WATCHED : EGRESS_EVERY) !== 0) return undefined;
    return this.run();
  }

  /**
   * Drift repaired when the packet filter reports a change where we write (ours too: that run changes
   * nothing), instead of reading every namespace's rules every EGRESS_EVERY ticks. Without reports
   * (iptables' legacy backend), the periodic run stays as it was.
   */
  async watch(): Promise<void> {
    this.watched = (await this.egress.watchChanges?.(() => this.onFilterChange())) ?? false;
    this.log.debug({ watched: this.watched }, 'egress: packet-filter changes reported');
  }

  stopWatching(): void {
    if (this.changeRun) clearTimeout(this.changeRun);
    this.changeRun = undefined;
    this.egress.stopWatching?.();
    this.watched = false;
  }

  private onFilterChange(): void {
    if (this.changeRun) return;
    this.changeRun = setTimeout(() => {
      this.changeRun = undefined;
      this.run().catch((e: unknown) => this.log.error({ err: (e as Error).message }, 'egress reconcile failed'));
    }, FILTER_CHANGE_DELAY_MS);
    this.changeRun.unref();
  }

  /**
   * After an attach or detach: a run only when what egress is made of changed (the networks with local
   * endpoints and their overlays, published ports, the VXLAN guard). A second container on a network
   * changes none of it: no packet-filter processes on its path. The periodic run repairs drift.
   */
  runForChange(): Promise<EgressResult | undefined> {
    if (this.lastClean !== undefined && this.intent() === this.lastClean) return Promise.resolve(undefined);
    return this.run();
  }

  /** The inputs of a run, as text: networks with local endpoints (egress, IPv6, overlay generation), published ports, guard. */
  private intent(): string {
    const nets = [...this.inputs.networks().values()];
    const eps = this.inputs.endpoints();
    const vnis = [...new Set(eps.map((e) => e.vni))].sort((a, b) => a - b);
    const parts = vnis.map((vni) => {
      const n = nets.find((x) => x.vni === vni && x.usable);
      if (!n) return [vni];
      const publish = eps.filter((e) => e.vni === vni && e.publish?.length).map((e) => [e.ip, e.ip6, e.publish]);
      const hostRoute = eps.some((e) => e.vni === vni && e.hostRoute === true);
      return [
        vni,
        this.overlays.hasEgress(n),
        n.subnet6 !== undefined,
        this.overlays.generation(vni),
        hostRoute,
        publish,
      ];
    });
    return JSON.stringify([parts, this.inputs.vxlanGuard?.()]);
  }

  /** After a membership change: a run only when the VXLAN guard it would write differs from the last. */
  onMembers(): Promise<EgressResult | undefined> {
    const g = this.inputs.vxlanGuard?.();
    if (JSON.stringify(g) === this.lastGuard) return Promise.resolve(undefined);
    return this.run();
  }

  /** Rule changes a reconcile would make now for this network (empty: the kernel matches). */
  drift(vni: number): Promise<string[]> {
    return this.egress.drift(this.current, vni, this.guarded);
  }

  private async once(): Promise<EgressResult | undefined> {
    const intent = this.intent();
    this.lastClean = undefined;
    const nets = [...this.inputs.networks().values()];
    const eps = this.inputs.endpoints();
    const out: EgressNetwork[] = [];
    const guarded: GuardedNetwork[] = [];
    for (const vni of new Set(eps.map((e) => e.vni))) {
      const n = nets.find((x) => x.vni === vni && x.usable);
      if (!n) continue;
      let link;
      const hostRoute = eps.some((e) => e.vni === vni && e.hostRoute === true);
      try {
        link = await this.driver.ensureGatewayLink(vni, this.overlays.hasEgress(n), hostRoute);
      } catch (e) {
        // The overlay is not set up yet (the reconcile loop builds it): the next run takes it.
        this.log.debug({ network: n.name, err: (e as Error).message }, 'gateway link not ensured');
        continue;
      }
      guarded.push({
        name: n.name,
        vni,
        netns: this.driver.overlayNetnsPath(vni),
        ...(n.subnet6 !== undefined ? { ipv6: true } : {}),
      });
      if (!link) continue;
      const publish = eps
        .filter((e) => e.vni === vni)
        .flatMap((e) =>
          e.ip === undefined
            ? []
            : (e.publish ?? []).map((p) => ({
                ...p,
                ip: e.ip as string,
                ...(e.ip6 !== undefined ? { ip6: e.ip6 } : {}),
              })),
        );
      out.push({
        name: n.name,
        vni,
        netns: this.driver.overlayNetnsPath(vni),
        hostIfname: link.hostIfname,
        overlayIfname: link.overlayIfname,
        host: link.host,
        overlay: link.overlay,
        uplinks: link.uplinks,
        publish,
        ...(hostRoute ? { hostRoute: true } : {}),
        ...(link.overlay6 !== undefined
          ? { host6: link.host6, overlay6: link.overlay6, uplinks6: link.uplinks6 ?? [] }
          : {}),
      });
      if (link.uplinks.length === 0 && !this.warnedNoUplink) {
        this.warnedNoUplink = true;
        this.log.warn({ network: n.name }, 'egress: this host has no IPv4 default route, so no way out');
      }
    }
    this.current = out;
    this.guarded = guarded;
    const vxlan = this.inputs.vxlanGuard?.();
    this.lastGuard = JSON.stringify(vxlan);
    const result = await this.egress.reconcile(out, guarded, vxlan);
    // A network skipped above (overlay not built yet) makes the next attach run again.
    if (result.errors.length === 0 && guarded.length === vnisOf(intent)) this.lastClean = intent;
    return result;
  }
}

const vnisOf = (intent: string): number => (JSON.parse(intent) as [unknown[]])[0].length;

/** How `network inspect` and `fdb` show a network's egress on this host. */
export interface EgressView {
  /** nat: traffic leaves through the host (source NAT); internal: no way out; off: egress is off on this agent; none: no endpoint here. */
  mode: 'nat' | 'internal' | 'off' | 'none';
  hostIfname?: string;
  /** Transfer addresses of the gateway link (and their IPv6 twins, on a network with an IPv6 subnet). */
  transfer?: { host: string; overlay: string; host6?: string; overlay6?: string };
  published: Array<{ hostPort: number; protocol: string; ip: string; port: number }>;
  /** Rule changes a reconcile would make now (empty: the kernel matches). Only in the fdb report. */
  drift?: string[];
}

export function egressView(n: NetworkDefinition, enabled: boolean, current: EgressNetwork[]): EgressView {
  const e = current.find((x) => x.vni === n.vni);
  if (n.internal) return { mode: 'internal', published: [] };
  if (!enabled) return { mode: 'off', published: [] };
  if (!e) return { mode: 'none', published: [] };
  return {
    mode: 'nat',
    hostIfname: e.hostIfname,
    transfer: {
      host: e.host,
      overlay: e.overlay,
      ...(e.overlay6 !== undefined ? { host6: e.host6, overlay6: e.overlay6 } : {}),
    },
    published: e.publish.map((p) => ({ hostPort: p.hostPort, protocol: p.protocol, ip: p.ip, port: p.port })),
  };
}
