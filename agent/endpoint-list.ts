/** What `vxmesh endpoints` shows: every endpoint of the table with its status, name and aliases. */
import { parseIPv4 } from '../core/addresses.js';
import type { EndpointValue } from '../core/records.js';
import type { NameConflict } from './names.js';
import type { OwnerStatus } from './owners.js';
import type { TableEntry } from './ports.js';

export interface EndpointRow extends Omit<EndpointValue, 'name' | 'aliases'> {
  status: string;
  name?: string;
  aliases?: string[];
  /** The name is held by another endpoint (names.ts): which one. */
  nameHeldBy?: string;
}

/** How `vxmesh endpoints` shows a remote endpoint, by its owner's status. */
function endpointStatus(s: OwnerStatus | undefined): string {
  return s === 'live' ? 'remote' : (s ?? 'suspended');
}

/** Rows of endpoint records (`self`: this host's peer id, its records are local). */
export function endpointRows(
  entries: Array<TableEntry<EndpointValue>>,
  self: string,
  owners: Map<string, OwnerStatus>,
  refusedReason: (e: TableEntry<EndpointValue>) => string | undefined,
  conflicts: NameConflict[],
): EndpointRow[] {
  const lost = new Map(conflicts.map((c) => [`${c.network}/${c.id}`, `${c.holderId} on ${c.holderHost}`]));
  return (
    entries
      .map((r) => {
        const e = r.value;
        const reason = refusedReason(r);
        const local = r.owner === self;
        const row: EndpointRow = {
          network: e.network,
          id: e.id,
          mac: e.mac,
          ...(e.ip !== undefined ? { ip: e.ip } : {}),
          ...(e.ip6 !== undefined ? { ip6: e.ip6 } : {}),
          vtep: e.vtep,
          host: e.host,
          status: local ? 'local' : reason !== undefined ? `refused: ${reason}` : endpointStatus(owners.get(r.owner)),
        };
        if (e.name !== undefined) row.name = e.name;
        if (e.aliases?.length) row.aliases = e.aliases;
        const heldBy = lost.get(`${e.network}/${e.id}`);
        if (heldBy !== undefined) row.nameHeldBy = heldBy;
        return row;
      })
      .map((row) => ({ row, ip: ipOrder(row.ip) }))
      // IPv6-only endpoints (order 0) first, then by IPv4 address.
      .sort((a, b) => (a.row.network < b.row.network ? -1 : a.row.network > b.row.network ? 1 : a.ip - b.ip))
      .map((x) => x.row)
  );
}

/** An IPv4 address as a number, for ordering (thousands of rows: no locale-aware comparison). */
function ipOrder(ip: string | undefined): number {
  if (ip === undefined) return 0;
  try {
    return parseIPv4(ip);
  } catch {
    return 0; // records are checked when they enter the table; never expected
  }
}
