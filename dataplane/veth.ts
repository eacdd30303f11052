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
import { parseIfName, parseMac } from '../core/addresses.js';
import { parsePrefix, requireHostInPrefix, type Prefix } from '../core/prefix.js';

export interface VethRequest {
  /** The container namespace as named in the request (for messages), and its open fd. */
  netns: string;
  fd: number;
  ifname: string;
  mac: string;
  /** Usable host addresses of the overlay's subnets (checked by the caller), with their prefix lengths. */
  ip?: string;
  prefix?: number;
  gateway?: string;
  ip6?: string;
  prefix6?: number;
  gateway6?: string;
  /** false: the container end is only moved (Docker configures it). */
  configure: boolean;
}

type Family = { ip: string; prefix: number; gateway?: string };

/** One family's address of an attach request, checked against the overlay's subnet of that family. */
function familyRequest(
  field: 'ip' | 'ip6',
  value: string,
  subnet: Prefix | undefined,
  ownGateway: string | undefined,
  gatewayIn: string | undefined,
): Family {
  const gwField = field === 'ip' ? 'gateway' : 'gateway6';
  if (typeof value !== 'string') throw new ValidationError(field, 'must be an address string');
  if (subnet === undefined) throw new ValidationError(field, `the network has no IPv${field === 'ip' ? 4 : 6} subnet`);
  const [ipIn, len] = value.split('/') as [string, string | undefined];
  const ip = requireHostInPrefix(ipIn, subnet, field);
  if (len !== undefined && Number(len) !== subnet.prefix)
    throw new ValidationError(field, `prefix /${len} does not match the network's subnet ${subnet.text}`);
  if (ownGateway !== undefined && ip === ownGateway)
    throw new ValidationError(field, `${ip} is the network's gateway address`);
  const gateway = gatewayIn === undefined ? ownGateway : requireHostInPrefix(gatewayIn, subnet, gwField);
  return gateway === undefined ? { ip, prefix: subnet.prefix } : { ip, prefix: subnet.prefix, gateway };
}

/** An attach request checked against the overlay it goes to (the kernel boundary's own guards). */
export function vethRequest(o: Overlay, spec: AttachSpec): Omit<VethRequest, 'fd'> {
  const ifname = parseIfName(spec.ifname ?? 'eth0', 'ifname');
  const mac = parseMac(spec.mac, 'mac');
  if (spec.ip === undefined && spec.ip6 === undefined) throw new ValidationError('ip', 'required (or ip6)');
  if (typeof spec.netns !== 'string' || spec.netns === '')
    throw new ValidationError('netns', 'must be a namespace name or path');
  const out: Omit<VethRequest, 'fd'> = { netns: spec.netns, ifname, mac, configure: spec.configure !== false };
  if (spec.ip !== undefined) {
    const subnet = o.spec.subnet ? parsePrefix(o.spec.subnet.text) : undefined;
    const f = familyRequest('ip', spec.ip, subnet, o.spec.gateway, spec.gateway);
    Object.assign(out, { ip: f.ip, prefix: f.prefix }, f.gateway ? { gateway: f.gateway } : {});
  }
  if (spec.ip6 !== undefined) {
    const f = familyRequest('ip6', spec.ip6, o.spec.subnet6, o.spec.gateway6, spec.gateway6);
    Object.assign(out, { ip6: f.ip, prefix6: f.prefix }, f.gateway ? { gateway6: f.gateway } : {});
  }
  return out;
}

/** Connects the container namespace to the overlay; the caller holds the overlay's lock. */
export async function connectVeth(o: Overlay, req: VethRequest): Promise<AttachResult> {
  const { ifname, mac } = req;
  const { vni } = o;
  const hostIfname = hostVethName(mac);
  const { mtu } = o.spec;
  const families = [
    req.ip === undefined ? undefined : { ip: req.ip, prefix: req.prefix as number, gateway: req.gateway },
    req.ip6 === undefined ? undefined : { ip: req.ip6, prefix: req.prefix6 as number, gateway: req.gateway6 },
  ].filter((f): f is { ip: string; prefix: number; gateway: string | undefined } => f !== undefined);
  const result = (created: boolean, ctMtu: number): AttachResult => ({
    vni,
    mac,
    ...(req.ip === undefined ? {} : { ip: req.ip, prefix: req.prefix }),
    ...(req.ip6 === undefined ? {} : { ip6: req.ip6, prefix6: req.prefix6 }),
    ifname,
    hostIfname,
    mtu: ctMtu,
    created,
  });
  const ct = new Rtnl(RtnlSocket.open(req.fd));
  try {
    const existingCt = await ct.linkByName(ifname);
    const existingHost = await o.rtnl.linkByName(hostIfname);
    if (existingCt || existingHost) {
      if (existingCt && existingHost && existingCt.mac === mac && existingHost.master !== undefined) {
        const addrs = req.configure ? [...(await ct.addresses(4)), ...(await ct.addresses(6))] : [];
        const has = (f: Family) =>
          addrs.some((a) => a.index === existingCt.index && a.ip === f.ip && a.prefix === f.prefix);
        if (!req.configure || families.every(has)) return result(false, existingCt.mtu);
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
        // IPv6 without DAD (rtnl.addAddress): usable for the first packet, unique by IPAM.
        for (const f of families)
          await ct.addAddress(ctEnd.index, f.ip, f.prefix, `address ${f.ip}/${f.prefix} on ${ifname}`);
        await ct.setLink(ctEnd.index, { up: true }, `${ifname} in ${req.netns}`);
        const lo = await ct.linkByName('lo');
        if (lo && !lo.up) await ct.setLink(lo.index, { up: true }, `lo in ${req.netns}`);
        for (const f of families) if (f.gateway !== undefined) await ct.addDefaultRoute(f.gateway, ctEnd.index);
      }
    } catch (err) {
      const created = await o.rtnl.linkByName(hostIfname);
      if (created) await o.rtnl.deleteLink(created.index, `veth ${hostIfname}`).catch(() => undefined);
      throw err;
    }
    return result(true, mtu);
  } finally {
    ct.sock.close();
  }
}
