/**
 * Network definitions are shared records (any member may write one), so a member could delete or
 * redefine a network that other hosts' containers use, or take its VNI with a new definition. Applied
 * to every incoming network record before it is merged: a write is refused when it would delete the
 * network, change a field that other hosts program from (VNI, subnets, gateways, MTU, internal, encrypted,
 * isolated), or give
 * its VNI to another network, while members other than the writer have endpoints in it. A member
 * declared dead less than NETWORK_USER_GRACE_MS ago still counts as a user: a writer cannot first make
 * the users look dead (one dead statement each) and then delete their network before they refute it.
 * Users are the owners of live endpoints this host holds and, since records are scoped by interest
 * (a host holds the endpoints of its own networks only), the members whose statements name the
 * network among their interests.
 * The honest agent checks the same before it writes (`network rm` refuses a network in use), so
 * honest writes pass.
 */
import type { EndpointValue, NetworkValue } from '../core/records.js';
import type { WireRecord } from './wire.js';

export interface NetworkGuardView {
  /** The current definition of a network (undefined if none or deleted). */
  network(name: string): NetworkValue | undefined;
  /** Every current network definition. */
  networks(): NetworkValue[];
  /** Owners other than `writer` with a live endpoint in the network. */
  otherUsers(network: string, writer: string): string[];
}

export type NetworkRefusal = 'network-in-use' | 'vni-in-use';

/** How long a member declared dead still counts as a user of its networks. */
export const NETWORK_USER_GRACE_MS = 120_000;

/** The fields other hosts program from (an added field that does: add it here). */
const sameDefinition = (a: NetworkValue, b: NetworkValue) =>
  a.vni === b.vni &&
  a.subnet === b.subnet &&
  a.gateway === b.gateway &&
  a.mtu === b.mtu &&
  !!a.internal === !!b.internal &&
  !!a.encrypted === !!b.encrypted &&
  !!a.isolated === !!b.isolated &&
  a.subnet6 === b.subnet6 &&
  a.gateway6 === b.gateway6;

/** Why this network record must not be applied, or undefined if it may. */
export function networkWriteRefusal(rec: WireRecord, view: NetworkGuardView): NetworkRefusal | undefined {
  if (rec.kind !== 'network') return undefined;
  const current = view.network(rec.key);
  const next = rec.deleted ? undefined : (rec.value as NetworkValue | undefined);
  if (current && (!next || !sameDefinition(current, next)) && view.otherUsers(rec.key, rec.owner).length > 0)
    return 'network-in-use';
  if (next) {
    for (const other of view.networks()) {
      if (other.name !== rec.key && other.vni === next.vni && view.otherUsers(other.name, rec.owner).length > 0)
        return 'vni-in-use';
    }
  }
  return undefined;
}

/**
 * The view over a set of endpoint entries and network values (discovery's table). `recentlyDead`: an
 * owner not live now but declared dead less than NETWORK_USER_GRACE_MS ago (still a user).
 */
export function guardView(
  networks: NetworkValue[],
  endpoints: Array<EndpointValue & { owner: string; ownerLive: boolean }>,
  recentlyDead: (owner: string) => boolean = () => false,
  /** Members (live, or recently dead) whose statements name the network among their interests. */
  interested: (network: string) => string[] = () => [],
): NetworkGuardView {
  const byName = new Map(networks.map((n) => [n.name, n]));
  return {
    network: (name) => byName.get(name),
    networks: () => networks,
    otherUsers: (network, writer) => [
      ...new Set([
        ...endpoints
          .filter((e) => e.network === network && e.owner !== writer && (e.ownerLive || recentlyDead(e.owner)))
          .map((e) => e.owner),
        ...interested(network).filter((o) => o !== writer),
      ]),
    ],
  };
}
