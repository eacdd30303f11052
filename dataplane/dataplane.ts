/**
 * The overlay model: one network namespace per VNI holding `br0` and `vxlan<vni>`, veths to the
 * containers, and static fdb + neighbour entries on the VXLAN device for every remote endpoint.
 *
 * This is the only writer of kernel state in vxmesh. All inputs are validated before the first
 * netlink request; a failure while building a network or an attachment rolls back what was created.
 */
import fs from 'node:fs';
import { DEFAULT_ENCRYPTED_PORT, DEFAULT_NETNS_PREFIX, DEFAULT_VXLAN_PORT } from '../core/defaults.js';
import { encryptedMtuOverhead } from './wireguard.js';
import { KernelError, NotFoundError, ValidationError } from '../core/errors.js';
import { KeyedQueue } from '../core/keyed-queue.js';
import { createNetns, deleteNetns, listNetns, netnsExists, netnsPath, openNetns } from './netns.js';
import { BRIDGE_NAME, hostVethName, overlayNetnsName, vniFromNetnsName, vxlanName } from './names.js';
import { RtnlSocket } from './netlink/socket.js';
import { Rtnl, type Link } from './netlink/rtnl.js';
import { connectVeth, vethRequest } from './veth.js';
import { KernelWatch, type KernelChange } from './kernel-watch.js';
import type { RemoteEndpoint } from './reconcile-plan.js';
import {
  addressingOnBridge,
  buildOverlay,
  describeOverlay,
  networkAddressing,
  type Overlay,
  type OverlayAddressing,
} from './overlay.js';
import { describeGatewayLink, ensureGatewayLink, removeGatewayLink, type GatewayLinkInfo } from './gateway-link.js';
import type { RemotesDelta } from './reconcile-delta.js';
import { dumpOverlay, reconcileDifference, reconcileFull } from './overlay-tables.js';
import { containerInterface, type ContainerInterface } from './container-interface.js';
import { validateRemotes } from './remotes.js';
import { canonicalIPv6 } from '../core/ipv6.js';
import type {
  AttachResult,
  AttachSpec,
  DataplaneOptions,
  NetworkSpec,
  OverlayInfo,
  NetworkPolicyState,
  OverlayTables,
  ReconcileResult,
  WrittenFilter,
} from './types.js';
import { isIPv4, isVtepAddress, parseIfName, parseIPv4, parseMac, parseMtu, parsePort } from '../core/addresses.js';
import { parseVni } from '../core/addresses.js';
import { applyNetworkPolicy } from './network-policy.js';
import { ensureContainerRoutes } from './container-routes.js';

export type { RemoteEndpoint } from './reconcile-plan.js';
export type { RemotesDelta } from './reconcile-delta.js';
export { diffRemotes } from './reconcile-delta.js';
export { KernelEcho } from './kernel-echo.js';
export type { ContainerInterface } from './container-interface.js';
export type { GatewayLinkInfo } from './gateway-link.js';
export type { KernelChange } from './kernel-watch.js';
export type * from './types.js';

export class Dataplane {
  readonly prefix: string;
  readonly vtep: string;
  readonly vxlanPort: number;
  readonly tunnel?: string;
  readonly encryptedPort: number;
  private readonly hostNetns?: string;
  private readonly underlayDev?: string;
  private host?: Rtnl;
  private hostFd?: number;
  private readonly overlays = new Map<number, Overlay>();
  private watch?: KernelWatch;
  /** Serialises operations per VNI so reconcile/attach/remove never interleave on one overlay. */
  private readonly locks = new KeyedQueue<number>();
  /** Per VNI: the policy filter last written (network-policy.ts). */
  private readonly policyWritten = new Map<number, WrittenFilter>();

  constructor(opts: DataplaneOptions) {
    this.prefix = opts.prefix ?? DEFAULT_NETNS_PREFIX;
    if (!/^[A-Za-z0-9_.-]{1,40}$/.test(this.prefix))
      throw new ValidationError('prefix', `invalid namespace prefix ${JSON.stringify(this.prefix)}`);
    // IPv4, or IPv6 in canonical text (an IPv6 underlay: VXLAN over IPv6, overlay MTU underlay − 70).
    if (!isIPv4(opts.vtep) && canonicalIPv6(String(opts.vtep)) !== opts.vtep) parseIPv4(opts.vtep, 'vtep');
    this.vtep = opts.vtep;
    this.vxlanPort = opts.vxlanPort === undefined ? DEFAULT_VXLAN_PORT : parsePort(opts.vxlanPort, 'vxlanPort');
    this.hostNetns = opts.hostNetns;
    if (opts.tunnel !== undefined && !isVtepAddress(opts.tunnel))
      throw new ValidationError('tunnel', `invalid tunnel address ${JSON.stringify(opts.tunnel)}`);
    this.tunnel = opts.tunnel;
    this.encryptedPort =
      opts.encryptedPort === undefined ? DEFAULT_ENCRYPTED_PORT : parsePort(opts.encryptedPort, 'encryptedPort');
    if (opts.underlayDev !== undefined) this.underlayDev = parseIfName(opts.underlayDev, 'underlayDev');
  }

  /**
   * Reports link and neighbour changes in every overlay namespace opened now or later (kernel-watch.ts).
   * Reported changes include this data plane's own writes.
   */
  watchKernel(onChange: (c: KernelChange) => void, onError: (vni: number, err: Error) => void): void {
    this.watch?.close();
    this.watch = new KernelWatch(onChange, onError);
    for (const o of this.overlays.values()) this.watch.add(o.vni, o.fd);
  }

  /** Closes every netlink socket. Kernel state stays as it is. */
  close(): void {
    this.watch?.close();
    for (const o of this.overlays.values()) this.closeOverlay(o);
    this.overlays.clear();
    this.host?.sock.close();
    if (this.hostFd !== undefined) fs.closeSync(this.hostFd);
    this.host = undefined;
    this.hostFd = undefined;
  }

  private hostRtnl(): Rtnl {
    if (this.host) return this.host;
    if (this.hostNetns !== undefined) this.hostFd = openNetns(this.hostNetns, 'hostNetns');
    this.host = new Rtnl(this.hostFd === undefined ? RtnlSocket.open() : RtnlSocket.open(this.hostFd));
    return this.host;
  }

  private withLock<T>(vni: number, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(vni, fn);
  }

  /** The underlay link (by option, or the one that holds the VTEP address) and its MTU. */
  async underlay(): Promise<Link> {
    const host = this.hostRtnl();
    if (this.underlayDev !== undefined) {
      const link = await host.linkByName(this.underlayDev);
      if (!link)
        throw new NotFoundError('underlayDev', `device ${this.underlayDev} does not exist in the host namespace`);
      return link;
    }
    const addr = (await host.addresses(this.vtep.includes(':') ? 6 : 4)).find((a) => a.ip === this.vtep);
    if (!addr)
      throw new NotFoundError('vtep', `no interface in the host namespace holds the VTEP address ${this.vtep}`);
    const link = (await host.links()).find((l) => l.index === addr.index);
    if (!link) throw new NotFoundError('vtep', `the interface holding ${this.vtep} disappeared`);
    return link;
  }

  /** Largest overlay MTU this underlay allows (an encrypted network's: inside WireGuard). */
  async maxMtu(encrypted = false): Promise<number> {
    const link = await this.underlay();
    const v6 = this.vtep.includes(':');
    return link.mtu - (encrypted ? encryptedMtuOverhead(v6) : v6 ? 70 : 50);
  }

  private validateNetwork(spec: NetworkSpec): {
    vni: number;
    addressing: OverlayAddressing;
    mtu?: number;
    egress: boolean;
    encrypted: boolean;
  } {
    const vni = parseVni(spec.vni);
    const addressing = networkAddressing(spec);
    const mtu = spec.mtu === undefined ? undefined : parseMtu(spec.mtu);
    if (spec.encrypted === true && this.tunnel === undefined)
      throw new ValidationError('encrypted', 'this host has no tunnel address: it cannot carry an encrypted network');
    return { vni, addressing, mtu, egress: spec.egress === true, encrypted: spec.encrypted === true };
  }

  /**
   * Builds (or adopts, or repairs) the overlay namespace of a network. Idempotent. A newly created
   * namespace is removed again if any later step fails.
   */
  async ensureNetwork(spec: NetworkSpec): Promise<OverlayInfo> {
    const v = this.validateNetwork(spec);
    const maxMtu = await this.maxMtu(v.encrypted);
    if (v.mtu !== undefined && v.mtu > maxMtu) {
      throw new ValidationError('mtu', `${v.mtu} exceeds the largest overlay MTU of this underlay (${maxMtu})`);
    }
    const mtu = v.mtu ?? maxMtu;
    // Inside WireGuard the VXLAN device routes by its tunnel address, bound to no underlay device.
    const underlayIndex = this.underlayDev !== undefined && !v.encrypted ? (await this.underlay()).index : undefined;
    const vxlan = v.encrypted
      ? { vtep: this.tunnel as string, port: this.encryptedPort, underlayIndex }
      : { vtep: this.vtep, port: this.vxlanPort, underlayIndex };
    return this.withLock(v.vni, async () => {
      const name = overlayNetnsName(this.prefix, v.vni);
      const fresh = !netnsExists(name);
      if (fresh) createNetns(name);
      try {
        const o = this.openOverlay(v.vni, { ...v.addressing, mtu });
        await buildOverlay(o, this.hostRtnl(), vxlan);
        const info = await describeOverlay(o);
        if (v.egress) info.gatewayLink = await ensureGatewayLink(o, { rtnl: this.hostRtnl(), fd: this.hostFd });
        else await removeGatewayLink(o);
        return info;
      } catch (err) {
        if (fresh) await this.destroyOverlayNamespace(v.vni);
        throw err;
      }
    });
  }

  private openOverlay(vni: number, spec: Overlay['spec']): Overlay {
    const existing = this.overlays.get(vni);
    if (existing) {
      existing.spec = spec;
      return existing;
    }
    const netns = overlayNetnsName(this.prefix, vni);
    const fd = openNetns(netns);
    const o: Overlay = { vni, netns, fd, rtnl: new Rtnl(RtnlSocket.open(fd)), spec };
    this.overlays.set(vni, o);
    this.watch?.add(vni, fd);
    return o;
  }

  private closeOverlay(o: Overlay): void {
    this.watch?.remove(o.vni);
    o.rtnl.sock.close();
    fs.closeSync(o.fd);
  }

  private overlay(vni: number): Overlay {
    const o = this.overlays.get(vni);
    if (!o) throw new NotFoundError('vni', `network ${vni} is not set up on this host (call ensureNetwork first)`);
    return o;
  }

  /** Connects a container namespace to the overlay with a veth pair. Idempotent for an identical request. */
  async attach(spec: AttachSpec): Promise<AttachResult> {
    const vni = parseVni(spec.vni);
    const o = this.overlay(vni);
    const req = vethRequest(o, spec);
    const fd = openNetns(req.netns, 'netns');
    try {
      // The overlay taken again under the lock: one removed while this attach waited for it is not used.
      return await this.withLock(vni, () => connectVeth(this.overlay(vni), { ...req, fd }));
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Removes the veth of the endpoint with this MAC. Returns false if there was none. */
  async detach(vniIn: number, macIn: string): Promise<boolean> {
    const vni = parseVni(vniIn);
    const mac = parseMac(macIn, 'mac');
    const o = this.overlay(vni);
    return this.withLock(vni, async () => {
      const link = await o.rtnl.linkByName(hostVethName(mac));
      if (!link) return false;
      try {
        await o.rtnl.deleteLink(link.index, `veth ${link.name}`);
      } catch (err) {
        if (err instanceof KernelError && err.errno === 'ENODEV') return false;
        throw err;
      }
      return true;
    });
  }

  /**
   * Makes the VXLAN device's fdb and neighbour tables equal to `desired` (the remote endpoints) with
   * the fewest writes. Failed writes are reported in `errors`; everything else is still applied, so
   * the next reconcile only has the failures left to do. With `allowDelete: false` nothing is removed.
   */
  async reconcile(
    vniIn: number,
    desiredIn: RemoteEndpoint[],
    opts: { allowDelete?: boolean } = {},
  ): Promise<ReconcileResult> {
    const vni = parseVni(vniIn);
    const desired = validateRemotes(desiredIn, this.vtep, this.tunnel);
    const o = this.overlay(vni);
    return this.withLock(vni, () => reconcileFull(o, desired, opts.allowDelete !== false));
  }

  /**
   * Reconcile by difference (reconcile-delta.ts): the kernel holds what the last clean reconcile of
   * this overlay wrote, `delta` (diffRemotes) takes it to the new desired set; only that is written,
   * nothing read. Checked like reconcile(): a bad new entry is refused naming it, before any write.
   */
  async reconcileDelta(
    vniIn: number,
    delta: RemotesDelta,
    opts: { allowDelete?: boolean } = {},
  ): Promise<ReconcileResult> {
    const vni = parseVni(vniIn);
    const upsert = validateRemotes(delta.upsert, this.vtep, this.tunnel, (k) => delta.upsertAt[k] ?? k);
    const o = this.overlay(vni);
    return this.withLock(vni, () => reconcileDifference(o, delta, upsert, opts.allowDelete !== false));
  }

  /** The VXLAN device's kernel tables. */
  dump(vniIn: number): Promise<OverlayTables> {
    return dumpOverlay(this.overlay(parseVni(vniIn)));
  }

  /**
   * The network's gateway link (egress): built or repaired when `enabled`, removed when not. The overlay
   * must be set up (ensureNetwork). Returns the link, or undefined for none. `hostRoute`: the host
   * routes the network's subnets through it too (host-route.ts).
   */
  async ensureGatewayLink(vniIn: number, enabled: boolean, hostRoute = false): Promise<GatewayLinkInfo | undefined> {
    const vni = parseVni(vniIn);
    const o = this.overlay(vni);
    return this.withLock(vni, async () => {
      if (enabled) return ensureGatewayLink(o, { rtnl: this.hostRtnl(), fd: this.hostFd }, hostRoute);
      await removeGatewayLink(o);
      return undefined;
    });
  }

  /** One overlay's links to connected networks' overlays and its policy filter; returns the changes. */
  async ensureNetworkPolicy(vniIn: number, want: NetworkPolicyState, verify = true, dryRun = false): Promise<number> {
    const vni = parseVni(vniIn);
    const o = this.overlay(vni);
    const opts = { netnsPath: this.overlayNetnsPath(vni), verify, dryRun };
    return this.withLock(vni, async () => {
      const r = await applyNetworkPolicy(o, (v) => this.overlays.get(v), want, this.policyWritten.get(vni), opts);
      if (!dryRun) this.policyWritten.set(vni, r.written);
      return r.changes;
    });
  }

  /** The gateway link as the kernel has it now (nothing changed). */
  async gatewayLink(vniIn: number): Promise<GatewayLinkInfo | undefined> {
    const o = this.overlay(parseVni(vniIn));
    return describeGatewayLink(o, this.hostRtnl());
  }

  /** Removes a network's overlay namespace and devices (containers lose their interface on it). */
  async removeNetwork(vniIn: number): Promise<boolean> {
    const vni = parseVni(vniIn);
    return this.withLock(vni, async () => this.destroyOverlayNamespace(vni));
  }

  private async destroyOverlayNamespace(vni: number): Promise<boolean> {
    const name = overlayNetnsName(this.prefix, vni);
    const o = this.overlays.get(vni);
    if (o) {
      // The gateway link first, by request: its host end goes with it at once. The namespace's own
      // teardown is asynchronous in the kernel, and the host end would linger until it has run.
      await removeGatewayLink(o).catch(() => false);
      this.closeOverlay(o);
      this.overlays.delete(vni);
      this.policyWritten.delete(vni);
    }
    if (!netnsExists(name)) return false;
    // Deleting the namespace destroys its devices (veths, bridge, vxlan) once nothing holds it open;
    // we closed our socket above, so the VNI's UDP port is free again right after.
    deleteNetns(name);
    return true;
  }

  /**
   * Lists the overlays with our prefix that exist in the kernel, without changing anything, and
   * opens them so reconcile/attach work on them. Their subnet comes from the address on br0 if any.
   */
  async adopt(): Promise<OverlayInfo[]> {
    const out: OverlayInfo[] = [];
    for (const name of listNetns()) {
      const vni = vniFromNetnsName(this.prefix, name);
      if (vni === undefined || !netnsExists(name)) continue;
      const o = this.overlays.get(vni) ?? this.openOverlay(vni, { mtu: 0 });
      const links = await o.rtnl.links();
      const br = links.find((l) => l.name === BRIDGE_NAME);
      const vx = links.find((l) => l.name === vxlanName(vni));
      if (o.spec.mtu === 0) {
        o.spec.mtu = vx?.mtu ?? br?.mtu ?? 0;
        if (br) Object.assign(o.spec, await addressingOnBridge(o.rtnl, br.index));
      }
      out.push(await describeOverlay(o));
    }
    return out;
  }

  /** Removes overlays with our prefix whose VNI is not in `wanted`. Returns the VNIs removed. */
  async removeStale(wanted: Iterable<number>): Promise<number[]> {
    const keep = new Set(wanted);
    const removed: number[] = [];
    for (const name of listNetns()) {
      const vni = vniFromNetnsName(this.prefix, name);
      if (vni === undefined || keep.has(vni)) continue;
      if (await this.removeNetwork(vni)) removed.push(vni);
    }
    return removed;
  }

  /** A container's interface as its namespace has it now (undefined: no such interface). */
  containerInterface(netns: string, ifname: string): Promise<ContainerInterface | undefined> {
    return containerInterface(netns, parseIfName(ifname, 'ifname'));
  }

  /** A container's routes to connected networks through its network's gateway (container-routes.ts). */
  readonly ensureContainerRoutes = ensureContainerRoutes;
  /** Whether a network namespace (name or path) exists: checked before anything is allocated for it. */
  netnsExists(nameOrPath: string): boolean {
    return netnsExists(nameOrPath);
  }

  /** Path of a network's overlay namespace. */
  overlayNetnsPath(vni: number): string {
    return netnsPath(overlayNetnsName(this.prefix, parseVni(vni)));
  }
}
