/** Defaults shared by the agent, its CLI and its parts: one place for each. */

/** Gossip (libp2p TCP) port. */
export const DEFAULT_GOSSIP_PORT = 7946;
/** Gossip listen address. */
export const DEFAULT_LISTEN = `0.0.0.0:${DEFAULT_GOSSIP_PORT}`;
/** VXLAN UDP port (IANA). */
export const DEFAULT_VXLAN_PORT = 4789;
/** The UDP port of encrypted networks' VXLAN devices, inside WireGuard only. */
export const DEFAULT_ENCRYPTED_PORT = 4790;
/** The host's WireGuard port (UDP), the same on every host of a cluster. */
export const DEFAULT_WIREGUARD_PORT = 51820;
/** Prefix of overlay namespace names (`<prefix><vni>`). */
export const DEFAULT_NETNS_PREFIX = 'vx-';
/** The agent's admin API socket. */
export const DEFAULT_ADMIN_SOCKET = '/run/vxmesh/vxmesh.sock';
/** File name of the Docker plugin socket inside Docker's plugin directory. */
export const DOCKER_PLUGIN_SOCKET_NAME = 'vxmesh.sock';
