/**
 * Desired state out of discovery: per network, the endpoints of live members other than us. This is
 * what the agent hands to the data plane's reconcile. A dead or departed member's endpoints are left
 * out (they stay in the table, suspended, and come back when the member is alive again).
 */
import type { ReplicatedTable } from './table.js';
import type { EndpointValue, NetworkValue } from '../core/records.js';

export interface RemoteEndpointView {
  mac: string;
  ip: string;
  vtep: string;
  /** Endpoint id and owning host, for diagnostics. */
  id: string;
  host: string;
  owner: string;
}

export interface DesiredNetwork {
  /** The network definition, if one is known. */
  network?: NetworkValue;
  remotes: RemoteEndpointView[];
}

export function computeDesired(table: ReplicatedTable, isLive: (peerId: string) => boolean): Map<string, DesiredNetwork> {
  const out = new Map<string, DesiredNetwork>();
  for (const r of table.live('network')) out.set(r.key, { network: r.value as NetworkValue, remotes: [] });
  for (const r of table.live('endpoint')) {
    if (r.owner === table.self || !isLive(r.owner)) continue;
    const v = r.value as EndpointValue;
    let d = out.get(v.network);
    if (!d) out.set(v.network, (d = { remotes: [] }));
    d.remotes.push({ mac: v.mac, ip: v.ip, vtep: v.vtep, id: v.id, host: v.host, owner: r.owner });
  }
  return out;
}
