/** The checks every allocator makes on an explicit address (`--ip`, Docker's `--ip`). */
import { parsePrefix, requireHostInPrefix } from '../core/prefix.js';
import { ValidationError } from '../core/errors.js';
import type { NetworkValue } from '../core/records.js';
import type { PendingAddresses } from './pending-addresses.js';

/** An address an endpoint record of the cluster holds (one per address: IPv4 and IPv6 apart). */
export interface EndpointUse {
  network: string;
  ip: string;
  id: string;
  host: string;
}

/**
 * Inside the subnet, not the gateway, not reserved, not held by an endpoint anywhere in the cluster,
 * not being handed out in this network here (unless `reservedHere`).
 */
export function checkExplicitAddress(
  net: NetworkValue,
  ip: string,
  endpoints: EndpointUse[],
  pending: PendingAddresses,
  reservedHere: boolean,
): void {
  if (net.subnet === undefined) throw new ValidationError('ip', `network ${net.name} has no subnet of that family`);
  requireHostInPrefix(ip, parsePrefix(net.subnet), 'ip');
  if (net.gateway === ip) throw new ValidationError('ip', `${ip} is the gateway of network ${net.name}`);
  if (net.reserved?.includes(ip))
    throw new ValidationError('ip', `${ip} is reserved in network ${net.name} (an aux address)`);
  const holder = endpoints.find((e) => e.ip === ip);
  if (holder) throw new ValidationError('ip', `${ip} is in use by endpoint ${holder.id} on host ${holder.host}`);
  if (pending.has(net.name, ip) && !reservedHere)
    throw new ValidationError('ip', `${ip} is being allocated on this host`);
}
