/**
 * The pure half of reconcile: given what the kernel holds on a VXLAN device and the desired remote
 * endpoints, compute the fewest writes that make the kernel equal to the desired state.
 */
import { NUD_NOARP, NUD_PERMANENT } from './netlink/constants.js';
import type { FdbEntry, NeighEntry } from './netlink/rtnl.js';

export interface RemoteEndpoint {
  mac: string;
  /** Its IPv4 address; absent for an endpoint of an IPv6-only network (which has `ip6`). */
  ip?: string;
  /** Its IPv6 address (canonical text, RFC 5952), if it has one: a static `ip -6 neigh` entry beside the IPv4 one. */
  ip6?: string;
  /** The VTEP (underlay IP) of the host that owns the endpoint. */
  vtep: string;
}

export interface ReconcilePlan {
  /** MAC → VTEP to write with replace semantics. */
  fdbReplace: Array<{ mac: string; dst: string }>;
  /** Self entries to delete (with `dst` when only one of several remotes goes). */
  fdbDelete: Array<{ mac: string; dst?: string }>;
  /** Bridge (master) entries on the VXLAN port to delete: learned ones, or of MACs that left. */
  masterDelete: string[];
  neighReplace: Array<{ ip: string; mac: string }>;
  neighDelete: string[];
}

export function planReconcile(
  kernelFdb: FdbEntry[],
  kernelNeigh: NeighEntry[],
  desired: RemoteEndpoint[],
): ReconcilePlan {
  const plan: ReconcilePlan = { fdbReplace: [], fdbDelete: [], masterDelete: [], neighReplace: [], neighDelete: [] };
  const wantMacs = new Set<string>();
  const wantIps = new Set<string>();
  for (const e of desired) {
    wantMacs.add(e.mac);
    if (e.ip !== undefined) wantIps.add(e.ip);
    if (e.ip6 !== undefined) wantIps.add(e.ip6);
  }

  // Self entries by MAC; a MAC with several remotes (appended by hand) is rare and kept aside.
  const self = new Map<string, FdbEntry>();
  const extraRemotes = new Map<string, FdbEntry[]>();
  for (const e of kernelFdb) {
    if (e.self) {
      if (!self.has(e.mac)) self.set(e.mac, e);
      else extraRemotes.set(e.mac, [...(extraRemotes.get(e.mac) ?? []), e]);
    } else if (e.master) {
      // The bridge's own permanent entry for the port's MAC is kernel-managed. A learned (dynamic)
      // entry should never exist (port learning is off) and goes; a static one goes with its MAC.
      if (e.state & NUD_PERMANENT) continue;
      if (!(e.state & NUD_NOARP) || !wantMacs.has(e.mac)) plan.masterDelete.push(e.mac);
    }
  }

  const neigh = new Map<string, NeighEntry>();
  for (const n of kernelNeigh) neigh.set(n.ip, n);

  for (const e of desired) {
    const have = self.get(e.mac);
    const extra = extraRemotes.get(e.mac);
    if (extra) {
      // Several remotes would make the kernel send copies to each: keep only the wanted one.
      for (const x of [have as FdbEntry, ...extra])
        if (x.dst !== undefined && x.dst !== e.vtep) plan.fdbDelete.push({ mac: e.mac, dst: x.dst });
      plan.fdbReplace.push({ mac: e.mac, dst: e.vtep });
    } else if (!have || have.dst !== e.vtep || (have.state & NUD_PERMANENT) === 0) {
      plan.fdbReplace.push({ mac: e.mac, dst: e.vtep });
    }
    for (const ip of [e.ip, e.ip6]) {
      if (ip === undefined) continue;
      const n = neigh.get(ip);
      if (!n || n.mac !== e.mac || (n.state & NUD_PERMANENT) === 0) plan.neighReplace.push({ ip, mac: e.mac });
    }
  }
  for (const mac of self.keys()) if (!wantMacs.has(mac)) plan.fdbDelete.push({ mac });
  for (const ip of neigh.keys()) if (!wantIps.has(ip)) plan.neighDelete.push(ip);
  return plan;
}

export const planSize = (p: ReconcilePlan): number =>
  p.fdbReplace.length + p.fdbDelete.length + p.masterDelete.length + p.neighReplace.length + p.neighDelete.length;
