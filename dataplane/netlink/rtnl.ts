/**
 * Typed rtnetlink operations on one namespace's socket: links (bridge, vxlan, veth), IPv4 addresses,
 * routes, and neighbour tables (AF_BRIDGE fdb and AF_INET ARP). Every write names its object in errors.
 */
import { ipv4ToBytes, macToBytes } from '../../core/addresses.js';
import {
  type Attr,
  encodeAttrs,
  encodeIfInfo,
  encodeIfAddr,
  decodeIfAddr,
  encodeNdMsg,
  encodeRtMsg,
  decodeRtMsg,
  parseAttrs,
  ipv6ToBytes,
  getU32,
  u8,
  u16be,
  u32,
  str,
  IFADDR_LEN,
  RTMSG_LEN,
  RTNH_F_ONLINK,
} from './codec.js';
import * as C from './constants.js';
import type { RtnlSocket } from './socket.js';
import { fdbDeleteBody, fdbReplaceBody, neighDeleteBody, neighReplaceBody, parseNeighPayload } from './neigh-fast.js';

export { ipv6ToBytes } from './codec.js';
export type {
  Address,
  FdbEntry,
  Link,
  LinkChange,
  NeighEntry,
  NeighOp,
  Route,
  VethSpec,
  VxlanInfo,
  VxlanSpec,
} from './rtnl-types.js';
export { nudName } from './rtnl-types.js';
import {
  ipFromBytes,
  parseLink,
  type Address,
  type FdbEntry,
  type Link,
  type LinkChange,
  type NeighEntry,
  type NeighOp,
  type Route,
  type VethSpec,
  type VxlanSpec,
} from './rtnl-types.js';

export class Rtnl {
  constructor(readonly sock: RtnlSocket) {}

  async links(): Promise<Link[]> {
    const msgs = await this.sock.dump(C.RTM_GETLINK, [encodeIfInfo({ family: C.AF_UNSPEC })], {
      what: 'links',
      op: 'dump',
    });
    return msgs.filter((m) => m.header.type === C.RTM_NEWLINK).map((m) => parseLink(m.payload));
  }

  /** One link by name, or undefined if there is none. */
  async linkByName(name: string): Promise<Link | undefined> {
    try {
      const msgs = await this.sock.request(
        C.RTM_GETLINK,
        0,
        [encodeIfInfo({}), encodeAttrs([{ type: C.IFLA_IFNAME, value: str(name) }])],
        { what: `link ${name}`, op: 'get' },
      );
      const m = msgs.find((x) => x.header.type === C.RTM_NEWLINK);
      return m ? parseLink(m.payload) : undefined;
    } catch (err) {
      if ((err as { errno?: string }).errno === 'ENODEV') return undefined;
      throw err;
    }
  }

  createBridge(name: string, mtu: number): Promise<unknown> {
    const attrs: Attr[] = [
      { type: C.IFLA_IFNAME, value: str(name) },
      { type: C.IFLA_MTU, value: u32(mtu) },
      { type: C.IFLA_LINKINFO, value: [{ type: C.IFLA_INFO_KIND, value: str('bridge') }] },
    ];
    return this.sock.request(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, [encodeIfInfo({}), encodeAttrs(attrs)], {
      what: `bridge ${name}`,
      op: 'create',
    });
  }

  createVxlan(spec: VxlanSpec): Promise<unknown> {
    const data: Attr[] = [
      { type: C.IFLA_VXLAN_ID, value: u32(spec.vni) },
      spec.local.includes(':')
        ? { type: C.IFLA_VXLAN_LOCAL6, value: ipv6ToBytes(spec.local) }
        : { type: C.IFLA_VXLAN_LOCAL, value: ipv4ToBytes(spec.local) },
      { type: C.IFLA_VXLAN_PORT, value: u16be(spec.port) },
      { type: C.IFLA_VXLAN_LEARNING, value: u8(0) },
      { type: C.IFLA_VXLAN_PROXY, value: u8(1) },
    ];
    if (spec.underlayIndex !== undefined) data.push({ type: C.IFLA_VXLAN_LINK, value: u32(spec.underlayIndex) });
    const attrs: Attr[] = [
      { type: C.IFLA_IFNAME, value: str(spec.name) },
      { type: C.IFLA_MTU, value: u32(spec.mtu) },
      {
        type: C.IFLA_LINKINFO,
        value: [
          { type: C.IFLA_INFO_KIND, value: str('vxlan') },
          { type: C.IFLA_INFO_DATA, value: data },
        ],
      },
    ];
    if (spec.netnsFd !== undefined) attrs.push({ type: C.IFLA_NET_NS_FD, value: u32(spec.netnsFd) });
    return this.sock.request(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, [encodeIfInfo({}), encodeAttrs(attrs)], {
      what: `vxlan ${spec.name} (vni ${spec.vni})`,
      op: 'create',
    });
  }

  createVeth(spec: VethSpec): Promise<unknown> {
    const peerAttrs: Attr[] = [
      { type: C.IFLA_IFNAME, value: str(spec.peerName) },
      { type: C.IFLA_MTU, value: u32(spec.mtu) },
    ];
    if (spec.peerMac) peerAttrs.push({ type: C.IFLA_ADDRESS, value: macToBytes(spec.peerMac) });
    if (spec.peerNetnsFd !== undefined) peerAttrs.push({ type: C.IFLA_NET_NS_FD, value: u32(spec.peerNetnsFd) });
    const peer = Buffer.concat([encodeIfInfo({}), encodeAttrs(peerAttrs)]);
    const attrs: Attr[] = [
      { type: C.IFLA_IFNAME, value: str(spec.name) },
      { type: C.IFLA_MTU, value: u32(spec.mtu) },
      {
        type: C.IFLA_LINKINFO,
        value: [
          { type: C.IFLA_INFO_KIND, value: str('veth') },
          { type: C.IFLA_INFO_DATA, value: [{ type: C.VETH_INFO_PEER, value: peer }] },
        ],
      },
    ];
    return this.sock.request(C.RTM_NEWLINK, C.NLM_F_CREATE | C.NLM_F_EXCL, [encodeIfInfo({}), encodeAttrs(attrs)], {
      what: `veth ${spec.name} peer ${spec.peerName}`,
      op: 'create',
    });
  }

  setLink(index: number, change: LinkChange, what = `link #${index}`): Promise<unknown> {
    const attrs: Attr[] = [];
    if (change.name !== undefined) attrs.push({ type: C.IFLA_IFNAME, value: str(change.name) });
    if (change.mtu !== undefined) attrs.push({ type: C.IFLA_MTU, value: u32(change.mtu) });
    if (change.master !== undefined) attrs.push({ type: C.IFLA_MASTER, value: u32(change.master) });
    if (change.mac !== undefined) attrs.push({ type: C.IFLA_ADDRESS, value: macToBytes(change.mac) });
    if (change.netnsFd !== undefined) attrs.push({ type: C.IFLA_NET_NS_FD, value: u32(change.netnsFd) });
    const info = encodeIfInfo({
      index,
      flags: change.up ? C.IFF_UP : 0,
      change: change.up === undefined ? 0 : C.IFF_UP,
    });
    return this.sock.request(C.RTM_NEWLINK, 0, [info, encodeAttrs(attrs)], { what, op: 'set' });
  }

  /** Turns bridge-port MAC learning on or off for a port (IFLA_INFO_SLAVE_DATA). */
  setBridgePortLearning(index: number, learning: boolean, what = `link #${index}`): Promise<unknown> {
    const attrs: Attr[] = [
      {
        type: C.IFLA_LINKINFO,
        value: [
          { type: C.IFLA_INFO_SLAVE_KIND, value: str('bridge') },
          { type: C.IFLA_INFO_SLAVE_DATA, value: [{ type: C.IFLA_BRPORT_LEARNING, value: u8(learning ? 1 : 0) }] },
        ],
      },
    ];
    return this.sock.request(C.RTM_NEWLINK, 0, [encodeIfInfo({ index }), encodeAttrs(attrs)], {
      what,
      op: 'set bridge-port learning on',
    });
  }

  deleteLink(index: number, what = `link #${index}`): Promise<unknown> {
    return this.sock.request(C.RTM_DELLINK, 0, [encodeIfInfo({ index })], { what, op: 'delete' });
  }

  /** The IPv4 (or, with 6, IPv6) addresses of every link. */
  async addresses(family: 4 | 6 = 4): Promise<Address[]> {
    const msgs = await this.sock.dump(
      C.RTM_GETADDR,
      [encodeIfAddr({ family: family === 6 ? C.AF_INET6 : C.AF_INET, prefixlen: 0, flags: 0, scope: 0, index: 0 })],
      { what: 'addresses', op: 'dump' },
    );
    return msgs
      .filter((m) => m.header.type === C.RTM_NEWADDR)
      .map((m) => {
        const a = decodeIfAddr(m.payload);
        const attrs = parseAttrs(m.payload, IFADDR_LEN);
        return {
          index: a.index,
          prefix: a.prefixlen,
          ip: ipFromBytes(attrs.get(C.IFA_LOCAL) ?? attrs.get(C.IFA_ADDRESS)) ?? '',
        };
      });
  }

  /**
   * Adds (or replaces) an address of either family. IPv6 ones without duplicate address detection
   * (`nodad`): addresses are unique by IPAM, and a tentative address can be neither bound nor used
   * as a source for a second or more.
   */
  addAddress(index: number, ip: string, prefix: number, what = `address ${ip}/${prefix}`): Promise<unknown> {
    const v6 = ip.includes(':');
    const bytes = v6 ? ipv6ToBytes(ip) : ipv4ToBytes(ip);
    const attrs: Attr[] = v6
      ? [{ type: C.IFA_ADDRESS, value: bytes }]
      : [
          { type: C.IFA_LOCAL, value: bytes },
          { type: C.IFA_ADDRESS, value: bytes },
        ];
    const family = v6 ? C.AF_INET6 : C.AF_INET;
    const flags = v6 ? C.IFA_F_NODAD : 0;
    return this.sock.request(
      C.RTM_NEWADDR,
      C.NLM_F_CREATE | C.NLM_F_REPLACE,
      [encodeIfAddr({ family, prefixlen: prefix, flags, scope: 0, index }), encodeAttrs(attrs)],
      { what, op: 'add' },
    );
  }

  /** The IPv4 (or, with 6, IPv6) routes of every table. */
  async routes(family: 4 | 6 = 4): Promise<Route[]> {
    const msgs = await this.sock.dump(
      C.RTM_GETROUTE,
      [
        encodeRtMsg({
          family: family === 6 ? C.AF_INET6 : C.AF_INET,
          dstLen: 0,
          table: 0,
          protocol: 0,
          scope: 0,
          type: 0,
        }),
      ],
      { what: 'routes', op: 'dump' },
    );
    return msgs
      .filter((m) => m.header.type === C.RTM_NEWROUTE)
      .map((m) => {
        const r = decodeRtMsg(m.payload);
        const attrs = parseAttrs(m.payload, RTMSG_LEN);
        return {
          dst: ipFromBytes(attrs.get(C.RTA_DST)) ?? (family === 6 ? '::' : '0.0.0.0'),
          dstLen: r.dstLen,
          gateway: ipFromBytes(attrs.get(C.RTA_GATEWAY)),
          oif: getU32(attrs.get(C.RTA_OIF)),
          table: getU32(attrs.get(C.RTA_TABLE)) ?? r.table,
        };
      });
  }

  /** A default route of the gateway's family. */
  addDefaultRoute(gateway: string, oif: number): Promise<unknown> {
    return this.replaceRoute(gateway.includes(':') ? '::' : '0.0.0.0', 0, gateway, oif);
  }

  /**
   * A route to dst/dstLen through `gateway` on `oif` (main table), replacing one to the same
   * destination. `onlink`: the gateway is on the link though no address of it says so.
   */
  replaceRoute(dst: string, dstLen: number, gateway: string, oif: number, onlink = false): Promise<unknown> {
    const v6 = gateway.includes(':');
    const attrs: Attr[] = [
      ...(dstLen > 0 ? [{ type: C.RTA_DST, value: v6 ? ipv6ToBytes(dst) : ipv4ToBytes(dst) }] : []),
      { type: C.RTA_GATEWAY, value: v6 ? ipv6ToBytes(gateway) : ipv4ToBytes(gateway) },
      { type: C.RTA_OIF, value: u32(oif) },
    ];
    const rt = encodeRtMsg({
      family: v6 ? C.AF_INET6 : C.AF_INET,
      dstLen,
      table: C.RT_TABLE_MAIN,
      protocol: C.RTPROT_BOOT,
      scope: C.RT_SCOPE_UNIVERSE,
      type: C.RTN_UNICAST,
      ...(onlink ? { flags: RTNH_F_ONLINK } : {}),
    });
    return this.sock.request(C.RTM_NEWROUTE, C.NLM_F_CREATE | C.NLM_F_REPLACE, [rt, encodeAttrs(attrs)], {
      what: dstLen === 0 ? `default route via ${gateway}` : `route ${dst}/${dstLen} via ${gateway}`,
      op: 'add',
    });
  }

  /** Removes the route to dst/dstLen on `oif` (main table). */
  deleteRoute(dst: string, dstLen: number, oif: number): Promise<unknown> {
    const v6 = dst.includes(':');
    const rt = encodeRtMsg({
      family: v6 ? C.AF_INET6 : C.AF_INET,
      dstLen,
      table: C.RT_TABLE_MAIN,
      protocol: 0,
      scope: C.RT_SCOPE_NOWHERE,
      type: 0,
    });
    const attrs: Attr[] = [
      { type: C.RTA_DST, value: v6 ? ipv6ToBytes(dst) : ipv4ToBytes(dst) },
      { type: C.RTA_OIF, value: u32(oif) },
    ];
    return this.sock.request(C.RTM_DELROUTE, 0, [rt, encodeAttrs(attrs)], {
      what: `route ${dst}/${dstLen}`,
      op: 'delete',
    });
  }

  /** fdb entries (self and master) of one device, filtered in the kernel by ifindex. */
  async fdb(ifindex: number): Promise<FdbEntry[]> {
    const msgs = await this.sock.dump(C.RTM_GETNEIGH, [encodeIfInfo({ family: C.AF_BRIDGE, index: ifindex })], {
      what: `fdb of link #${ifindex}`,
      op: 'dump',
    });
    const out: FdbEntry[] = [];
    for (const m of msgs) {
      if (m.header.type !== C.RTM_NEWNEIGH) continue;
      const n = parseNeighPayload(m.payload);
      if (n.family !== C.AF_BRIDGE || n.ifindex !== ifindex || n.mac === undefined) continue;
      out.push({
        mac: n.mac,
        dst: n.dst ?? (n.dst6 ? ipFromBytes(n.dst6) : undefined),
        self: (n.flags & C.NTF_SELF) !== 0,
        master: (n.flags & C.NTF_MASTER) !== 0,
        state: n.state,
        ifindex: n.ifindex,
      });
    }
    return out;
  }

  /**
   * IPv4 and IPv6 neighbour entries of one device, filtered in the kernel by NDA_IFINDEX; IPv6 ones in
   * canonical text. The kernel's own multicast entries (ff00::/8, made and expired by itself) are left out.
   */
  async neighbours(ifindex: number): Promise<NeighEntry[]> {
    const out: NeighEntry[] = [];
    for (const family of [C.AF_INET, C.AF_INET6]) {
      const msgs = await this.sock.dump(
        C.RTM_GETNEIGH,
        [
          encodeNdMsg({ family, ifindex: 0, state: 0, flags: 0, type: 0 }),
          encodeAttrs([{ type: C.NDA_IFINDEX, value: u32(ifindex) }]),
        ],
        { what: `${family === C.AF_INET ? 'IPv4' : 'IPv6'} neighbours of link #${ifindex}`, op: 'dump' },
      );
      for (const m of msgs) {
        if (m.header.type !== C.RTM_NEWNEIGH) continue;
        const n = parseNeighPayload(m.payload);
        if (n.family !== family || n.ifindex !== ifindex) continue;
        const ip = n.dst ?? (n.dst6 ? ipFromBytes(n.dst6) : undefined);
        if (ip === undefined || ip.startsWith('ff')) continue;
        out.push({ ip, mac: n.mac, state: n.state, ifindex: n.ifindex });
      }
    }
    return out;
  }

  /**
   * fdb and neighbour writes on one device, in bulk (many per sendmsg). Returns, per operation, the
   * errno name it failed with, or undefined when it was applied. Replace never needs a delete first.
   */
  applyNeighbours(ifindex: number, ops: NeighOp[]): Promise<Array<string | undefined>> {
    const flagsReplace = C.NLM_F_CREATE | C.NLM_F_REPLACE;
    return this.sock.bulk(
      ops.map((op) => {
        switch (op.op) {
          case 'fdb-replace':
            return { type: C.RTM_NEWNEIGH, flags: flagsReplace, body: fdbReplaceBody(ifindex, op.mac, op.dst) };
          case 'fdb-delete':
            return { type: C.RTM_DELNEIGH, flags: 0, body: fdbDeleteBody(ifindex, op.mac, op.master === true, op.dst) };
          case 'neigh-replace':
            return { type: C.RTM_NEWNEIGH, flags: flagsReplace, body: neighReplaceBody(ifindex, op.ip, op.mac) };
          case 'neigh-delete':
            return { type: C.RTM_DELNEIGH, flags: 0, body: neighDeleteBody(ifindex, op.ip) };
        }
      }),
    );
  }
}
