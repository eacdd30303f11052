/** Facts about the host namespace that configuration defaults depend on. */
import { NotFoundError } from '../core/errors.js';
import { RtnlSocket } from './netlink/socket.js';
import { Rtnl } from './netlink/rtnl.js';

/**
 * The default VTEP: the IPv4 address of the interface that holds the default route, or else the only
 * non-loopback IPv4 address of the host.
 */
export async function detectVtep(): Promise<string> {
  const r = new Rtnl(RtnlSocket.open());
  try {
    const [routes, addrs, links] = await Promise.all([r.routes(), r.addresses(), r.links()]);
    const lo = new Set(links.filter((l) => l.name === 'lo').map((l) => l.index));
    const def = routes.find((x) => x.dstLen === 0 && x.table === 254 && x.oif !== undefined);
    const onDefault = def ? addrs.find((a) => a.index === def.oif) : undefined;
    if (onDefault) return onDefault.ip;
    const candidates = addrs.filter((a) => !lo.has(a.index) && !a.ip.startsWith('127.'));
    if (candidates.length === 1) return (candidates[0] as { ip: string }).ip;
    throw new NotFoundError(
      'vtep',
      candidates.length === 0
        ? 'no IPv4 address on this host; give --vtep'
        : `several addresses (${candidates.map((a) => a.ip).join(', ')}) and no default route; give --vtep`,
    );
  } finally {
    r.sock.close();
  }
}
