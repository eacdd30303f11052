/**
 * One network's overlay namespace: `br0` (the network's MTU, the gateway address), `vxlan<vni>`
 * (learning off, proxy ARP on, created from the host namespace so its UDP socket stays there) as a
 * port of the bridge. Built idempotently: what exists and is right is kept, what is wrong is repaired.
 */
import { KernelError, ValidationError } from '../core/errors.js';
import { ipv4ToString, parseCidr, parseIPv4, prefixMask, requireHostIn, type Cidr } from '../core/addresses.js';
import { bigIntToIPv6, ipv6ToBigInt } from '../core/ipv6.js';
import { parsePrefix, requireHostInPrefix, type Prefix } from '../core/prefix.js';
import { BRIDGE_NAME, bridgeMac, macFromHostVethName, vxlanName } from './names.js';
import type { Rtnl } from './netlink/rtnl.js';
import type { NetworkSpec, OverlayInfo } from './types.js';

/** An overlay namespace opened by this process: its fd, its netlink socket and its network's spec. */
export interface Overlay {
  vni: number;
  netns: string;
  fd: number;
  rtnl: Rtnl;
  /** The network's subnets (IPv4, IPv6: one or both) and their gateways on br0. */
  spec: { subnet?: Cidr; gateway?: string; subnet6?: Prefix; gateway6?: string; mtu: number };
}

/** An overlay's subnets and gateways. */
export type OverlayAddressing = Pick<Overlay['spec'], 'subnet' | 'gateway' | 'subnet6' | 'gateway6'>;

const VXLAN_RETRY_MS = 100;
const VXLAN_RETRY_MAX_MS = 5000;

export async function buildOverlay(
  o: Overlay,
  host: Rtnl,
  vxlan: { vtep: string; port: number; underlayIndex?: number },
): Promise<void> {
  const { underlayIndex } = vxlan;
  const r = o.rtnl;
  const { mtu, gateway, subnet, gateway6, subnet6 } = o.spec;
  const lo = await r.linkByName('lo');
  if (lo && !lo.up) await r.setLink(lo.index, { up: true }, 'lo');

  let br = await r.linkByName(BRIDGE_NAME);
  if (br && br.kind !== 'bridge')
    throw new ValidationError('vni', `${o.netns} has a ${BRIDGE_NAME} that is not a bridge`);
  if (!br) {
    await r.createBridge(BRIDGE_NAME, mtu);
    br = await r.linkByName(BRIDGE_NAME);
    // Before any port joins: a MAC of its own, which ports joining or leaving never change.
    if (br) await r.setLink(br.index, { mac: bridgeMac(o.vni) }, `bridge ${BRIDGE_NAME}`);
  }
  if (!br) throw new KernelError('ENODEV', `bridge ${BRIDGE_NAME} in ${o.netns}`, 'create');
  if (br.mtu !== mtu) await r.setLink(br.index, { mtu }, `bridge ${BRIDGE_NAME}`);
  if (gateway !== undefined && subnet !== undefined)
    await r.addAddress(br.index, gateway, subnet.prefix, `gateway ${gateway}/${subnet.prefix} on ${BRIDGE_NAME}`);
  // nodad (rtnl.addAddress): a tentative gateway could not be bound by the network's DNS server.
  if (gateway6 !== undefined && subnet6 !== undefined)
    await r.addAddress(br.index, gateway6, subnet6.prefix, `gateway ${gateway6}/${subnet6.prefix} on ${BRIDGE_NAME}`);

  const vxName = vxlanName(o.vni);
  let vx = await r.linkByName(vxName);
  const wrong =
    vx &&
    (vx.kind !== 'vxlan' ||
      vx.vxlan?.vni !== o.vni ||
      vx.vxlan.local !== vxlan.vtep ||
      vx.vxlan.port !== vxlan.port ||
      vx.vxlan.learning ||
      !vx.vxlan.proxy ||
      (underlayIndex !== undefined && vx.vxlan.underlayIndex !== underlayIndex));
  if (vx && wrong) {
    // Config changed (e.g. a new VTEP address): the device must be recreated; entries follow on reconcile.
    await r.deleteLink(vx.index, `vxlan ${vxName}`);
    vx = undefined;
  }
  if (!vx) {
    // Created by the host namespace's socket, so the UDP socket lives there; placed straight into the overlay.
    // EEXIST: the device of this VNI in a namespace deleted a moment ago is still being torn down by
    // the kernel (namespace deletion is asynchronous): it goes within a few seconds.
    for (let waited = 0; ; waited += VXLAN_RETRY_MS) {
      try {
        await host.createVxlan({
          name: vxName,
          vni: o.vni,
          local: vxlan.vtep,
          port: vxlan.port,
          underlayIndex,
          mtu,
          netnsFd: o.fd,
        });
        break;
      } catch (e) {
        if (!(e instanceof KernelError && e.errno === 'EEXIST') || waited >= VXLAN_RETRY_MAX_MS) throw e;
        await new Promise((r) => setTimeout(r, VXLAN_RETRY_MS));
      }
    }
    vx = await r.linkByName(vxName);
  }
  if (!vx) throw new KernelError('ENODEV', `vxlan ${vxName} in ${o.netns}`, 'create');
  if (vx.mtu !== mtu) await r.setLink(vx.index, { mtu }, `vxlan ${vxName}`);
  if (vx.master !== br.index) await r.setLink(vx.index, { master: br.index }, `vxlan ${vxName}`);
  await r.setBridgePortLearning(vx.index, false, `vxlan ${vxName}`);
  if (!vx.up) await r.setLink(vx.index, { up: true }, `vxlan ${vxName}`);
  if (!br.up) await r.setLink(br.index, { up: true }, `bridge ${BRIDGE_NAME}`);
}

export async function describeOverlay(o: Overlay): Promise<OverlayInfo> {
  const links = await o.rtnl.links();
  const br = links.find((l) => l.name === BRIDGE_NAME);
  const vx = links.find((l) => l.name === vxlanName(o.vni));
  return {
    vni: o.vni,
    netns: o.netns,
    mtu: vx?.mtu ?? o.spec.mtu,
    ...(o.spec.subnet ? { subnet: o.spec.subnet.text, gateway: o.spec.gateway } : {}),
    ...(o.spec.subnet6 ? { subnet6: o.spec.subnet6.text, gateway6: o.spec.gateway6 } : {}),
    vxlan: vx,
    bridge: br,
    localMacs: links
      .filter((l) => br && l.master === br.index)
      .map((l) => macFromHostVethName(l.name))
      .filter((m): m is string => m !== undefined),
  };
}

/** A network spec's subnets and gateways, checked (at least one subnet; gateways inside theirs). */
export function networkAddressing(spec: NetworkSpec): OverlayAddressing {
  if (spec.subnet === undefined && spec.subnet6 === undefined)
    throw new ValidationError('subnet', 'required (an IPv4 subnet, an IPv6 subnet6, or both)');
  const out: OverlayAddressing = {};
  if (spec.subnet !== undefined) {
    out.subnet = parseCidr(spec.subnet);
    if (spec.gateway !== undefined) out.gateway = requireHostIn(spec.gateway, out.subnet, 'gateway');
  } else if (spec.gateway !== undefined) throw new ValidationError('gateway', 'needs an IPv4 subnet');
  if (spec.subnet6 !== undefined) {
    out.subnet6 = parsePrefix(spec.subnet6, 'subnet6');
    if (out.subnet6.family !== 6) throw new ValidationError('subnet6', `${out.subnet6.text} is not an IPv6 subnet`);
    if (spec.gateway6 !== undefined) out.gateway6 = requireHostInPrefix(spec.gateway6, out.subnet6, 'gateway6');
  } else if (spec.gateway6 !== undefined) throw new ValidationError('gateway6', 'needs an IPv6 subnet6');
  return out;
}

/** An adopted overlay's subnets, read from the gateway addresses on its br0 (link-local ones aside). */
export async function addressingOnBridge(r: Rtnl, brIndex: number): Promise<OverlayAddressing> {
  const out: OverlayAddressing = {};
  const v4 = (await r.addresses(4)).find((a) => a.index === brIndex);
  if (v4) {
    out.subnet = parseCidr(`${ipv4ToString((parseIPv4(v4.ip) & prefixMask(v4.prefix)) >>> 0)}/${v4.prefix}`);
    out.gateway = v4.ip;
  }
  const v6 = (await r.addresses(6)).find((a) => a.index === brIndex && !a.ip.startsWith('fe80:'));
  if (v6) {
    const n = ipv6ToBigInt(v6.ip) & ~((1n << BigInt(128 - v6.prefix)) - 1n);
    out.subnet6 = parsePrefix(`${bigIntToIPv6(n)}/${v6.prefix}`, 'subnet6');
    out.gateway6 = v6.ip;
  }
  return out;
}
