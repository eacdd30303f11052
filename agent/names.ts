/**
 * Endpoint names (issue 13): who holds each name of a network. An endpoint's name (`--name`) is held
 * by one endpoint only: when endpoints of live owners claim one name, the earliest record (smallest
 * (Lamport, owner)) keeps it and the others are in conflict (shown by `vxmesh endpoints`, logged once,
 * counted in /metrics). Aliases may be shared (all holders answered, as Docker's network aliases).
 * Pure, but for the log of new conflicts.
 */
import type { Logger } from '../core/logger.js';
import type { EndpointValue } from '../core/records.js';
import type { TableEntry } from './ports.js';

export interface NameConflict {
  network: string;
  name: string;
  /** The endpoint that does not get the name. */
  id: string;
  host: string;
  /** The endpoint that keeps it. */
  holderId: string;
  holderHost: string;
}

const earlier = (a: TableEntry<EndpointValue>, b: TableEntry<EndpointValue>) =>
  a.lamport < b.lamport || (a.lamport === b.lamport && a.owner < b.owner);

/** The name conflicts among the endpoint records of live owners. */
export function nameConflicts(
  records: Array<TableEntry<EndpointValue>>,
  live: (owner: string) => boolean,
): NameConflict[] {
  const holders = new Map<string, TableEntry<EndpointValue>>();
  const byName = new Map<string, Array<TableEntry<EndpointValue>>>();
  for (const r of records) {
    if (r.value.name === undefined || !live(r.owner)) continue;
    const k = `${r.value.network}/${r.value.name}`;
    byName.set(k, [...(byName.get(k) ?? []), r]);
  }
  const out: NameConflict[] = [];
  for (const [k, list] of byName) {
    const holder = list.reduce((a, b) => (earlier(b, a) ? b : a));
    holders.set(k, holder);
    for (const r of list) {
      if (r === holder) continue;
      out.push({
        network: r.value.network,
        name: r.value.name as string,
        id: r.value.id,
        host: r.value.host,
        holderId: holder.value.id,
        holderHost: holder.value.host,
      });
    }
  }
  return out.sort(
    (a, b) => a.network.localeCompare(b.network) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id),
  );
}

/** Logs each conflict once, when it appears. */
export class NameConflictLog {
  private seen = new Set<string>();
  constructor(private readonly log: Logger) {}

  update(conflicts: NameConflict[]): void {
    const now = new Set(conflicts.map((c) => `${c.network}/${c.name}/${c.id}`));
    for (const c of conflicts) {
      if (!this.seen.has(`${c.network}/${c.name}/${c.id}`))
        this.log.warn(
          { conflict: c },
          `endpoint name ${c.name} of network ${c.network} is held by ${c.holderId} on ${c.holderHost}: endpoint ${c.id} on ${c.host} does not get it`,
        );
    }
    this.seen = now;
  }

  get size(): number {
    return this.seen.size;
  }
}
