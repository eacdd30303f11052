/**
 * Routes inside a container's namespace to the networks connected to its network, via the network's
 * gateway on the container's interface (routing between networks). A container whose default route
 * goes through that gateway (attached by vxmesh or CNI) needs none and gets none; a Docker
 * container's default route goes to docker_gwbridge, so it needs these. A reconciler: only routes through the network's
 * gateways on that interface with a prefix (never a default route) are ours; those not wanted go.
 */
import fs from 'node:fs';
import { canonicalIPv6 } from '../core/ipv6.js';
import { openNetns } from './netns.js';
import { Rtnl } from './netlink/rtnl.js';
import { RtnlSocket } from './netlink/socket.js';

export interface ContainerRoute {
  /** Destination network address and prefix length. */
  dst: string;
  len: number;
  /** The network's gateway (IPv4 or IPv6, as `dst`). */
  via: string;
}

const same = (a: string | undefined, b: string): boolean =>
  a !== undefined && (b.includes(':') ? canonicalIPv6(a) === canonicalIPv6(b) : a === b);

/**
 * Makes the container's routes through `gateways` on its interface exactly `want`; returns the
 * changes (undefined: the interface is not there, yet or any more). The interface: `ifname` in
 * `netns`; or, with `mac` (an endpoint the runtime moved and renamed: Docker's, `netns` its
 * SandboxKey), the one with that MAC.
 */
export async function ensureContainerRoutes(
  netns: string,
  ifname: string,
  gateways: string[],
  want: ContainerRoute[],
  mac?: string,
): Promise<number | undefined> {
  const moved = mac !== undefined;
  let fd: number;
  try {
    fd = openNetns(netns);
  } catch {
    return undefined; // the namespace is gone (or not there yet)
  }
  const rtnl = new Rtnl(RtnlSocket.open(fd));
  let changes = 0;
  try {
    const link = moved ? (await rtnl.links()).find((l) => l.mac === mac) : await rtnl.linkByName(ifname);
    if (!link) return undefined;
    for (const family of [4, 6] as const) {
      const viaGateway = (await rtnl.routes(family)).filter(
        (r) => r.table === 254 && r.oif === link.index && gateways.some((g) => same(r.gateway, g)),
      );
      const routes = viaGateway.filter((r) => r.dstLen > 0);
      const byDefault = viaGateway.some((r) => r.dstLen === 0);
      const wanted = byDefault ? [] : want.filter((w) => (family === 6) === w.dst.includes(':'));
      for (const r of routes)
        if (!wanted.some((w) => w.len === r.dstLen && same(r.dst, w.dst))) {
          await rtnl.deleteRoute(r.dst, r.dstLen, link.index);
          changes++;
        }
      for (const w of wanted) {
        const held = routes.find((r) => r.dstLen === w.len && same(r.dst, w.dst));
        if (held && same(held.gateway, w.via)) continue;
        await rtnl.replaceRoute(w.dst, w.len, w.via, link.index);
        changes++;
      }
    }
    return changes;
  } finally {
    rtnl.sock.close();
    fs.closeSync(fd);
  }
}
