/**
 * A route on the host to a network's subnet through its gateway link, for a network used through CNI:
 * the host reaches container addresses (portmap's DNAT, a kubelet's probes, Services), as flannel
 * routes pod subnets. Only where asked: networks may share a subnet, and the host can route one.
 * A route to the subnet through another device is never replaced (refused, naming it).
 */
import { KernelError } from '../core/errors.js';
import { canonicalIPv6 } from '../core/ipv6.js';
import type { Rtnl } from './netlink/rtnl.js';
import type { Overlay } from './overlay.js';

const same = (a: string, b: string): boolean => (a.includes(':') ? canonicalIPv6(a) === canonicalIPv6(b) : a === b);

async function one(
  host: Rtnl,
  family: 4 | 6,
  dst: string,
  len: number,
  via: string | undefined,
  oif: number,
  wanted: boolean,
  device: string,
): Promise<void> {
  const routes = (await host.routes(family)).filter((r) => r.table === 254 && r.dstLen === len && same(r.dst, dst));
  const ours = routes.find((r) => r.oif === oif);
  const other = routes.find((r) => r.oif !== oif);
  if (!wanted || via === undefined) {
    if (ours) await host.deleteRoute(dst, len, oif);
    return;
  }
  if (other)
    throw new KernelError(
      'EEXIST',
      `route ${dst}/${len}: the host routes it through another device (#${other.oif}), not ${device}`,
      'add',
    );
  if (ours && ours.gateway !== undefined && same(ours.gateway, via)) return;
  await host.replaceRoute(dst, len, via, oif);
}

/** Makes the host's route to each of the network's subnets through `outerIndex` exist (wanted) or not. */
export async function ensureHostRoutes(
  o: Overlay,
  host: Rtnl,
  link: { hostIfname: string; overlay: string; overlay6?: string },
  outerIndex: number,
  wanted: boolean,
): Promise<void> {
  const { subnet, subnet6 } = o.spec;
  if (subnet) await one(host, 4, subnet.network, subnet.prefix, link.overlay, outerIndex, wanted, link.hostIfname);
  if (subnet6) {
    const first = subnet6.text.split('/')[0] as string;
    await one(host, 6, first, subnet6.prefix, link.overlay6, outerIndex, wanted, link.hostIfname);
  }
}
