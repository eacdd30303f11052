/** Names of the kernel objects vxmesh owns. One place, so adopt/cleanup and creation agree. */
export const BRIDGE_NAME = 'br0';

/**
 * br0's MAC, set when the bridge is made: a bridge without one takes the lowest MAC of its ports and
 * changes it when a port with a lower one joins, leaving containers with the gateway's old MAC in their
 * neighbour cache (seen: IPv6 egress black-holed after a second container joined). Locally administered
 * (0e:42), the VNI in the middle: the same on every host (an anycast gateway).
 */
export const bridgeMac = (vni: number): string =>
  ['0e', '42', (vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, '01']
    .map((b) => (typeof b === 'number' ? b.toString(16).padStart(2, '0') : b))
    .join(':');

export const overlayNetnsName = (prefix: string, vni: number): string => `${prefix}${vni}`;

export const vxlanName = (vni: number): string => `vxlan${vni}`;

/** Host end of a container's veth, in the overlay namespace: `ve` + the MAC's 12 hex digits. */
export const hostVethName = (mac: string): string => `ve${mac.replace(/:/g, '')}`;

/** The MAC encoded in a host-end veth name, or undefined if the name is not one of ours. */
export function macFromHostVethName(name: string): string | undefined {
  const m = /^ve([0-9a-f]{12})$/.exec(name);
  return m ? (m[1] as string).match(/../g)?.join(':') : undefined;
}

/** The VNI of an overlay namespace name with our prefix, or undefined. */
export function vniFromNetnsName(prefix: string, name: string): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  if (!/^[1-9][0-9]{0,7}$/.test(rest)) return undefined;
  const vni = Number(rest);
  return vni <= 16777215 ? vni : undefined;
}

/** The overlay end of a network's gateway link (dataplane/gateway-link.ts). */
export const GATEWAY_LINK_NAME = 'gw0';

/** The host end of a network's gateway link: `vxg<vni>` (at most 11 characters). */
export const gatewayHostLinkName = (vni: number): string => `vxg${vni}`;
