/**
 * A network's gateway link: a veth from its overlay namespace (`gw0`) to the host namespace
 * (`vxg<vni>`), with a link-local /31 transfer pair (core/transfer-addresses.ts), the overlay
 * namespace's default route via the host end, and IPv4 forwarding on in both namespaces; for a network
 * with an IPv6 subnet also the pair's /127 twin, an IPv6 default route and IPv6 forwarding in the
 * overlay namespace. The NAT
 * rules that use it are the egress module's. Built idempotently (kept when right, repaired when not);
 * an internal network has none.
 */
import fs from 'node:fs';
import { ensureHostRoutes } from './host-route.js';
import { KernelError } from '../core/errors.js';
import {
  isTransferAddress,
  overlayEndOf,
  TRANSFER_PREFIX,
  transferPairFor,
  transfer6Of,
  TRANSFER6_PREFIX,
  type TransferPair,
} from '../core/transfer-addresses.js';
import { GATEWAY_LINK_NAME, gatewayHostLinkName } from './names.js';
import { inNetnsFd } from './netns.js';
import type { Rtnl } from './netlink/rtnl.js';
import type { Overlay } from './overlay.js';
import type { GatewayLinkInfo } from './types.js';

export type { GatewayLinkInfo } from './types.js';

export interface HostSide {
  rtnl: Rtnl;
  /** The host namespace's fd; undefined when it is this process's own namespace. */
  fd?: number;
}

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';
const IP6_FORWARD = '/proc/sys/net/ipv6/conf/all/forwarding';

const switchOn = (file: string) => (): boolean => {
  if (fs.readFileSync(file, 'utf8').trim() === '1') return false;
  fs.writeFileSync(file, '1');
  return true;
};

/**
 * Turns IPv4 (or IPv6) forwarding on in a namespace (the /proc/sys/net files are the opening thread's
 * namespace's). Returns whether it was off. Used for overlay namespaces, which hold no address a
 * router advertisement could configure.
 */
export function ensureForwardingIn(fd: number | undefined, family: 4 | 6 = 4): boolean {
  const on = switchOn(family === 6 ? IP6_FORWARD : IP_FORWARD);
  return fd === undefined ? on() : inNetnsFd(fd, on);
}

/** The devices of the namespace's IPv4 (or IPv6) default routes (main table), other than gateway links. */
export async function uplinksOf(rtnl: Rtnl, family: 4 | 6 = 4): Promise<string[]> {
  const [routes, links] = await Promise.all([rtnl.routes(family), rtnl.links()]);
  const names = new Map(links.map((l) => [l.index, l.name]));
  const out = new Set<string>();
  for (const r of routes) {
    if (r.dstLen !== 0 || r.table !== 254 || r.oif === undefined) continue;
    const name = names.get(r.oif);
    if (name !== undefined && !name.startsWith('vxg')) out.add(name);
  }
  return [...out].sort();
}

export async function ensureGatewayLink(o: Overlay, host: HostSide, hostRoute = false): Promise<GatewayLinkInfo> {
  const hostIfname = gatewayHostLinkName(o.vni);
  let inner = await o.rtnl.linkByName(GATEWAY_LINK_NAME);
  let outer = await host.rtnl.linkByName(hostIfname);
  if (
    (inner && inner.kind !== 'veth') ||
    (outer && outer.kind !== 'veth') ||
    (inner === undefined) !== (outer === undefined)
  ) {
    // Half a link, or not a veth: rebuilt (a veth's other end goes with it).
    if (inner) await o.rtnl.deleteLink(inner.index, `${GATEWAY_LINK_NAME} in ${o.netns}`);
    if (outer && (await host.rtnl.linkByName(hostIfname))) await host.rtnl.deleteLink(outer.index, hostIfname);
    inner = outer = undefined;
  }
  const hostAddrs = await host.rtnl.addresses();
  const held = outer
    ? hostAddrs.find((a) => a.index === outer?.index && isTransferAddress(a.ip) && a.prefix === TRANSFER_PREFIX)
    : undefined;
  const pair: TransferPair = held
    ? { host: held.ip, overlay: overlayEndOf(held.ip) }
    : transferPairFor(o.vni, (ip) => hostAddrs.some((a) => a.ip === ip || a.ip === overlayEndOf(ip)));
  if (!inner) {
    await o.rtnl.createVeth({
      name: GATEWAY_LINK_NAME,
      mtu: o.spec.mtu,
      peerName: hostIfname,
      peerNetnsFd: host.fd ?? hostSelfFd(),
    });
    inner = await o.rtnl.linkByName(GATEWAY_LINK_NAME);
    outer = await host.rtnl.linkByName(hostIfname);
  }
  if (!inner || !outer)
    throw new KernelError('ENODEV', `gateway link ${GATEWAY_LINK_NAME}/${hostIfname} of ${o.netns}`, 'create');
  if (!held)
    await host.rtnl.addAddress(
      outer.index,
      pair.host,
      TRANSFER_PREFIX,
      `transfer address ${pair.host} on ${hostIfname}`,
    );
  const innerAddrs = await o.rtnl.addresses();
  if (!innerAddrs.some((a) => a.index === inner?.index && a.ip === pair.overlay))
    await o.rtnl.addAddress(
      inner.index,
      pair.overlay,
      TRANSFER_PREFIX,
      `transfer address ${pair.overlay} on ${GATEWAY_LINK_NAME}`,
    );
  if (inner.mtu !== o.spec.mtu && o.spec.mtu > 0)
    await o.rtnl.setLink(inner.index, { mtu: o.spec.mtu }, GATEWAY_LINK_NAME);
  if (!inner.up) await o.rtnl.setLink(inner.index, { up: true }, GATEWAY_LINK_NAME);
  if (!outer.up) await host.rtnl.setLink(outer.index, { up: true }, hostIfname);
  const routes = await o.rtnl.routes();
  if (!routes.some((r) => r.dstLen === 0 && r.table === 254 && r.gateway === pair.host && r.oif === inner?.index))
    await o.rtnl.addDefaultRoute(pair.host, inner.index);
  // The overlay namespace forwards between br0 and gw0. The host namespace's forwarding is egress's
  // to switch on (egress/forwarding.ts), with a FORWARD policy that routes nothing else.
  ensureForwardingIn(o.fd);
  const info: GatewayLinkInfo = {
    ...pair,
    hostIfname,
    overlayIfname: GATEWAY_LINK_NAME,
    uplinks: await uplinksOf(host.rtnl),
  };
  if (o.spec.subnet6 !== undefined) Object.assign(info, await ensureIPv6Side(o, host, pair, inner.index, outer.index));
  await ensureHostRoutes(o, host.rtnl, info, outer.index, hostRoute);
  return info;
}

/** A network with an IPv6 subnet: the /127 twin of the transfer pair, the IPv6 default route, forwarding. */
async function ensureIPv6Side(
  o: Overlay,
  host: HostSide,
  pair: TransferPair,
  innerIndex: number,
  outerIndex: number,
): Promise<Pick<GatewayLinkInfo, 'host6' | 'overlay6' | 'uplinks6'>> {
  const pair6 = transfer6Of(pair);
  if (!(await host.rtnl.addresses(6)).some((a) => a.index === outerIndex && a.ip === pair6.host))
    await host.rtnl.addAddress(outerIndex, pair6.host, TRANSFER6_PREFIX, `transfer address ${pair6.host}`);
  if (!(await o.rtnl.addresses(6)).some((a) => a.index === innerIndex && a.ip === pair6.overlay))
    await o.rtnl.addAddress(innerIndex, pair6.overlay, TRANSFER6_PREFIX, `transfer address ${pair6.overlay}`);
  const routes = await o.rtnl.routes(6);
  if (!routes.some((r) => r.dstLen === 0 && r.table === 254 && r.gateway === pair6.host && r.oif === innerIndex))
    await o.rtnl.addDefaultRoute(pair6.host, innerIndex);
  ensureForwardingIn(o.fd, 6);
  return { host6: pair6.host, overlay6: pair6.overlay, uplinks6: await uplinksOf(host.rtnl, 6) };
}

/** The gateway link as the kernel has it (nothing changed), or undefined. */
export async function describeGatewayLink(o: Overlay, host: Rtnl): Promise<GatewayLinkInfo | undefined> {
  const hostIfname = gatewayHostLinkName(o.vni);
  const outer = await host.linkByName(hostIfname);
  if (!outer || !(await o.rtnl.linkByName(GATEWAY_LINK_NAME))) return undefined;
  const held = (await host.addresses()).find((a) => a.index === outer.index && isTransferAddress(a.ip));
  return held
    ? {
        host: held.ip,
        overlay: overlayEndOf(held.ip),
        hostIfname,
        overlayIfname: GATEWAY_LINK_NAME,
        uplinks: await uplinksOf(host),
        ...(o.spec.subnet6 !== undefined
          ? {
              ...sixOf(transfer6Of({ host: held.ip, overlay: overlayEndOf(held.ip) })),
              uplinks6: await uplinksOf(host, 6),
            }
          : {}),
      }
    : undefined;
}

const sixOf = (p: TransferPair) => ({ host6: p.host, overlay6: p.overlay });

/** Removes the gateway link (an internal network, or egress switched off). Returns whether one existed. */
export async function removeGatewayLink(o: Overlay): Promise<boolean> {
  const inner = await o.rtnl.linkByName(GATEWAY_LINK_NAME);
  if (!inner) return false;
  await o.rtnl.deleteLink(inner.index, `${GATEWAY_LINK_NAME} in ${o.netns}`);
  return true;
}

let selfFd: number | undefined;
/** This process's own network namespace (the host namespace when none was given). */
function hostSelfFd(): number {
  selfFd ??= fs.openSync('/proc/self/ns/net', 'r');
  return selfFd;
}
