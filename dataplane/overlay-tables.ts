/**
 * Writing an overlay's fdb and neighbour tables (the caller holds the overlay's lock and has checked
 * the desired entries): the full reconcile (the kernel read and compared, reconcile-plan.ts) and the
 * reconcile by difference (nothing read, reconcile-delta.ts).
 */
import { NotFoundError } from '../core/errors.js';
import { vxlanName } from './names.js';
import type { Link } from './netlink/rtnl.js';
import type { Overlay } from './overlay.js';
import { applyPlan } from './reconcile-apply.js';
import { planDelta, type RemotesDelta } from './reconcile-delta.js';
import { planReconcile, planSize, type ReconcilePlan, type RemoteEndpoint } from './reconcile-plan.js';
import { sameFamilyAsDevice } from './remotes.js';
import { noChanges, type OverlayTables, type ReconcileResult } from './types.js';

async function vxlanOf(o: Overlay): Promise<Link> {
  const vx = await o.rtnl.linkByName(vxlanName(o.vni));
  if (!vx) throw new NotFoundError('vni', `${o.netns} has no ${vxlanName(o.vni)}; call ensureNetwork again`);
  return vx;
}

async function apply(
  o: Overlay,
  vx: Link,
  refused: ReconcileResult['errors'],
  plan: ReconcilePlan,
): Promise<ReconcileResult> {
  const result = noChanges(o.vni);
  result.errors.push(...refused);
  if (planSize(plan) === 0) return result;
  return applyPlan(o.rtnl, vx, o.netns, plan, result);
}

/** Makes the device's tables equal to `desired` with the fewest writes (nothing removed unless `allowDelete`). */
export async function reconcileFull(
  o: Overlay,
  desired: RemoteEndpoint[],
  allowDelete: boolean,
): Promise<ReconcileResult> {
  const vx = await vxlanOf(o);
  const { usable, refused } = sameFamilyAsDevice(desired, vx.vxlan?.local, vx.name, o.netns);
  const [fdb, neigh] = await Promise.all([o.rtnl.fdb(vx.index), o.rtnl.neighbours(vx.index)]);
  const plan = planReconcile(fdb, neigh, usable);
  if (!allowDelete) {
    // Add-only mode (e.g. before the agent has heard from the cluster): never withdraw anything.
    plan.fdbDelete = [];
    plan.neighDelete = [];
    plan.masterDelete = [];
  }
  return apply(o, vx, refused, plan);
}

/** Writes a difference: `upsert` (checked) replaced, what `delta` removes deleted if `allowDelete`. */
export async function reconcileDifference(
  o: Overlay,
  delta: RemotesDelta,
  upsert: RemoteEndpoint[],
  allowDelete: boolean,
): Promise<ReconcileResult> {
  const vx = await vxlanOf(o);
  const { usable, refused } = sameFamilyAsDevice(upsert, vx.vxlan?.local, vx.name, o.netns);
  return apply(o, vx, refused, planDelta(delta, usable, allowDelete));
}

/** An overlay's fdb and neighbour entries on its VXLAN device, as the kernel has them. */
export async function dumpOverlay(o: Overlay): Promise<OverlayTables> {
  const vx = await o.rtnl.linkByName(vxlanName(o.vni));
  if (!vx) throw new NotFoundError('vni', `${o.netns} has no ${vxlanName(o.vni)}`);
  const [fdb, neighbours] = await Promise.all([o.rtnl.fdb(vx.index), o.rtnl.neighbours(vx.index)]);
  return { vni: o.vni, netns: o.netns, vxlanIndex: vx.index, fdb, neighbours };
}
