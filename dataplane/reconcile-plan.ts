/**
 * The pure half of reconcile: given what the kernel holds on a VXLAN device and the desired remote
 * endpoints, compute the fewest writes that make the kernel equal to the desired state.
 */
import { NUD_NOARP, NUD_PERMANENT } from './netlink/constants.js';
import type { FdbEntry, NeighEntry } from './netlink/rtnl.js';

export interface RemoteEndpoint {
  mac: string;
  ip: string;
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

export function planReconcile(kernelFdb: FdbEntry[], kernelNeigh: NeighEntry[], desired: RemoteEndpoint[]): ReconcilePlan {
  const wantFdb = new Map(desired.map((e) => [e.mac, e.vtep]));
  const wantNeigh = new Map(desired.map((e) => [e.ip, e.mac]));
  const plan: ReconcilePlan = { fdbReplace: [], fdbDelete: [], masterDelete: [], neighReplace: [], neighDelete: [] };

  const selfByMac = new Map<string, FdbEntry[]>();
  for (const e of kernelFdb) {
    if (e.self) {
      const list = selfByMac.get(e.mac) ?? [];
      list.push(e);
      selfByMac.set(e.mac, list);
    } else if (e.master) {
      // The bridge's own permanent entry for the port's MAC is kernel-managed. A learned (dynamic)
      // entry should never exist (port learning is off) and goes; a static one goes with its MAC.
      if (e.state & NUD_PERMANENT) continue;
      if (!(e.state & NUD_NOARP) || !wantFdb.has(e.mac)) plan.masterDelete.push(e.mac);
    }
  }

  for (const [mac, vtep] of wantFdb) {
    const have = selfByMac.get(mac) ?? [];
    const exact = have.length === 1 && have[0]?.dst === vtep && ((have[0]?.state ?? 0) & NUD_PERMANENT) !== 0;
    if (exact) continue;
    // Extra remotes of a MAC (appended by hand) would make the kernel send copies: drop them.
    for (const e of have) if (have.length > 1 && e.dst !== vtep && e.dst !== undefined) plan.fdbDelete.push({ mac, dst: e.dst });
    plan.fdbReplace.push({ mac, dst: vtep });
  }
  for (const [mac] of selfByMac) {
    if (!wantFdb.has(mac)) plan.fdbDelete.push({ mac });
  }

  const haveNeigh = new Map(kernelNeigh.map((n) => [n.ip, n]));
  for (const [ip, mac] of wantNeigh) {
    const have = haveNeigh.get(ip);
    if (have && have.mac === mac && (have.state & NUD_PERMANENT) !== 0) continue;
    plan.neighReplace.push({ ip, mac });
  }
  for (const [ip] of haveNeigh) if (!wantNeigh.has(ip)) plan.neighDelete.push(ip);
  return plan;
}

export const planSize = (p: ReconcilePlan): number =>
  p.fdbReplace.length + p.fdbDelete.length + p.masterDelete.length + p.neighReplace.length + p.neighDelete.length;
