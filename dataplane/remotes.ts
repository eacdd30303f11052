/** A desired set of remote endpoints, checked before any kernel write. */
import { ValidationError } from '../core/errors.js';
import { isIPv4, isVtepAddress, parseIPv4, parseMac } from '../core/addresses.js';
import { canonicalIPv6 } from '../core/ipv6.js';
import type { RemoteEndpoint } from './reconcile-plan.js';
import type { ReconcileError } from './types.js';

/**
 * A VXLAN device sends over one family (its `local` address's): remote endpoints behind a VTEP of the
 * other family cannot be reached from it. They are left out and reported, naming the families — one
 * host configured with the wrong family must not stop the network for the others.
 */
export function sameFamilyAsDevice(
  desired: RemoteEndpoint[],
  local: string | undefined,
  device: string,
  netns: string,
): { usable: RemoteEndpoint[]; refused: ReconcileError[] } {
  if (local === undefined) return { usable: desired, refused: [] };
  const v6 = local.includes(':');
  const refused: ReconcileError[] = [];
  const usable = desired.filter((e) => {
    if (e.vtep.includes(':') === v6) return true;
    const object = `fdb ${e.mac} dst ${e.vtep} on ${device} in ${netns}`;
    refused.push({
      object,
      errno: 'EAFNOSUPPORT',
      message: `${object}: VTEP ${e.vtep} is ${v6 ? 'IPv4' : 'IPv6'} but ${device} sends over ${v6 ? 'IPv6' : 'IPv4'} (from ${local}): a VXLAN device carries one family, so every host of the cluster needs a VTEP of the same family`,
    });
    return false;
  });
  return { usable, refused };
}

/** Validates a desired set: formats, duplicates, and no entry pointing at this host. */
export function validateRemotes(
  desired: RemoteEndpoint[],
  localVtep?: string,
  localTunnel?: string,
  /** The position named in errors of the entry at index k (a subset names its place in the whole set). */
  position: (k: number) => number = (k) => k,
): RemoteEndpoint[] {
  if (!Array.isArray(desired)) throw new ValidationError('endpoints', 'must be an array');
  const byMac = new Map<string, RemoteEndpoint>();
  const byIp = new Map<string, string>();
  desired.forEach((e, k) => {
    const i = position(k);
    if (e === null || typeof e !== 'object') throw new ValidationError(`endpoints[${i}]`, 'must be an object');
    const mac = parseMac(e.mac, `endpoints[${i}].mac`);
    if (e.ip === undefined && e.ip6 === undefined)
      throw new ValidationError(`endpoints[${i}].ip`, 'required (or ip6: an endpoint has an address)');
    if (e.ip !== undefined && !isIPv4(e.ip)) parseIPv4(e.ip, `endpoints[${i}].ip`);
    if (!isVtepAddress(e.vtep)) {
      throw new ValidationError(`endpoints[${i}].vtep`, `invalid VTEP address ${JSON.stringify(e.vtep)}`);
    }
    if (e.ip6 !== undefined) {
      if (typeof e.ip6 !== 'string' || canonicalIPv6(e.ip6) !== e.ip6 || e.ip6.startsWith('ff'))
        throw new ValidationError(
          `endpoints[${i}].ip6`,
          `must be a unicast IPv6 address in canonical text (RFC 5952), got ${JSON.stringify(e.ip6)}`,
        );
    }
    if ((localVtep !== undefined && e.vtep === localVtep) || (localTunnel !== undefined && e.vtep === localTunnel))
      throw new ValidationError(`endpoints[${i}].vtep`, `${e.vtep} is this host's own VTEP`);
    const prior = byMac.get(mac);
    if (prior && (prior.ip !== e.ip || prior.ip6 !== e.ip6 || prior.vtep !== e.vtep))
      throw new ValidationError(`endpoints[${i}].mac`, `${mac} appears twice with different data`);
    for (const [field, ip] of [
      ['ip', e.ip],
      ['ip6', e.ip6],
    ] as const) {
      if (ip === undefined) continue;
      const ipOwner = byIp.get(ip);
      if (ipOwner !== undefined && ipOwner !== mac)
        throw new ValidationError(`endpoints[${i}].${field}`, `${ip} is claimed by both ${ipOwner} and ${mac}`);
      byIp.set(ip, mac);
    }
    byMac.set(mac, {
      mac,
      ...(e.ip !== undefined ? { ip: e.ip } : {}),
      ...(e.ip6 !== undefined ? { ip6: e.ip6 } : {}),
      vtep: e.vtep,
    });
  });
  return [...byMac.values()];
}
