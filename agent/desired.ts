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

/** An endpoint entry's kernel entry for the VTEP it was made for, and its addresses. */
export type RemoteMemo = WeakMap<TableEntry<EndpointValue>, { remote: RemoteEndpoint; addresses: string[] }>;

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
  for (const r of input.endpoints) {
    if (r.owner === input.self) continue;
    if (!input.programmed(r.owner)) continue;
    const v = r.value;
    if (v.vtep === input.selfVtep) continue;
    let vtep: string | undefined = v.vtep;
    if (input.encrypted?.(v.network)) vtep = input.tunnelOf?.(r.owner);
    if (vtep === undefined) continue;
    let list = byNet.get(v.network);
    if (!list) byNet.set(v.network, (list = []));
    list.push({ entry: r, vtep });
  }
  const byNetwork = new Map<string, RemoteEndpoint[]>();
  const conflicts: EndpointConflict[] = [];
  for (const [network, list] of byNet) {
    // Two endpoints claiming one MAC or IP (a race): the earlier write keeps it, the other is left out.
    list.sort(
      (a, b) =>
        a.entry.lamport - b.entry.lamport ||
        (a.entry.owner < b.entry.owner ? -1 : a.entry.owner > b.entry.owner ? 1 : 0),
    );
    const local = input.local.filter((e) => e.network === network);
    const macs = new Set(local.map((e) => e.mac));
    const ips = new Set(local.flatMap((e) => endpointAddresses(e)));
    const keep: RemoteEndpoint[] = [];
    for (const { entry, vtep } of list) {
      const { remote, addresses } = remoteOf(entry, vtep, input.remotes);
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

/** The kernel entry of `entry` behind `vtep`: remembered while the entry and its VTEP stay. */
function remoteOf(entry: TableEntry<EndpointValue>, vtep: string, memo?: RemoteMemo) {
  const hit = memo?.get(entry);
  if (hit?.remote.vtep === vtep) return hit;
  const v = entry.value;
  const remote: RemoteEndpoint = { mac: v.mac, vtep };
  if (v.ip !== undefined) remote.ip = v.ip;
  if (v.ip6 !== undefined) remote.ip6 = v.ip6;
  const made = { remote, addresses: endpointAddresses(v) };
  memo?.set(entry, made);
  return made;
}
