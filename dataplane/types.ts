/** The data plane's inputs and outputs. */
import type { PolicyPorts } from '../core/policy-records.js';
import type { Link, FdbEntry, NeighEntry } from './netlink/rtnl.js';
import type { TransferPair } from '../core/transfer-addresses.js';

/** A network's gateway link (dataplane/gateway-link.ts): transfer addresses and the two ends' names. */
export interface GatewayLinkInfo extends TransferPair {
  /** The host end's name (`vxg<vni>`), in the host namespace. */
  hostIfname: string;
  /** The overlay end's name (`gw0`), in the overlay namespace. */
  overlayIfname: string;
  /** The host's uplinks: the devices of its IPv4 default routes (egress leaves through these only). */
  uplinks: string[];
  /** A network with an IPv6 subnet: the transfer pair's IPv6 twin (/127) and the IPv6 uplinks. */
  host6?: string;
  overlay6?: string;
  uplinks6?: string[];
}

export interface DataplaneOptions {
  /** Prefix of overlay namespace names (`<prefix><vni>`). Default `vx-`. */
  prefix?: string;
  /** The host namespace (name or path) where VXLAN sockets live. Default: this process's. */
  hostNetns?: string;
  /** This host's VTEP address (must be assigned to an interface in the host namespace). */
  vtep: string;
  /** Underlay device name in the host namespace; default: the device that holds the VTEP address. */
  underlayDev?: string;
  /** VXLAN UDP port. Default 4789. */
  vxlanPort?: number;
  /**
   * Encrypted networks: this host's tunnel address (core/tunnel-address.ts, on its WireGuard
   * interface) and the UDP port their VXLAN devices use inside WireGuard (default 4790). Without a
   * tunnel address, an encrypted network cannot be built here.
   */
  tunnel?: string;
  encryptedPort?: number;
}

export interface NetworkSpec {
  vni: number;
  /** The IPv4 subnet; a network has it, an IPv6 one (`subnet6`), or both. */
  subnet?: string;
  /** Gateway address; assigned to br0 on every host (an anycast gateway) when given. */
  gateway?: string;
  /** The IPv6 subnet (canonical) and its gateway, assigned to br0 without duplicate address detection. */
  subnet6?: string;
  gateway6?: string;
  /** Overlay MTU; default and maximum: underlay MTU − 50 (IPv4) / − 70 (IPv6). */
  mtu?: number;
  /** A gateway link to the host namespace (egress; dataplane/gateway-link.ts). Default false: none (removed if present). */
  egress?: boolean;
  /**
   * VXLAN inside WireGuard: the device's local address is this host's tunnel address, its port the
   * encrypted port, and remote endpoints' VTEPs are their hosts' tunnel addresses. The MTU leaves room
   * for both headers (encryptedMtuOverhead).
   */
  encrypted?: boolean;
}

export interface OverlayInfo {
  vni: number;
  netns: string;
  mtu: number;
  subnet?: string;
  gateway?: string;
  subnet6?: string;
  gateway6?: string;
  vxlan?: Link;
  bridge?: Link;
  /** Local endpoints: MACs of the host-end veths on br0. */
  localMacs: string[];
  /** The gateway link, when the network has egress. */
  gatewayLink?: GatewayLinkInfo;
}

export interface AttachSpec {
  vni: number;
  /** Container namespace, by `ip netns` name or by path. */
  netns: string;
  /** Interface name inside the container namespace. Default `eth0`. */
  ifname?: string;
  mac: string;
  /** Address, `a.b.c.d` or `a.b.c.d/n` (n must equal the subnet's prefix). At least one of ip, ip6. */
  ip?: string;
  /** Default route via this address (inside the subnet). */
  gateway?: string;
  /** IPv6 address (`ADDR` or `ADDR/n`, n the IPv6 subnet's prefix), added without DAD; its default route's gateway. */
  ip6?: string;
  gateway6?: string;
  /**
   * false: only create the veth (container end named `ifname`, with MAC and MTU, down, no address) —
   * for Docker, which moves the interface into the container and configures it itself. Default true.
   */
  configure?: boolean;
}

export interface AttachResult {
  vni: number;
  mac: string;
  ip?: string;
  prefix?: number;
  ip6?: string;
  prefix6?: number;
  ifname: string;
  hostIfname: string;
  mtu: number;
  /** false when an identical attachment already existed (nothing was changed). */
  created: boolean;
}

export interface ReconcileError {
  object: string;
  errno: string;
  message: string;
}

export interface ReconcileResult {
  vni: number;
  fdbReplaced: number;
  fdbDeleted: number;
  masterDeleted: number;
  neighReplaced: number;
  neighDeleted: number;
  /** Total writes that succeeded. 0 means the kernel already matched. */
  changes: number;
  errors: ReconcileError[];
}

/** The result of a reconcile that wrote nothing (yet). */
export const noChanges = (vni: number): ReconcileResult => ({
  vni,
  fdbReplaced: 0,
  fdbDeleted: 0,
  masterDeleted: 0,
  neighReplaced: 0,
  neighDeleted: 0,
  changes: 0,
  errors: [],
});

export interface OverlayTables {
  vni: number;
  netns: string;
  vxlanIndex: number;
  fdb: FdbEntry[];
  neighbours: NeighEntry[];
}

export interface PolicyFilterSpec {
  /** This host's endpoint addresses in the network (only traffic to them is guarded). */
  local: string[];
  /** The network's own subnets: traffic from them is allowed. */
  own: string[];
  /** Subnets of each connected network: dropped unless a rule allows (drops counted per network). */
  connected: Array<{ network: string; subnets: string[] }>;
  /** Sources a rule allows: a prefix, and its ports (none: any port and protocol). */
  allow: Array<{ source: string; ports?: PolicyPorts[] }>;
  /** Outside sources that no rule allows are dropped (the network has rules from address prefixes). */
  restrictOutside: boolean;
  /** The network's endpoints do not reach each other: its own subnets are dropped, not allowed (replies pass). */
  isolated?: boolean;
}

export interface NetworkPolicyState {
  /** VNIs of connected networks whose overlays (open on this host) this one links to. */
  links: number[];
  /** The filter guarding this host's endpoints of the network (undefined: none, no table). */
  filter?: PolicyFilterSpec;
}

/** What the last apply wrote into an overlay: the rendered filter and the kernel's listing after it. */
export interface WrittenFilter {
  rendered: string | undefined;
  listing: string | undefined;
}
