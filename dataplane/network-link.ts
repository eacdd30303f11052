/**
 * A link between the overlay namespaces of two connected networks on one host (routing between
 * networks): a veth `vxr<vni of B>` in A's namespace and `vxr<vni of A>` in B's, without addresses;
 * in A's namespace a route to each of B's subnets via B's gateway on that link (on-link: B's namespace
 * answers ARP and neighbour solicitations for its own gateway), and the same from B to A; forwarding
 * on in both. A container's packet to B goes to A's gateway (its default route), is routed across on
 * the host where it starts, and reaches B's endpoint over B's own VXLAN: no central router, no
 * hairpin through another host. Built idempotently (kept when right, repaired when not).
 */
import { KernelError } from '../core/errors.js';
import { canonicalIPv6 } from '../core/ipv6.js';
import { ensureForwardingIn } from './gateway-link.js';
import type { Overlay } from './overlay.js';

const LINK_PREFIX = 'vxr';

/** The link in an overlay namespace that leads to the overlay of network `peerVni`. */
export const networkLinkName = (peerVni: number): string => `${LINK_PREFIX}${peerVni}`;

/** The VNI a network link's name leads to (undefined: not a network link). */
export function networkLinkPeer(ifname: string): number | undefined {
  const m = /^vxr(\d{1,8})$/.exec(ifname);
  return m ? Number(m[1]) : undefined;
}

const same = (a: string, b: string): boolean => (a.includes(':') ? canonicalIPv6(a) === canonicalIPv6(b) : a === b);

/** In `from`'s namespace: routes to `to`'s subnets via `to`'s gateways on link `oif`. */
async function routesTowards(from: Overlay, to: Overlay, oif: number): Promise<void> {
  const wanted: Array<{ family: 4 | 6; dst: string; len: number; via: string }> = [];
  const { subnet, gateway, subnet6, gateway6 } = to.spec;
  if (subnet && gateway) wanted.push({ family: 4, dst: subnet.network, len: subnet.prefix, via: gateway });
  if (subnet6 && gateway6)
    wanted.push({ family: 6, dst: subnet6.text.split('/')[0] as string, len: subnet6.prefix, via: gateway6 });
  for (const w of wanted) {
    const routes = await from.rtnl.routes(w.family);
    const held = routes.find((r) => r.table === 254 && r.dstLen === w.len && same(r.dst, w.dst));
    if (held && held.oif !== oif && held.oif !== undefined && !held.gateway)
      throw new KernelError(
        'EEXIST',
        `route ${w.dst}/${w.len} in ${from.netns} is on-link elsewhere (#${held.oif})`,
        'add',
      );
    if (held?.oif === oif && held.gateway !== undefined && same(held.gateway, w.via)) continue;
    await from.rtnl.replaceRoute(w.dst, w.len, w.via, oif, true);
  }
  ensureForwardingIn(from.fd);
  if (from.spec.subnet6 !== undefined && subnet6 !== undefined) ensureForwardingIn(from.fd, 6);
}

/** Makes the link between two overlays (and its routes) exist. */
export async function ensureNetworkLink(a: Overlay, b: Overlay): Promise<void> {
  const [nameInA, nameInB] = [networkLinkName(b.vni), networkLinkName(a.vni)];
  let inA = await a.rtnl.linkByName(nameInA);
  let inB = await b.rtnl.linkByName(nameInB);
  if ((inA && inA.kind !== 'veth') || (inB && inB.kind !== 'veth') || (inA === undefined) !== (inB === undefined)) {
    // Half a link, or not a veth: rebuilt (a veth's other end goes with it).
    if (inA) await a.rtnl.deleteLink(inA.index, `${nameInA} in ${a.netns}`);
    if (inB && (await b.rtnl.linkByName(nameInB))) await b.rtnl.deleteLink(inB.index, `${nameInB} in ${b.netns}`);
    inA = inB = undefined;
  }
  const mtu = Math.min(a.spec.mtu, b.spec.mtu);
  if (!inA) {
    await a.rtnl.createVeth({ name: nameInA, mtu, peerName: nameInB, peerNetnsFd: b.fd });
    inA = await a.rtnl.linkByName(nameInA);
    inB = await b.rtnl.linkByName(nameInB);
  }
  if (!inA || !inB) throw new KernelError('ENODEV', `network link ${nameInA}/${nameInB}`, 'create');
  if (!inA.up) await a.rtnl.setLink(inA.index, { up: true }, nameInA);
  if (!inB.up) await b.rtnl.setLink(inB.index, { up: true }, nameInB);
  await routesTowards(a, b, inA.index);
  await routesTowards(b, a, inB.index);
}

/** The VNIs this overlay has network links to. */
export async function networkLinksOf(o: Overlay): Promise<number[]> {
  return (await o.rtnl.links())
    .map((l) => networkLinkPeer(l.name))
    .filter((v): v is number => v !== undefined)
    .sort((x, y) => x - y);
}

/** Removes the link to `peerVni` from this overlay (its other end, and the routes over it, go with it). */
export async function removeNetworkLink(o: Overlay, peerVni: number): Promise<boolean> {
  const link = await o.rtnl.linkByName(networkLinkName(peerVni));
  if (!link) return false;
  await o.rtnl.deleteLink(link.index, `${networkLinkName(peerVni)} in ${o.netns}`);
  return true;
}
