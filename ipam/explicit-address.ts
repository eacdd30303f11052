/** The checks every allocator makes on an explicit address (`--ip`, Docker's `--ip`). */
import { parseCidr, requireHostIn } from '../core/addresses.js';
import { ValidationError } from '../core/errors.js';
import type { NetworkValue } from '../core/records.js';
import type { PendingAddresses } from './pending-addresses.js';

/** An address an endpoint record of the cluster holds. */
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
  requireHostIn(ip, parseCidr(net.subnet), 'ip');
  if (net.gateway === ip) throw new ValidationError('ip', `${ip} is the gateway of network ${net.name}`);
  if (net.reserved?.includes(ip))
    throw new ValidationError('ip', `${ip} is reserved in network ${net.name} (an aux address)`);
  const holder = endpoints.find((e) => e.ip === ip);
  if (holder) throw new ValidationError('ip', `${ip} is in use by endpoint ${holder.id} on host ${holder.host}`);
  if (pending.has(net.name, ip) && !reservedHere)
    throw new ValidationError('ip', `${ip} is being allocated on this host`);
}
