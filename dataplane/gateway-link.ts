/**
 * A network's gateway link: a veth from its overlay namespace (`gw0`) to the host namespace
 * (`vxg<vni>`), with a link-local /31 transfer pair (core/transfer-addresses.ts), the overlay
 * namespace's default route via the host end, and IPv4 forwarding on in both namespaces. The NAT
 * rules that use it are the egress module's. Built idempotently (kept when right, repaired when not);
 * an internal network has none.
 */
import fs from 'node:fs';
import { KernelError } from '../core/errors.js';
import {
  isTransferAddress,
  overlayEndOf,
  TRANSFER_PREFIX,
  transferPairFor,
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

function ensureForwarding(): boolean {
  if (fs.readFileSync(IP_FORWARD, 'utf8').trim() === '1') return false;
  fs.writeFileSync(IP_FORWARD, '1');
  return true;
}

/**
 * Turns IPv4 forwarding on in a namespace (the /proc/sys/net files are the opening thread's
 * namespace's). Returns whether it was off.
 */
export function ensureForwardingIn(fd: number | undefined): boolean {
  return fd === undefined ? ensureForwarding() : inNetnsFd(fd, ensureForwarding);
}

/** The devices of the namespace's IPv4 default routes (main table), other than gateway links. */
export async function uplinksOf(rtnl: Rtnl): Promise<string[]> {
  const [routes, links] = await Promise.all([rtnl.routes(), rtnl.links()]);
  const names = new Map(links.map((l) => [l.index, l.name]));
  const out = new Set<string>();
  for (const r of routes) {
    if (r.dstLen !== 0 || r.table !== 254 || r.oif === undefined) continue;
    const name = names.get(r.oif);
    if (name !== undefined && !name.startsWith('vxg')) out.add(name);
  }
  return [...out].sort();
}

export async function ensureGatewayLink(o: Overlay, host: HostSide): Promise<GatewayLinkInfo> {
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
  return { ...pair, hostIfname, overlayIfname: GATEWAY_LINK_NAME, uplinks: await uplinksOf(host.rtnl) };
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
      }
    : undefined;
}

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
