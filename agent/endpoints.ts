/** Local endpoints: attach (address, veth, announce) and detach (the reverse), each all-or-nothing. */
import crypto from 'node:crypto';
import { NotFoundError, ValidationError } from '../core/errors.js';
import { macFromIp } from '../core/addresses.js';
import { prefixesOverlap, subnetsOf } from '../core/prefix.js';
import type { WireguardSync } from './wireguard-sync.js';
import type { Logger } from '../core/logger.js';
import { ipv6View, type EndpointValue, type NetworkValue } from '../core/records.js';
import type { AddressReturns } from './address-returns.js';
import type { LocalEndpoint, LocalState } from './local-state.js';
import type { NetworkView } from './networks.js';
import type { Overlays } from './overlays.js';
import type { AddressAllocator, ClusterReader, ClusterWriter, EgressPort, OverlayDriver } from './ports.js';
import type { AttachRequest, DetachRequest } from './requests.js';
import { formatPortMapping, portKey, type PortMapping } from '../core/port-mappings.js';

const randomId = (): string => crypto.randomBytes(6).toString('hex');

/** What the local endpoints are made with. */
export interface EndpointsParts {
  self: { vtep: string; host: string };
  cluster: Pick<ClusterReader, 'endpoints'> & Pick<ClusterWriter, 'putEndpoint' | 'deleteEndpoint'>;
  driver: Pick<OverlayDriver, 'attach' | 'detach' | 'netnsExists'>;
  overlays: Overlays;
  networks: { get(name: string): NetworkView };
  allocator: AddressAllocator;
  returns: AddressReturns;
  state: LocalState;
  log: Logger;
  /** Undefined when egress is off on this agent (nothing can be published). */
  egress?: Pick<EgressPort, 'hostPortFree'>;
  /** The host's WireGuard interface; undefined: this agent carries no encrypted network. */
  wireguard?: Pick<WireguardSync, 'ensure'>;
}

export class Endpoints {
  constructor(private readonly parts: EndpointsParts) {}

  /** An encrypted network's attach: the host's WireGuard interface is built first, else refused. */
  private async ensureWireguard(network: string): Promise<void> {
    const wg = this.parts.wireguard;
    if (!wg)
      throw new ValidationError(
        'network',
        `network ${network} is encrypted and this agent runs without WireGuard (--no-wireguard): nothing was attached`,
      );
    try {
      await wg.ensure();
    } catch (e) {
      throw new ValidationError(
        'network',
        `network ${network} is encrypted and this host's WireGuard interface cannot be built: ${(e as Error).message}; nothing was attached`,
      );
    }
  }

  /** Published ports: only with egress, never on an internal network, each host port once per host and free. */
  private async checkPublish(
    publish: PortMapping[],
    n: { name: string; internal?: boolean; subnet?: string },
  ): Promise<PortMapping[]> {
    if (publish.length === 0) return publish;
    if (n.subnet === undefined)
      throw new ValidationError('publish', `network ${n.name} is IPv6-only: ports are published to IPv4 addresses`);
    if (!this.parts.egress)
      throw new ValidationError('publish', 'egress is off on this agent (--no-egress): nothing can be published');
    if (n.internal) throw new ValidationError('publish', `network ${n.name} is internal: it has no way in or out`);
    for (const p of publish) {
      const holder = this.parts.state.endpoints.find((e) => (e.publish ?? []).some((q) => portKey(q) === portKey(p)));
      if (holder)
        throw new ValidationError(
          'publish',
          `host port ${portKey(p)} is already published to endpoint ${holder.id} (${holder.network} ${holder.ip ?? holder.ip6})`,
        );
      if (!(await this.parts.egress.hostPortFree(p.protocol, p.hostPort)))
        throw new ValidationError(
          'publish',
          `host port ${portKey(p)} is in use on this host (${formatPortMapping(p)})`,
        );
    }
    return publish;
  }

  recordOf(e: LocalEndpoint): EndpointValue {
    const v = { network: e.network, id: e.id, mac: e.mac } as EndpointValue;
    if (e.ip !== undefined) v.ip = e.ip;
    v.vtep = this.parts.self.vtep;
    v.host = this.parts.self.host;
    if (e.name !== undefined) v.name = e.name;
    if (e.aliases?.length) v.aliases = e.aliases;
    if (e.ip6 !== undefined) v.ip6 = e.ip6;
    return v;
  }

  async attach(req: AttachRequest): Promise<LocalEndpoint> {
    const n = this.parts.networks.get(req.network);
    if (!n.usable)
      throw new ValidationError(
        'network',
        `network ${n.name} cannot be used: ${n.conflicts.map((c) => c.detail).join('; ')}`,
      );
    // Never a cleartext fallback: the host's WireGuard interface first, or nothing is attached.
    if (n.encrypted) await this.ensureWireguard(n.name);
    // Before an address is taken or an overlay built for it.
    if (this.parts.driver.netnsExists && !this.parts.driver.netnsExists(req.netns))
      throw new NotFoundError('netns', `network namespace ${req.netns} does not exist`);
    const ifname = req.ifname ?? 'eth0';
    const existing = this.parts.state.endpoints.find(
      (e) => e.network === n.name && e.netns === req.netns && e.ifname === ifname,
    );
    if (existing) return existing;
    const id = req.id ?? randomId();
    if (this.parts.state.endpoints.some((e) => e.network === n.name && e.id === id))
      throw new ValidationError('id', `endpoint ${id} exists in ${n.name}`);
    if (req.hostRoute) this.checkHostRoute(n);
    const publish = await this.checkPublish(req.publish ?? [], n);
    // The addresses are reserved from here on; returned if the attach fails (Docker's reservation included).
    const taken = await this.takeAddresses(n, req);
    const { ip, ip6 } = taken;
    let counted = false;
    let attached = false;
    try {
      const mac = req.mac ?? (ip !== undefined ? macFromIp(ip) : this.macForIPv6Only(n.name, ip6 as string));
      const holder = this.parts.cluster.endpoints().find((e) => e.network === n.name && e.mac === mac);
      if (holder) throw new ValidationError('mac', `${mac} is in use by endpoint ${holder.id} on host ${holder.host}`);
      // While this runs, neither a reconcile nor a detach may remove the overlay.
      this.parts.overlays.beginAttach(n.vni);
      counted = true;
      await this.parts.overlays.ensure(n);
      const r = await this.parts.driver.attach({
        vni: n.vni,
        netns: req.netns,
        ifname,
        mac,
        ...(ip !== undefined ? { ip, gateway: n.gateway } : {}),
        ...(ip6 !== undefined ? { ip6, gateway6: n.gateway6 } : {}),
        configure: req.configure,
      });
      const ep: LocalEndpoint = {
        id,
        network: n.name,
        vni: n.vni,
        netns: req.netns,
        ifname,
        mac,
        ...(ip !== undefined ? { ip, prefix: r.prefix } : {}),
        ...(ip6 !== undefined ? { ip6, prefix6: r.prefix6 } : {}),
        createdAt: new Date().toISOString(),
      };
      if (publish.length > 0) ep.publish = publish;
      if (req.name !== undefined) ep.name = req.name;
      if (req.aliases?.length) ep.aliases = req.aliases;
      if (req.containerId !== undefined) ep.containerId = req.containerId;
      if (req.hostRoute) ep.hostRoute = true;
      if (req.sandbox !== undefined) ep.sandbox = req.sandbox;
      this.parts.state.endpoints.push(ep);
      try {
        this.parts.state.save();
      } catch (e) {
        // Not recorded, so not attached: the veth goes again (a restart would not know it).
        this.parts.state.endpoints = this.parts.state.endpoints.filter((x) => x !== ep);
        await this.parts.driver.detach(n.vni, mac).catch(() => undefined);
        throw e;
      }
      await this.parts.cluster.putEndpoint(this.recordOf(ep));
      this.parts.log.info({ endpoint: ep }, 'attached');
      attached = true;
      return ep;
    } finally {
      if (counted) this.parts.overlays.endAttach(n.vni);
      for (const a of [ip, ip6]) if (a !== undefined) this.parts.allocator.settle(n.name, a);
      if (!attached) for (const a of [ip, ip6]) if (a !== undefined) await this.parts.returns.giveBack(n.name, a);
    }
  }

  /**
   * A host route sends the network's subnets into its overlay: refused while another network whose
   * subnet overlaps has one on this host (one of the two would lose its route).
   */
  private checkHostRoute(n: NetworkView): void {
    const mine = subnetsOf(n);
    for (const ep of this.parts.state.endpoints) {
      if (!ep.hostRoute || ep.network === n.name) continue;
      const other = this.parts.networks.get(ep.network);
      if (!other) continue;
      const clash = subnetsOf(other).find((p) => mine.some((m) => prefixesOverlap(m, p)));
      if (clash)
        throw new ValidationError(
          'hostRoute',
          `network ${n.name}'s subnet overlaps ${clash.text} of network ${other.name}, which this host already routes to (endpoint ${ep.id}): networks with host routes need subnets of their own`,
        );
    }
  }

  /**
   * An address per subnet of the network: the explicit one (`ip`, `ip6`: claimed cluster-wide) or an
   * allocated one. If the second cannot be had, the first is given back: all or nothing.
   */
  private async takeAddresses(n: NetworkValue, req: AttachRequest): Promise<{ ip?: string; ip6?: string }> {
    const v6 = ipv6View(n);
    if (req.ip !== undefined && n.subnet === undefined)
      throw new ValidationError('ip', `network ${n.name} has no IPv4 subnet (it is IPv6-only): give ip6`);
    if (req.ip6 !== undefined && v6 === undefined)
      throw new ValidationError('ip6', `network ${n.name} has no IPv6 subnet`);
    const take = async (net: NetworkValue, explicit: string | undefined): Promise<string> => {
      if (explicit === undefined) return this.parts.allocator.allocate(net);
      await this.parts.allocator.reserveExplicit(net, explicit, req.preallocated === true);
      return explicit;
    };
    const out: { ip?: string; ip6?: string } = {};
    if (n.subnet !== undefined) out.ip = await take(n, req.ip);
    if (v6 === undefined) return out;
    try {
      out.ip6 = await take(v6, req.ip6);
    } catch (e) {
      if (out.ip !== undefined) {
        this.parts.allocator.settle(n.name, out.ip);
        await this.parts.returns.giveBack(n.name, out.ip);
      }
      if (e instanceof ValidationError && e.field === 'ip') throw new ValidationError('ip6', e.detail);
      throw e;
    }
    return out;
  }

  /**
   * An IPv6-only endpoint's MAC: 128 bits do not fit a MAC, so one is drawn (02:42 and four bytes of a
   * hash of the network and address, then random ones) that no endpoint of the network holds here or
   * in the cluster's table; the claim rule's mac-in-use check settles a race with another host.
   */
  private macForIPv6Only(network: string, ip6: string): string {
    const used = new Set(
      this.parts.cluster
        .endpoints()
        .filter((e) => e.network === network)
        .map((e) => e.mac),
    );
    for (const e of this.parts.state.endpoints) if (e.network === network) used.add(e.mac);
    let seed = crypto.createHash('sha256').update(`${network}/${ip6}`).digest();
    for (;;) {
      const mac = `0a:42:${[...seed.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
      if (!used.has(mac)) return mac;
      seed = crypto.randomBytes(4);
    }
  }

  /**
   * Sets a local endpoint's name and aliases (Docker's container name, known only after Join; decoded
   * as DNS labels by docker/names.ts) and re-announces it.
   */
  async rename(network: string, id: string, name: string | undefined, aliases: string[]): Promise<LocalEndpoint> {
    const ep = this.parts.state.endpoints.find((e) => e.network === network && e.id === id);
    if (!ep) throw new NotFoundError('id', `no endpoint ${id} of ${network} on this host`);
    const label = name;
    const list = aliases;
    if (ep.name === label && (ep.aliases ?? []).join(',') === list.join(',')) return ep;
    if (label === undefined) delete ep.name;
    else ep.name = label;
    if (list.length) ep.aliases = list;
    else delete ep.aliases;
    this.parts.state.save();
    await this.parts.cluster.putEndpoint(this.recordOf(ep));
    this.parts.log.info({ endpoint: ep.id, network, name: label, aliases: list }, 'endpoint names set');
    return ep;
  }

  async detach(req: DetachRequest): Promise<LocalEndpoint> {
    const n = this.parts.networks.get(req.network);
    const ifname = req.ifname ?? 'eth0';
    const ep = this.parts.state.endpoints.find(
      (e) =>
        e.network === n.name && (req.id !== undefined ? e.id === req.id : e.netns === req.netns && e.ifname === ifname),
    );
    if (!ep)
      throw new NotFoundError(
        req.id !== undefined ? 'id' : 'netns',
        `no endpoint of ${n.name} ${req.id !== undefined ? `with id ${req.id}` : `at ${req.netns ?? '?'} ${ifname}`} on this host`,
      );
    // Recorded first: a state directory that cannot be written leaves the endpoint as it is.
    const before = this.parts.state.endpoints;
    this.parts.state.endpoints = before.filter((e) => e !== ep);
    try {
      this.parts.state.save();
    } catch (e) {
      this.parts.state.endpoints = before;
      throw e;
    }
    try {
      await this.parts.driver.detach(ep.vni, ep.mac);
    } catch (e) {
      this.parts.state.endpoints = before;
      this.parts.state.save();
      throw e;
    }
    await this.parts.cluster.deleteEndpoint(ep.network, ep.id);
    for (const a of [ep.ip, ep.ip6]) if (a !== undefined) await this.parts.returns.giveBack(ep.network, a);
    this.parts.log.info({ endpoint: ep }, 'detached');
    if (!this.parts.state.endpoints.some((e) => e.vni === ep.vni))
      await this.parts.overlays.removeUnlessAttaching(ep.vni);
    return ep;
  }
}
