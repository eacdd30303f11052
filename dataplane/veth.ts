/**
 * One endpoint's veth pair: the host end a port of the overlay's `br0`, the other end in the
 * container's namespace (its MAC, and unless Docker configures it: the address, up, lo up, the
 * default route). Idempotent for an identical request; a pair half made is removed again.
 */
import { KernelError, NotFoundError, ValidationError } from '../core/errors.js';
import { BRIDGE_NAME, hostVethName } from './names.js';
import { RtnlSocket } from './netlink/socket.js';
import { Rtnl } from './netlink/rtnl.js';
import type { Overlay } from './overlay.js';
import type { AttachResult, AttachSpec } from './types.js';
import { parseIfName, parseMac, requireHostIn } from '../core/addresses.js';

export interface VethRequest {
  /** The container namespace as named in the request (for messages), and its open fd. */
  netns: string;
  fd: number;
  ifname: string;
  mac: string;
  /** A usable host address of the overlay's subnet (checked by the caller). */
  ip: string;
  gateway?: string;
  /** false: the container end is only moved (Docker configures it). */
  configure: boolean;
}

/** An attach request checked against the overlay it goes to (the kernel boundary's own guards). */
export function vethRequest(o: Overlay, spec: AttachSpec): Omit<VethRequest, 'fd'> {
  const ifname = parseIfName(spec.ifname ?? 'eth0', 'ifname');
  const mac = parseMac(spec.mac, 'mac');
  if (typeof spec.ip !== 'string') throw new ValidationError('ip', 'must be an IPv4 address string');
  const [ip, len] = spec.ip.split('/') as [string, string | undefined];
  requireHostIn(ip, o.spec.subnet, 'ip');
  if (len !== undefined && Number(len) !== o.spec.subnet.prefix)
    throw new ValidationError('ip', `prefix /${len} does not match the network's subnet ${o.spec.subnet.text}`);
  if (o.spec.gateway !== undefined && ip === o.spec.gateway)
    throw new ValidationError('ip', `${ip} is the network's gateway address`);
  const gateway = spec.gateway === undefined ? o.spec.gateway : requireHostIn(spec.gateway, o.spec.subnet, 'gateway');
  if (typeof spec.netns !== 'string' || spec.netns === '')
    throw new ValidationError('netns', 'must be a namespace name or path');
  return { netns: spec.netns, ifname, mac, ip, gateway, configure: spec.configure !== false };
}

/** Connects the container namespace to the overlay; the caller holds the overlay's lock. */
export async function connectVeth(o: Overlay, req: VethRequest): Promise<AttachResult> {
  const { ifname, mac, ip, gateway } = req;
  const { vni } = o;
  const hostIfname = hostVethName(mac);
  const { prefix } = o.spec.subnet;
  const { mtu } = o.spec;
  const ct = new Rtnl(RtnlSocket.open(req.fd));
  try {
    const existingCt = await ct.linkByName(ifname);
    const existingHost = await o.rtnl.linkByName(hostIfname);
    if (existingCt || existingHost) {
      if (existingCt && existingHost && existingCt.mac === mac && existingHost.master !== undefined) {
        const addrs = await ct.addresses();
        if (!req.configure || addrs.some((a) => a.index === existingCt.index && a.ip === ip && a.prefix === prefix)) {
          return { vni, mac, ip, prefix, ifname, hostIfname, mtu: existingCt.mtu, created: false };
        }
      }
      if (existingCt) throw new ValidationError('ifname', `${ifname} already exists in ${req.netns}`);
      throw new ValidationError('mac', `an endpoint with MAC ${mac} is already attached to network ${vni}`);
    }
    const br = await o.rtnl.linkByName(BRIDGE_NAME);
    if (!br) throw new NotFoundError('vni', `${o.netns} has no ${BRIDGE_NAME}; call ensureNetwork again`);
    await o.rtnl.createVeth({ name: hostIfname, mtu, peerName: ifname, peerMac: mac, peerNetnsFd: req.fd });
    try {
      const hostEnd = await o.rtnl.linkByName(hostIfname);
      const ctEnd = await ct.linkByName(ifname);
      if (!hostEnd || !ctEnd) throw new KernelError('ENODEV', `veth ${hostIfname}/${ifname}`, 'create');
      await o.rtnl.setLink(hostEnd.index, { master: br.index }, `veth ${hostIfname}`);
      await o.rtnl.setLink(hostEnd.index, { up: true }, `veth ${hostIfname}`);
      if (req.configure) {
        await ct.addAddress(ctEnd.index, ip, prefix, `address ${ip}/${prefix} on ${ifname}`);
        await ct.setLink(ctEnd.index, { up: true }, `${ifname} in ${req.netns}`);
        const lo = await ct.linkByName('lo');
        if (lo && !lo.up) await ct.setLink(lo.index, { up: true }, `lo in ${req.netns}`);
        if (gateway !== undefined) await ct.addDefaultRoute(gateway, ctEnd.index);
      }
    } catch (err) {
      const created = await o.rtnl.linkByName(hostIfname);
      if (created) await o.rtnl.deleteLink(created.index, `veth ${hostIfname}`).catch(() => undefined);
      throw err;
    }
    return { vni, mac, ip, prefix, ifname, hostIfname, mtu, created: true };
  } finally {
    ct.sock.close();
  }
}
