/** A container's interface as its namespace has it now (CNI's CHECK compares it with what was attached). */
import fs from 'node:fs';
import { openNetns } from './netns.js';
import { Rtnl } from './netlink/rtnl.js';
import { RtnlSocket } from './netlink/socket.js';

export interface ContainerInterface {
  name: string;
  mac?: string;
  up: boolean;
  /** Its addresses, `ip/prefix`, both families. */
  addresses: string[];
}

/** The interface, or undefined when the namespace has none of that name; a namespace that is gone throws NotFoundError. */
export async function containerInterface(netns: string, ifname: string): Promise<ContainerInterface | undefined> {
  const fd = openNetns(netns);
  const rtnl = new Rtnl(RtnlSocket.open(fd));
  try {
    const link = await rtnl.linkByName(ifname);
    if (!link) return undefined;
    const addrs = [...(await rtnl.addresses(4)), ...(await rtnl.addresses(6))];
    return {
      name: link.name,
      ...(link.mac !== undefined ? { mac: link.mac } : {}),
      up: link.up,
      addresses: addrs.filter((a) => a.index === link.index).map((a) => `${a.ip}/${a.prefix}`),
    };
  } finally {
    rtnl.sock.close();
    fs.closeSync(fd);
  }
}
