/** A desired set of remote endpoints, checked before any kernel write. */
import { ValidationError } from '../core/errors.js';
import { isIPv4, isVtepAddress, parseIPv4, parseMac } from '../core/addresses.js';
import type { RemoteEndpoint } from './reconcile-plan.js';

/** Validates a desired set: formats, duplicates, and no entry pointing at this host. */
export function validateRemotes(desired: RemoteEndpoint[], localVtep?: string, localTunnel?: string): RemoteEndpoint[] {
  if (!Array.isArray(desired)) throw new ValidationError('endpoints', 'must be an array');
  const byMac = new Map<string, RemoteEndpoint>();
  const byIp = new Map<string, string>();
  desired.forEach((e, i) => {
    if (e === null || typeof e !== 'object') throw new ValidationError(`endpoints[${i}]`, 'must be an object');
    const mac = parseMac(e.mac, `endpoints[${i}].mac`);
    if (!isIPv4(e.ip)) parseIPv4(e.ip, `endpoints[${i}].ip`);
    if (!isVtepAddress(e.vtep)) {
      throw new ValidationError(`endpoints[${i}].vtep`, `invalid VTEP address ${JSON.stringify(e.vtep)}`);
    }
    if ((localVtep !== undefined && e.vtep === localVtep) || (localTunnel !== undefined && e.vtep === localTunnel))
      throw new ValidationError(`endpoints[${i}].vtep`, `${e.vtep} is this host's own VTEP`);
    const prior = byMac.get(mac);
    if (prior && (prior.ip !== e.ip || prior.vtep !== e.vtep))
      throw new ValidationError(`endpoints[${i}].mac`, `${mac} appears twice with different data`);
    const ipOwner = byIp.get(e.ip);
    if (ipOwner !== undefined && ipOwner !== mac)
      throw new ValidationError(`endpoints[${i}].ip`, `${e.ip} is claimed by both ${ipOwner} and ${mac}`);
    byMac.set(mac, { mac, ip: e.ip, vtep: e.vtep });
    byIp.set(e.ip, mac);
  });
  return [...byMac.values()];
}
