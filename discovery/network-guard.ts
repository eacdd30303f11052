/**
 * Network definitions are shared records (any member may write one), so a member could delete or
 * redefine a network that other hosts' containers use, or take its VNI with a new definition. Applied
 * to every incoming network record before it is merged: a write is refused when it would delete the
 * network, change its VNI, subnet or gateway, or give its VNI to another network, while members other
 * than the writer have live endpoints in it. The honest agent checks the same before it writes
 * (`network rm` refuses a network in use), so honest writes pass.
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

const sameDefinition = (a: NetworkValue, b: NetworkValue) =>
  a.vni === b.vni && a.subnet === b.subnet && a.gateway === b.gateway;

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

/** The view over a set of endpoint entries and network values (discovery's table). */
export function guardView(
  networks: NetworkValue[],
  endpoints: Array<EndpointValue & { owner: string; ownerLive: boolean }>,
): NetworkGuardView {
  const byName = new Map(networks.map((n) => [n.name, n]));
  return {
    network: (name) => byName.get(name),
    networks: () => networks,
    otherUsers: (network, writer) => [
      ...new Set(
        endpoints.filter((e) => e.network === network && e.ownerLive && e.owner !== writer).map((e) => e.owner),
      ),
    ],
  };
}
