/**
 * Read-only view of the overlay tables in the kernel, for `vxmesh fdb`. Works without an agent:
 * it opens each namespace, finds its VXLAN devices and dumps their fdb and neighbour tables.
 */
import { DEFAULT_NETNS_PREFIX } from '../core/defaults.js';
import fs from 'node:fs';
import { NotFoundError } from '../core/errors.js';
import { listNetns, netnsExists, openNetns } from './netns.js';
import { RtnlSocket } from './netlink/socket.js';
import { Rtnl, nudName, type FdbEntry, type NeighEntry } from './netlink/rtnl.js';

export interface VxlanTables {
  netns: string;
  device: string;
  vni: number;
  local?: string;
  port?: number;
  learning: boolean;
  proxy: boolean;
  mtu: number;
  fdb: Array<FdbEntry & { flags: string[]; stateName: string }>;
  neighbours: Array<NeighEntry & { stateName: string }>;
}

function fdbFlags(e: FdbEntry): string[] {
  const f: string[] = [];
  if (e.self) f.push('self');
  if (e.master) f.push('master');
  return f;
}

/** Tables of every VXLAN device in one namespace. */
export async function readNamespaceTables(netns: string): Promise<VxlanTables[]> {
  const fd = openNetns(netns);
  const r = new Rtnl(RtnlSocket.open(fd));
  try {
    const links = await r.links();
    const out: VxlanTables[] = [];
    for (const l of links.filter((x) => x.kind === 'vxlan')) {
      const fdb = await r.fdb(l.index);
      const neigh = await r.neighbours(l.index);
      out.push({
        netns,
        device: l.name,
        vni: l.vxlan?.vni ?? 0,
        local: l.vxlan?.local,
        port: l.vxlan?.port,
        learning: l.vxlan?.learning ?? false,
        proxy: l.vxlan?.proxy ?? false,
        mtu: l.mtu,
        fdb: fdb.map((e) => ({ ...e, flags: fdbFlags(e), stateName: nudName(e.state) })),
        neighbours: neigh.map((n) => ({ ...n, stateName: nudName(n.state) })),
      });
    }
    return out;
  } finally {
    r.sock.close();
    fs.closeSync(fd);
  }
}

export interface ReadTablesOptions {
  /** One namespace by name or path. */
  netns?: string;
  /** Namespaces whose name starts with this prefix (default `vx-`). */
  prefix?: string;
  /** Every named namespace that holds a VXLAN device. */
  all?: boolean;
}

export async function readOverlayTables(opts: ReadTablesOptions = {}): Promise<VxlanTables[]> {
  if (opts.netns !== undefined) {
    if (!netnsExists(opts.netns)) throw new NotFoundError('netns', `network namespace ${opts.netns} does not exist`);
    return readNamespaceTables(opts.netns);
  }
  const prefix = opts.prefix ?? DEFAULT_NETNS_PREFIX;
  const names = listNetns().filter((n) => opts.all || n.startsWith(prefix));
  const out: VxlanTables[] = [];
  for (const n of names) {
    if (!netnsExists(n)) continue;
    out.push(...(await readNamespaceTables(n)));
  }
  return out;
}
