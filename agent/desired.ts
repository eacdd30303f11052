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
}

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
  type Candidate = RemoteEndpoint & { lamport: number; owner: string; id: string };
  const byNet = new Map<string, Candidate[]>();
  for (const r of input.endpoints) {
    if (r.owner === input.self) continue;
    if (!input.programmed(r.owner)) continue;
    const v = r.value;
    if (v.vtep === input.selfVtep) continue;
    let vtep: string | undefined = v.vtep;
    if (input.encrypted?.(v.network)) vtep = input.tunnelOf?.(r.owner);
    if (vtep === undefined) continue;
    const list = byNet.get(v.network) ?? [];
    list.push({ mac: v.mac, ip: v.ip, ip6: v.ip6, vtep, lamport: r.lamport, owner: r.owner, id: v.id });
    byNet.set(v.network, list);
  }
  const byNetwork = new Map<string, RemoteEndpoint[]>();
  const conflicts: EndpointConflict[] = [];
  for (const [network, list] of byNet) {
    // Two endpoints claiming one MAC or IP (a race): the earlier write keeps it, the other is left out.
    list.sort((a, b) => a.lamport - b.lamport || (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
    const local = input.local.filter((e) => e.network === network);
    const macs = new Set(local.map((e) => e.mac));
    const ips = new Set(local.flatMap((e) => endpointAddresses(e)));
    const keep: RemoteEndpoint[] = [];
    for (const e of list) {
      const addresses = endpointAddresses(e);
      if (macs.has(e.mac) || addresses.some((a) => ips.has(a))) {
        conflicts.push({ network, id: e.id, owner: e.owner, mac: e.mac, ip: primaryAddress(e) });
        continue;
      }
      macs.add(e.mac);
      for (const a of addresses) ips.add(a);
      const remote: RemoteEndpoint = { mac: e.mac, vtep: e.vtep };
      if (e.ip !== undefined) remote.ip = e.ip;
      if (e.ip6 !== undefined) remote.ip6 = e.ip6;
      keep.push(remote);
    }
    byNetwork.set(network, keep);
  }
  return { byNetwork, conflicts };
}
