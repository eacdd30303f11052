/**
 * What rtnetlink answers are parsed into (links, addresses, routes, fdb and neighbour entries) and
 * what writes are described with; rtnl.ts sends and receives them.
 */
import { canonicalIPv6 } from '../../core/ipv6.js';
import { bytesToMac } from '../../core/addresses.js';
import { decodeIfInfo, getString, getU32, getU8, IFINFO_LEN, parseAttrs } from './codec.js';
import * as C from './constants.js';

export interface VxlanInfo {
  vni: number;
  local?: string;
  port?: number;
  learning?: boolean;
  proxy?: boolean;
  underlayIndex?: number;
}

export interface Link {
  index: number;
  name: string;
  mtu: number;
  up: boolean;
  mac?: string;
  master?: number;
  kind?: string;
  vxlan?: VxlanInfo;
}

export interface Address {
  index: number;
  ip: string;
  prefix: number;
}

export interface FdbEntry {
  mac: string;
  /** Remote VTEP for vxlan self entries. */
  dst?: string;
  self: boolean;
  master: boolean;
  state: number;
  ifindex: number;
}

export interface NeighEntry {
  ip: string;
  mac?: string;
  state: number;
  ifindex: number;
}

export interface Route {
  dst: string;
  dstLen: number;
  gateway?: string;
  oif?: number;
  table: number;
}

export const ipFromBytes = (b: Buffer | undefined): string | undefined => {
  if (!b) return undefined;
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (b.length === 16) {
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(b.readUInt16BE(i).toString(16));
    return canonicalIPv6(parts.join(':'));
  }
  return undefined;
};

export function parseLink(payload: Buffer): Link {
  const info = decodeIfInfo(payload);
  const attrs = parseAttrs(payload, IFINFO_LEN);
  const link: Link = {
    index: info.index,
    name: getString(attrs.get(C.IFLA_IFNAME)) ?? '',
    mtu: getU32(attrs.get(C.IFLA_MTU)) ?? 0,
    up: (info.flags & C.IFF_UP) !== 0,
  };
  const mac = attrs.get(C.IFLA_ADDRESS);
  if (mac && mac.length === 6) link.mac = bytesToMac(mac);
  const master = getU32(attrs.get(C.IFLA_MASTER));
  if (master) link.master = master;
  const linkinfo = attrs.get(C.IFLA_LINKINFO);
  if (linkinfo) {
    const li = parseAttrs(linkinfo);
    link.kind = getString(li.get(C.IFLA_INFO_KIND));
    const data = li.get(C.IFLA_INFO_DATA);
    if (link.kind === 'vxlan' && data) {
      const v = parseAttrs(data);
      const port = v.get(C.IFLA_VXLAN_PORT);
      link.vxlan = {
        vni: getU32(v.get(C.IFLA_VXLAN_ID)) ?? 0,
        local: ipFromBytes(v.get(C.IFLA_VXLAN_LOCAL) ?? v.get(C.IFLA_VXLAN_LOCAL6)),
        port: port && port.length >= 2 ? port.readUInt16BE(0) : undefined,
        learning: getU8(v.get(C.IFLA_VXLAN_LEARNING)) === 1,
        proxy: getU8(v.get(C.IFLA_VXLAN_PROXY)) === 1,
        underlayIndex: getU32(v.get(C.IFLA_VXLAN_LINK)),
      };
    }
  }
  return link;
}

export interface LinkChange {
  up?: boolean;
  master?: number;
  mtu?: number;
  mac?: string;
  name?: string;
  /** Moves the link into the namespace with this file descriptor. */
  netnsFd?: number;
}

export interface VethSpec {
  name: string;
  mtu: number;
  peerName: string;
  peerMac?: string;
  /** Namespace for the peer end (default: the socket's own). */
  peerNetnsFd?: number;
}

export interface VxlanSpec {
  name: string;
  vni: number;
  local: string;
  port: number;
  underlayIndex?: number;
  mtu: number;
  /** Namespace to move the new device into (its UDP socket stays in the creating namespace). */
  netnsFd?: number;
}

/** Operations on one namespace. */
/** One fdb or neighbour write of Rtnl.applyNeighbours (rtnl.ts). */
export type NeighOp =
  /** `bridge fdb replace MAC dev IF dst VTEP self permanent` */
  | { op: 'fdb-replace'; mac: string; dst: string }
  /** an fdb delete: `self` (the vxlan table; with `dst` only that remote) or `master` (the bridge's) */
  | { op: 'fdb-delete'; mac: string; dst?: string; master?: boolean }
  /** `ip neigh replace IP lladdr MAC dev IF nud permanent` */
  | { op: 'neigh-replace'; ip: string; mac: string }
  | { op: 'neigh-delete'; ip: string };

export function nudName(state: number): string {
  const names = C.NUD_NAMES.filter(([bit]) => state & bit).map(([, n]) => n);
  return names.length ? names.join(',') : 'none';
}
