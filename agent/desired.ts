/**
 * The desired state, a pure function of the table and of whose endpoints are programmed: per network,
 * the remote endpoints that belong in this host's kernel.
 */
import type { RemoteEndpoint } from '../dataplane/reconcile-plan.js';
import { endpointAddresses, primaryAddress, type EndpointValue } from '../core/records.js';
import type { TableEntry } from './ports.js';

export interface DesiredInput {
  /** This agent's peer id and VTEP: its own records and anything pointing at itself are not remote. */
  self: string;
  selfVtep: string;
  endpoints: Array<TableEntry<EndpointValue>>;
  /** Local endpoints (their MAC and IP win over any remote claim). */
  local: ReadonlyArray<{ network: string; mac: string; ip?: string; ip6?: string }>;
  /** Whether the owner's endpoints belong in the kernel (live, or held: owners.ts). */
  programmed(owner: string): boolean;
  /**
   * Encrypted networks: their frames go to the owner's tunnel address (inside WireGuard), never to its
   * VTEP. An owner that announced no tunnel address is left out of them (never a cleartext fallback).
   */
  encrypted?(network: string): boolean;
  tunnelOf?(owner: string): string | undefined;
  /** Remembered kernel entries per endpoint entry (the same object while its entry and VTEP stay). */
  remotes?: RemoteMemo;
}

/** Kernel entries made from endpoint entries, remembered both ways while the entries live. */
export class RemoteMemo {
  private readonly byEntry = new WeakMap<TableEntry<EndpointValue>, { remote: RemoteEndpoint; addresses: string[] }>();
  private readonly entries = new WeakMap<RemoteEndpoint, TableEntry<EndpointValue>>();

  /** The kernel entry of `entry` behind `vtep`, and its addresses: the same object while the entry and its VTEP stay. */
  of(entry: TableEntry<EndpointValue>, vtep: string): { remote: RemoteEndpoint; addresses: string[] } {
    const hit = this.byEntry.get(entry);
    if (hit?.remote.vtep === vtep) return hit;
    const v = entry.value;
    const remote: RemoteEndpoint = { mac: v.mac, vtep };
    if (v.ip !== undefined) remote.ip = v.ip;
    if (v.ip6 !== undefined) remote.ip6 = v.ip6;
    const made = { remote, addresses: endpointAddresses(v) };
    this.byEntry.set(entry, made);
    this.entries.set(remote, entry);
    return made;
  }

  /** The entry a kernel entry was made from. */
  entryOf(remote: RemoteEndpoint): TableEntry<EndpointValue> | undefined {
    return this.entries.get(remote);
  }
}

/** Where `r`'s frames go from this host (its VTEP, or its owner's tunnel address), or undefined: not a remote of this host. */
export function remoteVtep(
  input: Omit<DesiredInput, 'endpoints' | 'local'>,
  r: TableEntry<EndpointValue>,
): string | undefined {
  if (r.owner === input.self || !input.programmed(r.owner)) return undefined;
  const v = r.value;
  if (v.vtep === input.selfVtep) return undefined;
  return input.encrypted?.(v.network) ? input.tunnelOf?.(r.owner) : v.vtep;
}

/** Desired order: earlier writes first (they win a MAC or an address), ties by owner. */
export const desiredOrder = (a: TableEntry<EndpointValue>, b: TableEntry<EndpointValue>): number =>
  a.lamport - b.lamport || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0);

export interface EndpointConflict {
  network: string;
  id: string;
  owner: string;
  mac: string;
  ip: string;
}

export interface DesiredState {
  byNetwork: Map<string, RemoteEndpoint[]>;
  /** Endpoints left out because another endpoint (earlier write, or a local one) has their MAC or IP. */
  conflicts: EndpointConflict[];
}

export function desiredRemotes(input: DesiredInput): DesiredState {
  type Candidate = { entry: TableEntry<EndpointValue>; vtep: string };
  const byNet = new Map<string, Candidate[]>();
  const memo = input.remotes ?? new RemoteMemo();
  for (const r of input.endpoints) {
    const vtep = remoteVtep(input, r);
    if (vtep === undefined) continue;
    let list = byNet.get(r.value.network);
    if (!list) byNet.set(r.value.network, (list = []));
    list.push({ entry: r, vtep });
  }
  const byNetwork = new Map<string, RemoteEndpoint[]>();
  const conflicts: EndpointConflict[] = [];
  for (const [network, list] of byNet) {
    // Two endpoints claiming one MAC or IP (a race): the earlier write keeps it, the other is left out.
    list.sort((a, b) => desiredOrder(a.entry, b.entry));
    const local = input.local.filter((e) => e.network === network);
    const macs = new Set(local.map((e) => e.mac));
    const ips = new Set(local.flatMap((e) => endpointAddresses(e)));
    const keep: RemoteEndpoint[] = [];
    for (const { entry, vtep } of list) {
      const { remote, addresses } = memo.of(entry, vtep);
      if (macs.has(remote.mac) || addresses.some((a) => ips.has(a))) {
        const v = entry.value;
        conflicts.push({ network, id: v.id, owner: entry.owner, mac: v.mac, ip: primaryAddress(v) });
        continue;
      }
      macs.add(remote.mac);
      for (const a of addresses) ips.add(a);
      keep.push(remote);
    }
    byNetwork.set(network, keep);
  }
  return { byNetwork, conflicts };
}
